"""fct_aqi_daily: one row per station and local day (key: station_id, date; partitioned by date).

The daily values the US EPA TAD reports, each only when the day's data are complete
enough (75 %):

- PM2.5, PM10, SO2 24-hour: the mean of the day's hours, with at least 18 valid hours;
- O3 and CO 8-hour: the highest 8-hour average of the periods starting in the day (O3:
  periods starting 07:00-23:00, at least 13 of those 17 valid; CO: all 24, at least 18),
  each period valid with at least 6 of its 8 hours; late periods run into the next day;
- O3, SO2, NO2 1-hour: the day's highest hour, with at least 18 valid hours.

The daily AQI, category and dominant pollutant come from the AQI calculator's Spark path
on those values. A stuck sensor's hours are not valid hours.
"""

from __future__ import annotations

from pyspark.sql import Column, DataFrame
from pyspark.sql import functions as F
from pyspark.sql import types as T

from c360.air_quality.fct_air_quality_hourly import INDEX_FIELDS
from c360.air_quality.hours import (
    AVERAGE_TYPE,
    FIRST_PERIOD_HOUR_8H,
    MIN_HOURS_8H,
    MIN_HOURS_24H,
    MIN_PERIODS_8H,
    RUN_DATE,
    VALUE_TYPE,
    fact_partition,
    forward_average,
    published_day,
    valid,
)
from c360.aqi import calculate
from c360.aqi.api import SparkEngine
from c360.aqi.standards import Standard
from c360.contracts.air_quality import CANONICAL_UNITS, POLLUTANTS
from c360.enhanced.common import date_key
from c360.quality import TableSuite
from c360.registry import AIR_QUALITY, Retention, Table, column

NAME = "enhanced.air_quality.fct_aqi_daily"
DAILY_MEAN = ("pm25", "pm10", "so2")
DAILY_MAX_1H = ("o3", "so2", "no2")
DAILY_MAX_8H = ("o3", "co")


SCHEMA = T.StructType(
    [
        column("station_id", T.StringType(), "station (dim_station)", False),
        *[column(f"{p}_hours", T.IntegerType(), f"valid {p} hours in the day", False) for p in POLLUTANTS],
        *[
            column(f"{p}_24h", AVERAGE_TYPE, f"mean {p} of the day, {CANONICAL_UNITS[p]} (>= 18 hours)")
            for p in DAILY_MEAN
        ],
        *[column(f"{p}_8h", AVERAGE_TYPE, f"highest 8-hour mean {p}, {CANONICAL_UNITS[p]}") for p in DAILY_MAX_8H],
        *[column(f"{p}_8h_periods", T.IntegerType(), f"valid 8-hour {p} periods", False) for p in DAILY_MAX_8H],
        *[
            column(f"{p}_1h", VALUE_TYPE, f"highest hourly {p}, {CANONICAL_UNITS[p]} (>= 18 hours)")
            for p in DAILY_MAX_1H
        ],
        *[column(f"{f}_index", T.LongType(), f"AQI sub-index of {f}") for f in INDEX_FIELDS],
        column("aqi", T.LongType(), "daily AQI: the highest sub-index; NULL when no value is complete"),
        column("category", T.StringType(), "AQI category of the day"),
        column("dominant_pollutant", T.ArrayType(T.StringType(), False), "pollutant(s) whose sub-index is the AQI"),
        column("date_key", T.IntegerType(), "the local date in the conformed enhanced.shared.dim_date", False),
        column("date", T.DateType(), "the station's local date (partition)", False),
    ]
)


def build(
    hours: DataFrame, standard: str | Standard = "us-epa-2024", aqi_engine: SparkEngine | None = None
) -> DataFrame:
    """Station-hours of one or more run dates (see hours.station_hours) -> one daily row per
    station with hours on the local day each run date publishes (run_date - 1). ``aqi_engine``:
    how the AQI is computed (c360.aqi.calculate's ``engine``; the same results every way)."""
    periods = hours.select("*", *[forward_average(p, 8, MIN_HOURS_8H).alias(f"__p8_{p}") for p in DAILY_MAX_8H]).filter(
        published_day()
    )

    def counted_period(p: str) -> Column:
        return F.when(F.col("local_hour") >= FIRST_PERIOD_HOUR_8H[p], F.col(f"__p8_{p}"))

    aggs = [F.count(valid(p)).cast("int").alias(f"{p}_hours") for p in POLLUTANTS]
    aggs += [F.avg(valid(p)).cast(AVERAGE_TYPE).alias(f"__mean_{p}") for p in DAILY_MEAN]
    aggs += [F.max(valid(p)).alias(f"__max_{p}") for p in DAILY_MAX_1H]
    aggs += [F.max(counted_period(p)).alias(f"__max8_{p}") for p in DAILY_MAX_8H]
    aggs += [F.count(counted_period(p)).cast("int").alias(f"{p}_8h_periods") for p in DAILY_MAX_8H]
    daily = periods.groupBy(RUN_DATE, "station_id", "local_date").agg(*aggs)

    complete = {p: F.col(f"{p}_hours") >= MIN_HOURS_24H for p in POLLUTANTS}
    wide = daily.select(
        "*",
        *[F.when(complete[p], F.col(f"__mean_{p}")).alias(f"{p}_24h") for p in DAILY_MEAN],
        *[
            F.when(F.col(f"{p}_8h_periods") >= MIN_PERIODS_8H[p], F.col(f"__max8_{p}")).alias(f"{p}_8h")
            for p in DAILY_MAX_8H
        ],
        *[F.when(complete[p], F.col(f"__max_{p}")).alias(f"{p}_1h") for p in DAILY_MAX_1H],
    )
    scored = calculate(wide, standard, engine=aqi_engine)
    return scored.select(
        F.col("station_id"),
        *[F.col(f"{p}_hours") for p in POLLUTANTS],
        *[F.col(f"{p}_24h") for p in DAILY_MEAN],
        *[F.col(f"{p}_8h") for p in DAILY_MAX_8H],
        *[F.col(f"{p}_8h_periods") for p in DAILY_MAX_8H],
        *[F.col(f"{p}_1h") for p in DAILY_MAX_1H],
        *[F.col("sub_indices")[f].alias(f"{f}_index") for f in INDEX_FIELDS],
        F.col("aqi"),
        F.col("category"),
        F.col("dominant_pollutant"),
        date_key(F.col("local_date")).alias("date_key"),
        F.col("local_date").alias("date"),
    )


SUITE = (
    TableSuite(NAME, key=("station_id", "date"))
    .foreign_key("station_id", "enhanced.air_quality.dim_station")
    .foreign_key("date_key", "enhanced.shared.dim_date")
    .in_range("aqi", 0, None)
    .invariant("category_iff_aqi", "(aqi IS NULL) = (category IS NULL)")
    # A local day has 23 to 25 hours (daylight-saving changes).
    .invariant("hours_in_a_day", " AND ".join(f"{p}_hours BETWEEN 0 AND 25" for p in POLLUTANTS))
)


TABLE = Table(
    name=NAME,
    schema=SCHEMA,
    description="Daily AQI per station and local day, from 24-hour, 8-hour and 1-hour values with TAD completeness.",
    grain="one row per station and local day",
    keys=("station_id", "date"),
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
