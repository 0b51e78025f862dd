"""Hourly and daily facts on inline station-hours: completeness rules, stuck values, AQI, local days."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from decimal import Decimal

from chispa import assert_df_equality
from pyspark.sql import DataFrame, SparkSession
from pyspark.sql import functions as F

from c360.air_quality import fct_air_quality_hourly, fct_aqi_daily
from c360.air_quality.hours import latest_versions, station_hours
from c360.contracts.air_quality import POLLUTANTS, READINGS, stuck_column

DAY = date(2024, 1, 2)
RUN = DAY + timedelta(days=1)  # the run date that publishes local day DAY
MIDNIGHT = datetime(2024, 1, 2, tzinfo=UTC)
STATIONS = {"S1": "UTC", "S2": "UTC", "S3": "Asia/Tokyo"}


Hours = dict[tuple[str, int], dict[str, float]]
Stuck = frozenset[tuple[str, int, str]]


def readings(spark: SparkSession, hours: Hours, stuck: Stuck) -> DataFrame:
    """Sanitized readings: (station, hour from MIDNIGHT UTC) -> {pollutant: value}; ``stuck`` flags."""
    names = [f.name for f in READINGS.sanitized_schema().fields]
    rows = []
    for (station, hour), values in sorted(hours.items()):
        row: dict[str, object] = dict.fromkeys(names)
        row.update(station_id=station, timestamp=MIDNIGHT + timedelta(hours=hour), out_of_order=False)
        row.update(values)
        for p in POLLUTANTS:
            row[stuck_column(p)] = (station, hour, p) in stuck
        row.update(_record_hash="h", _extract_date=DAY, _ingest_id="i", _ingest_time=MIDNIGHT)
        row.update(_source_file="f", _line_number=hour)
        rows.append(tuple(row[n] for n in names))
    return spark.createDataFrame(rows, READINGS.sanitized_schema())


def hours_of(spark: SparkSession, data: Hours, stuck: Stuck = frozenset()) -> DataFrame:
    """The station-hours run date RUN sees (its snapshot of STATIONS), as the step builds them."""
    stations = spark.createDataFrame(
        [(RUN, s, tz) for s, tz in STATIONS.items()], "run_date date, station_id string, time_zone string"
    )
    return station_hours(latest_versions(readings(spark, data, stuck), RUN), stations)


def test_hourly_sub_indices_use_complete_trailing_averages_and_skip_stuck_values(spark: SparkSession) -> None:
    data: Hours = {("S1", -1): {"pm25": 12.0}}  # the day before counts
    for h in range(24):
        data["S1", h] = {"pm25": 12.0, "pm10": 50.0, "o3": 0.130 if h == 20 else 0.040}
        if h < 5:
            data["S1", h]["co"] = 1.0  # 5 hours: never a complete 8-hour average
    stuck = frozenset(("S1", h, "pm10") for h in range(24))
    out = fct_air_quality_hourly.build(hours_of(spark, data, stuck)).filter(F.col("local_hour").isin(4, 5, 16, 20))
    out = out.select(
        "local_hour", "pm10", "pm10_stuck", "pm10_24h", "pm25_24h", "o3_8h", "co_8h",
        "pm25_24h_index", "o3_8h_index", "o3_1h_index", "aqi", "category", "dominant_pollutant", "date",
    )  # fmt: skip
    d = Decimal
    expected = spark.createDataFrame(
        [
            (4, d("50"), True, None, None, None, None, None, None, None, None, None, [], DAY),
            (5, d("50"), True, None, None, d("0.04"), None, None, 37, None, 37, "Good", ["o3"], DAY),
            (16, d("50"), True, None, d("12"), d("0.04"), None, 56, 37, None, 56, "Moderate", ["pm25"], DAY),
            (
                20,
                d("50"),
                True,
                None,
                d("12"),
                d("0.05125"),
                None,
                56,
                47,
                107,
                107,
                "Unhealthy for Sensitive Groups",
                ["o3"],
                DAY,
            ),
        ],  # fmt: skip
        out.schema,
    )
    assert_df_equality(out, expected, ignore_row_order=True, ignore_nullable=True, ignore_metadata=True)


def test_daily_values_need_the_tads_completeness_and_give_aqi_category_dominant(spark: SparkSession) -> None:
    data: Hours = {}
    for h in range(31):  # S1: through 06:00 of the next day, for the last 8-hour periods
        data["S1", h] = {"o3": 0.060, "co": 4.0}
        if h < 18:
            data["S1", h].update(pm25=12.0, no2=60.0)
        if h < 20:
            data["S1", h]["pm10"] = 50.0
    for h in range(19):  # S2: PM2.5 17 hours, O3 12 hours (07:00-18:00)
        data["S2", h] = {"pm25": 5.0} if h < 17 else {}
        if h >= 7:
            data["S2", h]["o3"] = 0.080
    data["S3", -10] = {"pm25": 500.0}  # 23:00 in Tokyo the day before: not this day
    for h in range(-9, 15):  # Tokyo's local day = UTC 15:00 the day before .. 14:00
        data["S3", h] = {"pm25": 40.0}
    stuck = frozenset(("S1", h, "pm10") for h in range(5))  # 20 pm10 hours, 5 stuck: 15 valid
    out = fct_aqi_daily.build(hours_of(spark, data, stuck)).select(
        "station_id", "pm25_hours", "pm25_24h", "pm10_hours", "pm10_24h", "o3_hours", "o3_8h", "o3_8h_periods",
        "o3_1h", "co_8h", "co_8h_periods", "no2_1h", "so2_24h", "pm25_24h_index", "o3_8h_index", "o3_1h_index",
        "co_8h_index", "no2_1h_index", "aqi", "category", "dominant_pollutant", "date",
    )  # fmt: skip
    d = Decimal
    expected = spark.createDataFrame(
        [
            (
                "S1",
                18,
                d("12"),
                15,
                None,
                24,
                d("0.06"),
                17,
                d("0.06"),
                d("4"),
                24,
                d("60"),
                None,
                56,
                67,
                None,
                45,
                57,
                67,
                "Moderate",
                ["o3"],
                DAY,
            ),
            (
                "S2",
                17,
                None,
                0,
                None,
                12,
                None,
                7,
                None,
                None,
                0,
                None,
                None,
                None,
                None,
                None,
                None,
                None,
                None,
                None,
                [],
                DAY,
            ),
            (
                "S3",
                24,
                d("40"),
                0,
                None,
                0,
                None,
                0,
                None,
                None,
                0,
                None,
                None,
                112,
                None,
                None,
                None,
                None,
                112,
                "Unhealthy for Sensitive Groups",
                ["pm25"],
                DAY,
            ),
        ],  # fmt: skip
        out.schema,
    )
    assert_df_equality(out, expected, ignore_row_order=True, ignore_nullable=True, ignore_metadata=True)


def test_hourly_nowcast_columns_follow_the_exact_reference(spark: SparkSession) -> None:
    """NowCast in the hourly fact (Spark, doubles) equals c360.aqi.nowcast (exact fractions),
    with a missing hour, a stuck hour and the 2-of-3 rule; the NowCast AQI uses AirNow's tables."""
    from c360.aqi.nowcast import nowcast_series

    pm25 = [12.0, 30.5, 80.2, None, 55.0, 9.1, None, None, 35.5, 35.5, 35.5, 35.5] * 2
    o3 = [0.04, 0.063, 0.069, 0.08, 0.074, 0.06, None, 0.035, 0.022, 0.05, 0.05, 0.05] * 2
    data: Hours = {}
    for h in range(24):
        values = {k: v for k, v in (("pm25", pm25[h]), ("o3", o3[h]), ("pm10", 40.0 + h)) if v is not None}
        data["S1", h] = values
    stuck = frozenset({("S1", 4, "pm25")})  # a stuck value is a missing hour for the NowCast
    out = fct_air_quality_hourly.build(hours_of(spark, data, stuck))
    rows = {r["local_hour"]: r for r in out.collect()}
    valid_pm25 = [None if h == 4 else v for h, v in enumerate(pm25)]
    expected = {
        "pm25": nowcast_series(list(range(24)), [None if v is None else str(v) for v in valid_pm25], "pm25"),
        "o3": nowcast_series(list(range(24)), [None if v is None else str(v) for v in o3], "o3"),
        "pm10": nowcast_series(list(range(24)), [str(40.0 + h) for h in range(24)], "pm10"),
    }
    for h, row in rows.items():
        for p, series in expected.items():
            want = series[h]
            got = row[f"{p}_nowcast"]
            assert (got is None) == (want is None), (h, p, got, want)
            if want is not None:
                assert abs(got - want) < Decimal("1e-7"), (h, p, got, want)
    # The minimum-data rule, by hand: hour 5 has only itself valid (3 missing, 4 stuck);
    # hour 7 only 5; hour 9 has 8 and 9; hour 3 has 1 and 2.
    assert [rows[h]["pm25_nowcast"] is None for h in (5, 7, 9, 3)] == [True, True, False, False]
    # The NowCast AQI of an hour, by hand: hour 11, PM2.5 NowCast truncated in the 24-hour table,
    # O3 NowCast in the 8-hour table, the hour's 1-hour O3 (below 0.125: none).
    from c360.aqi import calculate

    hand = next(iter(calculate([{"pm25_24h": str(expected["pm25"][11]), "pm10_24h": str(expected["pm10"][11]),
                                 "o3_8h": str(expected["o3"][11]), "o3_1h": "0.05"}])))  # fmt: skip
    assert (rows[11]["aqi_nowcast"], rows[11]["category_nowcast"]) == (hand["aqi"], hand["category"])


def test_each_run_date_of_a_range_sees_only_what_its_extract_window_delivered(spark: SparkSession) -> None:
    """Run dates computed together: a reading re-sent in a later extract replaces the first
    version only for the run dates that read that extract, and a run date's window (D-3..D)
    leaves older extracts out, exactly as each run date computed alone."""
    first = readings(spark, {("S1", 0): {"pm25": 10.0}}, frozenset())  # extract DAY
    resent = readings(spark, {("S1", 0): {"pm25": 20.0}}, frozenset()).withColumn(
        "_extract_date", F.lit(DAY + timedelta(days=1))
    )
    delivered = first.unionByName(resent)
    runs = [DAY + timedelta(days=n) for n in (0, 1, 3, 4, 5)]
    together = latest_versions(delivered, runs).select("run_date", "pm25").collect()
    assert sorted((r["run_date"], r["pm25"]) for r in together) == [
        (DAY, 10.0),  # the re-send is not delivered yet
        (DAY + timedelta(days=1), 20.0),
        (DAY + timedelta(days=3), 20.0),  # window DAY..DAY+3: the newer version wins
        (DAY + timedelta(days=4), 20.0),  # window DAY+1..DAY+4: only the re-send
    ]  # DAY+5: window DAY+2..DAY+5 holds neither
    alone = [(d, r["pm25"]) for d in runs for r in latest_versions(delivered, d).select("pm25").collect()]
    assert sorted(alone) == sorted((r["run_date"], r["pm25"]) for r in together)
