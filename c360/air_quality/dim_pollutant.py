"""dim_pollutant: one row per pollutant of the AQI standard (key: pollutant, snapshot_date).

Taken from the standard's breakpoint tables (units, averaging periods, truncation), so the
dimension says exactly what the facts were computed with. Partitioned by
``snapshot_date`` (the run date): a later change of standard never rewrites what an
earlier run published.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import date

from pyspark.sql import DataFrame, SparkSession
from pyspark.sql import functions as F
from pyspark.sql import types as T

from c360.air_quality.hours import run_dates_of, snapshot_partition
from c360.aqi.standards import Standard, resolve_standard
from c360.contracts.air_quality import CANONICAL_UNITS
from c360.quality import TableSuite
from c360.registry import AIR_QUALITY, Retention, Table, column
from c360.storage.schema import local_frame

NAME = "enhanced.air_quality.dim_pollutant"
DISPLAY_NAMES = {
    "pm25": "PM2.5 (fine particulate matter)",
    "pm10": "PM10 (coarse particulate matter)",
    "o3": "Ozone",
    "co": "Carbon monoxide",
    "so2": "Sulphur dioxide",
    "no2": "Nitrogen dioxide",
}


SCHEMA = T.StructType(
    [
        column("pollutant", T.StringType(), "pollutant code (column name in the facts)", False),
        column("name", T.StringType(), "display name", False),
        column("unit", T.StringType(), "unit of the sanitized and fact values", False),
        column("aqi_fields", T.ArrayType(T.StringType(), False), "AQI input fields (<pollutant>_<averaging>)", False),
        column("averaging_periods", T.ArrayType(T.StringType(), False), "averaging periods of the standard", False),
        column("truncation_decimals", T.ArrayType(T.IntegerType(), False), "decimals kept per AQI field", False),
        column("standard", T.StringType(), "AQI standard id", False),
        column("snapshot_date", T.DateType(), "the run date (partition)", False),
    ]
)


def build(spark: SparkSession, run_dates: date | Iterable[date], standard: str | Standard = "us-epa-2024") -> DataFrame:
    """The standard's pollutants, in the standard's order, in one snapshot per run date."""
    std = resolve_standard(standard)
    rows = []
    for snapshot_date, p in ((d, p) for d in run_dates_of(run_dates) for p in std.pollutants()):
        fields = [f for f in std.fields if f.pollutant == p]
        rows.append(
            (
                p,
                DISPLAY_NAMES.get(p, p),
                CANONICAL_UNITS.get(p, fields[0].unit),
                [f.name for f in fields],
                [f.averaging for f in fields],
                [f.decimals for f in fields],
                std.id,
                snapshot_date,
            )
        )
    df = local_frame(spark, rows, SCHEMA)
    return df.select(
        F.col("pollutant"),
        F.col("name"),
        F.col("unit"),
        F.col("aqi_fields"),
        F.col("averaging_periods"),
        F.col("truncation_decimals"),
        F.col("standard"),
        F.col("snapshot_date"),
    )


SUITE = TableSuite(NAME, key=("pollutant", "snapshot_date")).invariant(
    "one_decimal_rule_per_field", "size(aqi_fields) = size(truncation_decimals)"
)


TABLE = Table(
    name=NAME,
    schema=SCHEMA,
    description="Pollutants of the AQI standard: unit, averaging periods, truncation; one snapshot per run date.",
    grain="one row per pollutant per snapshot (run) date",
    keys=("pollutant", "snapshot_date"),
    partition_by=("snapshot_date",),
    product=AIR_QUALITY,
    owner="environment-data",
    build=build,
    publish="partitions",
    partitions=snapshot_partition,
    suite=SUITE,
    freshness_hours=36,
    retention=Retention(rows_days=3 * 365, row_date="snapshot_date"),
)
