"""Station-hours: the shared input of the hourly and daily facts, and the TAD's averaging rules.

Pure functions. A run for date D publishes the station-local day D-1: that day spans UTC
hours from D-2 10:00 (UTC+14) to D 12:00 (UTC-12), and its last 8-hour periods reach 7
hours into local day D, so every hour it needs was delivered by extract D. Trailing
24-hour averages of its first hours reach back one more day, hence the lookback of
three extracts. Nothing here reads a clock: results depend on the data and D only.

Concentrations are exact decimals (the sanitized doubles hold the delivered digits, and
a double casts to decimal through its shortest text), so averages are exact and the AQI
truncation sees the true value, never 35.449999... for 35.45.
"""

from __future__ import annotations

from datetime import date, timedelta

from pyspark.sql import Column, DataFrame, Window
from pyspark.sql import functions as F
from pyspark.sql import types as T

from c360.contracts.air_quality import POLLUTANTS, stuck_column

LOOKBACK_DAYS = 3
VALUE_TYPE = T.DecimalType(18, 6)
AVERAGE_TYPE = T.DecimalType(20, 8)
# The TAD's data-completeness rules (75 %): an 8-hour average needs 6 of its 8 hours, a
# 24-hour average or a daily 1-hour maximum 18 of the day's hours, a daily maximum of
# 8-hour averages 18 of the 24 periods (CO) or 13 of the 17 periods starting 07:00-23:00 (O3).
MIN_HOURS_8H = 6
MIN_HOURS_24H = 18
MIN_PERIODS_8H = {"co": 18, "o3": 13}
FIRST_PERIOD_HOUR_8H = {"co": 0, "o3": 7}


def fact_date(run_date: date) -> date:
    """The local day a run publishes: the last one every time zone has fully delivered."""
    return run_date - timedelta(days=1)


def snapshot_partition(run_date: date) -> list[date]:
    """The partition a dimension's run writes: its own snapshot (``Table.partitions``)."""
    return [run_date]


def fact_partition(fact_date: date) -> list[date]:
    """The partition a fact's run writes: the local day before its run date (``Table.partitions``)."""
    return [fact_date]


def extract_dates(run_date: date) -> list[date]:
    """Extract partitions a run reads: the run date and the lookback before it."""
    return [run_date - timedelta(days=n) for n in range(LOOKBACK_DAYS, -1, -1)]


def valid(p: str) -> str:
    """Column of pollutant ``p``'s value usable for averages (NULL where the sensor is stuck)."""
    return f"__valid_{p}"


def latest_versions(readings: DataFrame, run_date: date) -> DataFrame:
    """One row per station-hour: the newest sanitized version delivered by ``run_date``."""
    newest = Window.partitionBy("station_id", "timestamp").orderBy(
        F.col("_extract_date").desc(), F.col("_ingest_time").desc(), F.col("_line_number").desc()
    )
    return (
        readings.filter(F.col("_extract_date") <= F.lit(run_date))
        .withColumn("__n", F.row_number().over(newest))
        .filter(F.col("__n") == 1)
        .drop("__n")
    )


def station_hours(readings: DataFrame, stations: DataFrame) -> DataFrame:
    """Readings on a complete hourly grid per station, in the station's local time.

    ``readings``: sanitized readings (one version per station-hour); ``stations``: station_id
    and time_zone. Hours without a reading are rows with NULL values (``has_reading`` false),
    so window averages count hours, not rows. Readings of stations not in ``stations``
    cannot exist here: sanitize quarantines them (orphan_fk:station_id).
    """
    hour_no = (F.unix_timestamp("timestamp") / 3600).cast("long")
    r = readings.select(
        "station_id",
        hour_no.alias("hour_no"),
        *[F.col(p).cast("string").cast(VALUE_TYPE).alias(p) for p in POLLUTANTS],
        *[F.coalesce(F.col(stuck_column(p)), F.lit(False)).alias(stuck_column(p)) for p in POLLUTANTS],
        F.coalesce(F.col("out_of_order"), F.lit(False)).alias("out_of_order"),
    )
    span = r.groupBy("station_id").agg(F.min("hour_no").alias("lo"), F.max("hour_no").alias("hi"))
    grid = span.select("station_id", F.explode(F.sequence("lo", "hi")).alias("hour_no"))
    df = grid.join(r, on=["station_id", "hour_no"], how="left").join(
        stations.select("station_id", "time_zone"), on="station_id", how="inner"
    )
    utc = F.timestamp_seconds(F.col("hour_no") * 3600)
    local = F.from_utc_timestamp(utc, F.col("time_zone"))
    return df.select(
        "station_id",
        "hour_no",
        utc.alias("reading_time_utc"),
        F.to_date(local).alias("local_date"),
        F.hour(local).alias("local_hour"),
        F.col("out_of_order").isNotNull().alias("has_reading"),
        *POLLUTANTS,
        *[stuck_column(p) for p in POLLUTANTS],
        "out_of_order",
        *[F.when(~F.col(stuck_column(p)), F.col(p)).alias(valid(p)) for p in POLLUTANTS],
    )


def _mean_if(values: Column, hours: Column, minimum: int) -> Column:
    return F.when(hours >= minimum, values.cast(AVERAGE_TYPE))


def trailing_average(p: str, hours: int, minimum: int) -> Column:
    """Mean of ``p`` over the ``hours`` hours ending at this one, if ``minimum`` are valid."""
    w = Window.partitionBy("station_id").orderBy("hour_no").rangeBetween(-(hours - 1), 0)
    return _mean_if(F.avg(valid(p)).over(w), F.count(valid(p)).over(w), minimum)


def forward_average(p: str, hours: int, minimum: int) -> Column:
    """Mean of ``p`` over the ``hours`` hours starting at this one (the TAD's 8-hour periods)."""
    w = Window.partitionBy("station_id").orderBy("hour_no").rangeBetween(0, hours - 1)
    return _mean_if(F.avg(valid(p)).over(w), F.count(valid(p)).over(w), minimum)
