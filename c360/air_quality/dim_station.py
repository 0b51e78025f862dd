"""dim_station: one row per station as known on the snapshot date (key: station_id, snapshot_date).

Partitioned by ``snapshot_date`` (the run date), so every past run's view of the station
catalogue stays readable and a re-run rebuilds exactly its own snapshot. Stations are
re-sent whole when they change; the newest version delivered by the run date wins.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import date

from pyspark.sql import DataFrame, Window
from pyspark.sql import functions as F
from pyspark.sql import types as T

from c360.air_quality.hours import run_dates_of, snapshot_partition
from c360.quality import TableSuite
from c360.registry import AIR_QUALITY, Retention, Table, column

NAME = "enhanced.air_quality.dim_station"


SCHEMA = T.StructType(
    [
        column("station_id", T.StringType(), "station id", False),
        column("name", T.StringType(), "station name"),
        column("latitude", T.DoubleType(), "WGS84 latitude"),
        column("longitude", T.DoubleType(), "WGS84 longitude"),
        column("city", T.StringType(), "city"),
        column("country", T.StringType(), "ISO 3166-1 alpha-2 country code"),
        column("time_zone", T.StringType(), "IANA time zone; local days and hours are computed in it", False),
        column("first_delivered", T.DateType(), "extract date of the station's first version", False),
        column("version_delivered", T.DateType(), "extract date of the version shown", False),
        column("snapshot_date", T.DateType(), "the run date this view is as of (partition)", False),
    ]
)


def build(stations: DataFrame, run_dates: date | Iterable[date]) -> DataFrame:
    """Sanitized station versions -> the catalogue as delivered by each run date (one snapshot each)."""
    dates = F.array(*[F.lit(d) for d in run_dates_of(run_dates)])
    known = stations.select("*", F.explode(dates).alias("__snapshot")).filter(
        F.col("_extract_date") <= F.col("__snapshot")
    )
    newest = Window.partitionBy("__snapshot", "station_id").orderBy(
        F.col("_extract_date").desc(), F.col("_ingest_time").desc(), F.col("_line_number").desc()
    )
    everything = Window.partitionBy("__snapshot", "station_id")
    df = known.select(
        "*",
        F.row_number().over(newest).alias("__n"),
        F.min("_extract_date").over(everything).alias("__first"),
    ).filter(F.col("__n") == 1)
    return df.select(
        F.col("station_id"),
        F.col("name"),
        F.col("latitude"),
        F.col("longitude"),
        F.col("city"),
        F.col("country"),
        F.col("time_zone"),
        F.col("__first").alias("first_delivered"),
        F.col("_extract_date").alias("version_delivered"),
        F.col("__snapshot").alias("snapshot_date"),
    )


SUITE = (
    TableSuite(NAME, key=("station_id", "snapshot_date"))
    .in_range("latitude", -90, 90)
    .in_range("longitude", -180, 180)
    .invariant("delivered_in_order", "first_delivered <= version_delivered AND version_delivered <= snapshot_date")
)


TABLE = Table(
    name=NAME,
    schema=SCHEMA,
    description="Air-quality stations with location and time zone, one snapshot per run date.",
    grain="one row per station per snapshot (run) date",
    keys=("station_id", "snapshot_date"),
    partition_by=("snapshot_date",),
    product=AIR_QUALITY,
    owner="environment-data",
    inputs={"stations": "sanitized.air_quality.stations"},
    build=build,
    publish="partitions",
    partitions=snapshot_partition,
    suite=SUITE,
    freshness_hours=36,
    retention=Retention(rows_days=3 * 365, row_date="snapshot_date"),
)
