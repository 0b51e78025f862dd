"""Station-hours: the shared input of the hourly and daily facts, and the TAD's averaging rules.

Pure functions. A run for date D publishes the station-local day D-1: that day spans UTC
hours from D-2 10:00 (UTC+14) to D 12:00 (UTC-12), and its last 8-hour periods reach 7
hours into local day D, so every hour it needs was delivered by extract D. Trailing
24-hour averages of its first hours reach back one more day, hence the lookback of
three extracts. Nothing here reads a clock: results depend on the data and D only.

Several run dates are computed in one pass (a backfill pays each table's fixed cost once,
not once per date): every row carries its ``run_date``, a reading is tagged with each run
date whose extract window holds it, and every grid and window is per (run_date, station),
so each run date sees exactly what a run of that date alone would see.

Concentrations are exact decimals (the sanitized doubles hold the delivered digits, and
a double casts to decimal through its shortest text), so averages are exact and the AQI
truncation sees the true value, never 35.449999... for 35.45.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import date, timedelta

from pyspark.sql import Column, DataFrame, Window
from pyspark.sql import functions as F
from pyspark.sql import types as T

from c360.contracts.air_quality import POLLUTANTS, stuck_column

LOOKBACK_DAYS = 3
RUN_DATE = "run_date"
# One station's hourly series as one run date sees it: the partition of every window.
# A single column (a struct), because c360.aqi.nowcast.with_nowcast partitions by one column.
SERIES = "__series"
VALUE_TYPE = T.DecimalType(18, 6)
AVERAGE_TYPE = T.DecimalType(20, 8)
# The TAD's data-completeness rules (75 %): an 8-hour average needs 6 of its 8 hours, a
# 24-hour average or a daily 1-hour maximum 18 of the day's hours, a daily maximum of
# 8-hour averages 18 of the 24 periods (CO) or 13 of the 17 periods starting 07:00-23:00 (O3).
MIN_HOURS_8H = 6
MIN_HOURS_24H = 18
MIN_PERIODS_8H = {"co": 18, "o3": 13}
FIRST_PERIOD_HOUR_8H = {"co": 0, "o3": 7}


def run_dates_of(run_dates: date | Iterable[date]) -> list[date]:
    """The run dates of a step call, sorted and distinct (one date is a range of one)."""
    dates = sorted({run_dates} if isinstance(run_dates, date) else set(run_dates))
    if not dates:
        raise ValueError("no run date given: the air-quality step needs at least one")
    return dates


def fact_date(run_date: date) -> date:
    """The local day a run publishes: the last one every time zone has fully delivered."""
    return run_date - timedelta(days=1)


def snapshot_partition(run_dates: date | Iterable[date]) -> list[date]:
    """The partitions a dimension's run writes: one snapshot per run date (``Table.partitions``)."""
    return run_dates_of(run_dates)


def fact_partition(run_dates: date | Iterable[date]) -> list[date]:
    """The partitions a fact's run writes: the local day before each run date (``Table.partitions``)."""
    return [fact_date(d) for d in run_dates_of(run_dates)]


def extract_dates(run_dates: date | Iterable[date]) -> list[date]:
    """Extract partitions the runs read: each run date and the lookback before it."""
    return sorted({d - timedelta(days=n) for d in run_dates_of(run_dates) for n in range(LOOKBACK_DAYS + 1)})


def published_day() -> Column:
    """Whether a station-hour is in the local day its run date publishes (run_date - 1)."""
    return F.col("local_date") == F.date_sub(F.col(RUN_DATE), 1)


def valid(p: str) -> str:
    """Column of pollutant ``p``'s value usable for averages (NULL where the sensor is stuck)."""
    return f"__valid_{p}"


def latest_versions(readings: DataFrame, run_dates: date | Iterable[date]) -> DataFrame:
    """One row per run date and station-hour: the newest sanitized version that run date read.

    A run for D reads extracts D-3..D (``extract_dates``), so a reading of extract E is
    tagged (column ``run_date``) with every run date in E..E+3; the newest version is then
    chosen per (run_date, station_id, timestamp), as a run of D alone would choose it.
    """
    dates = run_dates_of(run_dates)
    extract = F.col("_extract_date")
    window = F.sequence(extract, F.date_add(extract, LOOKBACK_DAYS))
    tagged = readings.select("*", F.explode(window).alias(RUN_DATE)).filter(F.col(RUN_DATE).isin(*dates))
    newest = Window.partitionBy(RUN_DATE, "station_id", "timestamp").orderBy(
        F.col("_extract_date").desc(), F.col("_ingest_time").desc(), F.col("_line_number").desc()
    )
    return tagged.withColumn("__n", F.row_number().over(newest)).filter(F.col("__n") == 1).drop("__n")


def station_hours(readings: DataFrame, stations: DataFrame) -> DataFrame:
    """Readings on a complete hourly grid per run date and station, in the station's local time.

    ``readings``: sanitized readings, one version per run date and station-hour
    (``latest_versions``); ``stations``: run_date, station_id and time_zone (the station
    snapshot of each run date). Hours without a reading are rows with NULL values
    (``has_reading`` false), so window averages count hours, not rows. Readings of stations
    not in ``stations`` cannot exist here: sanitize quarantines them (orphan_fk:station_id).
    """
    hour_no = (F.unix_timestamp("timestamp") / 3600).cast("long")
    r = readings.select(
        RUN_DATE,
        "station_id",
        hour_no.alias("hour_no"),
        *[F.col(p).cast("string").cast(VALUE_TYPE).alias(p) for p in POLLUTANTS],
        *[F.coalesce(F.col(stuck_column(p)), F.lit(False)).alias(stuck_column(p)) for p in POLLUTANTS],
        F.coalesce(F.col("out_of_order"), F.lit(False)).alias("out_of_order"),
    )
    span = r.groupBy(RUN_DATE, "station_id").agg(F.min("hour_no").alias("lo"), F.max("hour_no").alias("hi"))
    grid = span.select(RUN_DATE, "station_id", F.explode(F.sequence("lo", "hi")).alias("hour_no"))
    df = grid.join(r, on=[RUN_DATE, "station_id", "hour_no"], how="left").join(
        stations.select(RUN_DATE, "station_id", "time_zone"), on=[RUN_DATE, "station_id"], how="inner"
    )
    utc = F.timestamp_seconds(F.col("hour_no") * 3600)
    local = F.from_utc_timestamp(utc, F.col("time_zone"))
    return df.select(
        RUN_DATE,
        "station_id",
        F.struct(RUN_DATE, "station_id").alias(SERIES),
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
    w = Window.partitionBy(SERIES).orderBy("hour_no").rangeBetween(-(hours - 1), 0)
    return _mean_if(F.avg(valid(p)).over(w), F.count(valid(p)).over(w), minimum)


def forward_average(p: str, hours: int, minimum: int) -> Column:
    """Mean of ``p`` over the ``hours`` hours starting at this one (the TAD's 8-hour periods)."""
    w = Window.partitionBy(SERIES).orderBy("hour_no").rangeBetween(0, hours - 1)
    return _mean_if(F.avg(valid(p)).over(w), F.count(valid(p)).over(w), minimum)
