"""fct_air_quality_hourly: one row per station and hour with a reading (key: station_id, reading_time_utc).

Partitioned by ``date``, the station's local date of the hour. Each row holds the hour's
concentrations in the standard's units, the sanitize flags, and the AQI of that hour as the
calculator computes it from the averages ending at that hour: 1-hour values (O3, SO2, NO2),
8-hour averages (O3, CO; 6 of 8 hours) and 24-hour averages (PM2.5, PM10, SO2; 18 of 24
hours). A stuck sensor's values are shown but excluded from every average and sub-index.

The NowCast columns (``*_nowcast``, ``aqi_nowcast``, ``category_nowcast``) are the hourly
AQI as AirNow reports it: PM2.5, PM10 and O3 NowCast concentrations (c360.aqi.nowcast,
docs/aqi.md "NowCast") looked up in the 24-hour PM and 8-hour O3 tables, with the hour's
1-hour O3. They are marked as NowCast by name and description: ``aqi`` stays the TAD's
index of the averages ending at the hour.
"""

from __future__ import annotations

from pyspark.sql import DataFrame
from pyspark.sql import functions as F
from pyspark.sql import types as T

from c360.air_quality.hours import (
    AVERAGE_TYPE,
    MIN_HOURS_8H,
    MIN_HOURS_24H,
    SERIES,
    VALUE_TYPE,
    fact_partition,
    published_day,
    trailing_average,
    valid,
)
from c360.aqi import calculate
from c360.aqi.api import SparkEngine
from c360.aqi.nowcast import RULES as NOWCAST_RULES
from c360.aqi.nowcast import with_nowcast
from c360.aqi.standards import Standard
from c360.contracts.air_quality import CANONICAL_UNITS, POLLUTANTS, stuck_column
from c360.enhanced.common import date_key
from c360.quality import TableSuite
from c360.registry import AIR_QUALITY, Retention, Table, column

NAME = "enhanced.air_quality.fct_air_quality_hourly"
# AQI input field -> how the hour's value for it is formed.
AVERAGED_FIELDS = {
    "o3_8h": ("o3", 8),
    "co_8h": ("co", 8),
    "pm25_24h": ("pm25", 24),
    "pm10_24h": ("pm10", 24),
    "so2_24h": ("so2", 24),
}
HOURLY_FIELDS = {"o3_1h": "o3", "so2_1h": "so2", "no2_1h": "no2"}
INDEX_FIELDS = ("pm25_24h", "pm10_24h", "o3_8h", "o3_1h", "co_8h", "so2_1h", "so2_24h", "no2_1h")
NOWCAST_POLLUTANTS = ("pm25", "pm10", "o3")


SCHEMA = T.StructType(
    [
        column("station_id", T.StringType(), "station (dim_station)", False),
        column("reading_time_utc", T.TimestampType(), "start of the hour (UTC)", False),
        column("local_hour", T.IntegerType(), "hour of the day in the station's time zone", False),
        *[column(p, VALUE_TYPE, f"hourly mean {p}, {CANONICAL_UNITS[p]}") for p in POLLUTANTS],
        *[column(stuck_column(p), T.BooleanType(), f"{p} sensor stuck (excluded)", False) for p in POLLUTANTS],
        column("out_of_order", T.BooleanType(), "delivered out of time order", False),
        *[
            column(f, AVERAGE_TYPE, f"{p} mean of the {h} hours ending at this hour, if complete")
            for f, (p, h) in AVERAGED_FIELDS.items()
        ],
        *[column(f"{f}_index", T.LongType(), f"AQI sub-index of {f}") for f in INDEX_FIELDS],
        column("aqi", T.LongType(), "highest sub-index; NULL when no pollutant has one"),
        column("category", T.StringType(), "AQI category"),
        column("dominant_pollutant", T.ArrayType(T.StringType(), False), "pollutant(s) whose sub-index is the AQI"),
        *[
            column(
                f"{p}_nowcast",
                AVERAGE_TYPE,
                f"NowCast of {p} ({NOWCAST_RULES[p].hours}-hour weighted average, EPA/AirNow), "
                "NULL unless 2 of the 3 latest hours are valid",
            )
            for p in NOWCAST_POLLUTANTS
        ],
        column("aqi_nowcast", T.LongType(), "NowCast AQI (PM2.5, PM10, O3 NowCast and 1-hour O3), as AirNow reports"),
        column("category_nowcast", T.StringType(), "category of the NowCast AQI"),
        column("date_key", T.IntegerType(), "the local date in the conformed enhanced.shared.dim_date", False),
        column("date", T.DateType(), "local date of the hour (partition)", False),
    ]
)


def build(
    hours: DataFrame, standard: str | Standard = "us-epa-2024", aqi_engine: SparkEngine | None = None
) -> DataFrame:
    """Station-hours of one or more run dates (see hours.station_hours) -> the hourly fact
    rows of the local day each run date publishes (run_date - 1). ``aqi_engine``: how the AQI
    is computed (c360.aqi.calculate's ``engine``; the same results every way)."""
    minimum = {8: MIN_HOURS_8H, 24: MIN_HOURS_24H}
    for p in NOWCAST_POLLUTANTS:  # over the whole grid: a NowCast reaches back 12 hours
        hours = with_nowcast(hours, valid(p), p, f"{p}_nowcast", partition=SERIES)
    df = hours.select(
        "*",
        *[trailing_average(p, h, minimum[h]).alias(f) for f, (p, h) in AVERAGED_FIELDS.items()],
        *[F.col(valid(p)).alias(f) for f, p in HOURLY_FIELDS.items()],
    ).filter(F.col("has_reading") & published_day())
    scored = calculate(df, standard, engine=aqi_engine).select(
        *[F.col(c) for c in df.columns if c not in INDEX_FIELDS],
        *[F.col(f).alias(f"__in_{f}") for f in INDEX_FIELDS],
        *[F.col("sub_indices")[f].alias(f"{f}_index") for f in INDEX_FIELDS],
        F.col("aqi").alias("__aqi"),
        F.col("category").alias("__category"),
        F.col("dominant_pollutant").alias("__dominant"),
    )
    # The NowCast AQI: the same calculator, fed the NowCast concentrations in the tables
    # AirNow looks them up in (24-hour PM, 8-hour O3) and the hour's 1-hour O3.
    nowcast_fields = {NOWCAST_RULES[p].field: F.col(f"{p}_nowcast") for p in NOWCAST_POLLUTANTS}
    nowcast = calculate(
        scored.select("*", *[c.alias(f) for f, c in nowcast_fields.items()], F.col("__in_o3_1h").alias("o3_1h")),
        standard,
        engine=aqi_engine,
    )
    return nowcast.select(
        F.col("station_id"),
        F.col("reading_time_utc"),
        F.col("local_hour"),
        *[F.col(p) for p in POLLUTANTS],
        *[F.col(stuck_column(p)) for p in POLLUTANTS],
        F.col("out_of_order"),
        *[F.col(f"__in_{f}").alias(f) for f in AVERAGED_FIELDS],
        *[F.col(f"{f}_index") for f in INDEX_FIELDS],
        F.col("__aqi").alias("aqi"),
        F.col("__category").alias("category"),
        F.col("__dominant").alias("dominant_pollutant"),
        *[F.col(f"{p}_nowcast").cast("string").cast(AVERAGE_TYPE).alias(f"{p}_nowcast") for p in NOWCAST_POLLUTANTS],
        F.col("aqi").alias("aqi_nowcast"),
        F.col("category").alias("category_nowcast"),
        date_key(F.col("local_date")).alias("date_key"),
        F.col("local_date").alias("date"),
    )


SUITE = (
    TableSuite(NAME, key=("station_id", "reading_time_utc"))
    .foreign_key("station_id", "enhanced.air_quality.dim_station")
    .foreign_key("date_key", "enhanced.shared.dim_date")
    .in_range("local_hour", 0, 23)
    .in_range("aqi", 0, None)
    .invariant("category_iff_aqi", "(aqi IS NULL) = (category IS NULL)")
)


TABLE = Table(
    name=NAME,
    schema=SCHEMA,
    description="Hourly readings per station with their AQI sub-indices (averages ending at the hour).",
    grain="one row per station and UTC hour with a reading",
    keys=("station_id", "reading_time_utc"),
    partition_by=("date",),
    product=AIR_QUALITY,
    owner="environment-data",
    sources=("sanitized.air_quality.readings", "enhanced.air_quality.dim_station"),
    build=build,
    publish="partitions",
    partitions=fact_partition,
    suite=SUITE,
    freshness_hours=36,
    retention=Retention(rows_days=3 * 365, row_date="date"),
)
