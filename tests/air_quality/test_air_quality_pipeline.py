"""End to end over mock_data: ingest -> sanitize step -> air-quality step, checked against the manifest.

Every sensor defect the manifest lists for the ingested days must end where it belongs
(quarantined with its reason, converted, flagged, or superseded), and nothing else may
be quarantined or flagged; re-running a date must leave every table at its version.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import date, datetime
from decimal import Decimal
from pathlib import Path

import pytest
from chispa import assert_df_equality
from pyspark.sql import SparkSession
from pyspark.sql import functions as F

from c360.air_quality.run import AirQualityReport, air_quality_tables
from c360.aqi import calculate
from c360.contracts.air_quality import READINGS
from c360.enhanced import dim_date
from c360.pipeline import RunContext, air_quality_step, sanitize_step
from c360.raw.ingest import discover, ingest
from c360.settings import Settings
from c360.storage import DeltaStorage
from tests.conftest import patch_suite
from tests.enhanced.star_checks import content_hash

pytestmark = pytest.mark.slow

MOCK = Path(__file__).resolve().parents[2] / "mock_data"
# Duplicate hour (01-01), JSON array day (01-02), stuck sensor (01-03), out of order (01-14),
# unit mix-up (01-30), malformed line and negative value (01-31).
EXTRACTS = [date(2024, 1, d) for d in (1, 2, 3, 4, 14, 30, 31)]
RUN_DATES = [date(2024, 1, 3), date(2024, 1, 4)]  # local days 01-02 and 01-03 (the stuck day)
SENSOR_KINDS = {
    "negative_value",
    "unit_mixup",
    "stuck_sensor",
    "out_of_order_timestamp",
    "duplicate_timestamp",
    "malformed_json",
}


@dataclass
class Lake:
    ctx: RunContext
    versions: dict[str, int]
    rerun: list[AirQualityReport]
    versions_after_rerun: dict[str, int]


def _versions(ctx: RunContext) -> dict[str, int]:
    return {t.name: ctx.storage.catalog.open(t.name).version() for t in air_quality_tables()}


@pytest.fixture(scope="module")
def lake(spark: SparkSession, spark_settings: Settings, tmp_path_factory: pytest.TempPathFactory) -> Lake:
    settings = spark_settings.model_copy(update={"lake_root": tmp_path_factory.mktemp("aq") / "lake"})
    ctx = RunContext.create(settings, spark)
    files = [f for d in EXTRACTS for f in discover(MOCK, d) if f.path.parent.name == "air_quality"]
    ingest(spark, ctx.storage, files, settings.pseudonym_key_bytes(), ingest_id="it")
    sanitize_step(ctx, EXTRACTS)  # the step's own contract list must include the sensors
    air_quality_step(ctx, RUN_DATES)  # both run dates in one pass
    versions = _versions(ctx)
    # Each run date again, one at a time: a date built alone must give exactly the rows the
    # one pass over both published (its window overlaps the other date's), so nothing commits.
    rerun = [air_quality_step(ctx, [d]) for d in RUN_DATES]
    return Lake(ctx, versions, rerun, _versions(ctx))


@pytest.fixture(scope="module")
def defects() -> list[dict]:
    manifest = json.loads((MOCK / "manifest.json").read_text())
    wanted = {d.isoformat() for d in EXTRACTS}
    return [d for d in manifest["defects"] if d["kind"] in SENSOR_KINDS and d["extract_date"] in wanted]


def _file_line(defect: dict, station: str, stamp: str, occurrence: int = 0) -> dict:
    """The delivered record of a station-hour (the ``occurrence``-th one in the file)."""
    text = (MOCK / defect["file"]).read_text()
    records = json.loads(text) if text.lstrip().startswith("[") else [json.loads(x) for x in text.splitlines()]
    hits = [r for r in records if r["station_id"] == station and r["timestamp"] == stamp]
    return hits[occurrence]


def test_the_ingested_days_hold_every_sensor_defect_kind(defects: list[dict]) -> None:
    assert {d["kind"] for d in defects} == SENSOR_KINDS


def test_quarantine_holds_exactly_the_negative_values_and_malformed_lines(lake: Lake, defects: list[dict]) -> None:
    spark = lake.ctx.spark
    text = F.coalesce(F.col("record"), F.col("_raw_line"))
    actual = lake.ctx.storage.read(READINGS.quarantine_table).select(
        F.col("_extract_date").alias("extract_date"),
        F.regexp_extract(text, r'"station_id":"([^"]+)"', 1).alias("station"),
        F.regexp_extract(text, r'"timestamp":"([^"]+)"', 1).alias("timestamp"),
        F.array_sort(F.col("_reasons")).alias("reasons"),
    )
    reasons = {
        "negative_value": lambda d: [f"out_of_range:{d['column']}"],
        "malformed_json": lambda d: sorted(
            ["malformed_line", "missing_mandatory:station_id", "missing_mandatory:timestamp", "no_measurements"]
        ),
    }
    rows = [
        (date.fromisoformat(d["extract_date"]), *key.split("|"), reasons[d["kind"]](d))
        for d in defects
        if d["kind"] in reasons
        for key in d["keys"]
    ]
    assert_df_equality(
        actual,
        spark.createDataFrame(rows, actual.schema),
        ignore_row_order=True,
        ignore_nullable=True,
        ignore_metadata=True,
    )


def test_flags_mark_exactly_the_stuck_and_out_of_order_station_days(lake: Lake, defects: list[dict]) -> None:
    spark = lake.ctx.storage.spark
    sanitized = lake.ctx.storage.read(READINGS.sanitized_table)
    stuck = sanitized.filter("pm25_stuck").select("_extract_date", "station_id", F.lit("stuck:pm25").alias("flag"))
    other_stuck = sanitized.filter("pm10_stuck OR o3_stuck OR co_stuck OR so2_stuck OR no2_stuck").select(
        "_extract_date", "station_id", F.lit("stuck:other").alias("flag")
    )
    disordered = sanitized.filter("out_of_order").select("_extract_date", "station_id", F.lit("out_of_order"))
    actual = stuck.unionByName(other_stuck).union(disordered).distinct()
    kinds = {"stuck_sensor": "stuck:pm25", "out_of_order_timestamp": "out_of_order"}
    rows = [
        (date.fromisoformat(d["extract_date"]), key.split("|")[0], kinds[d["kind"]])
        for d in defects
        if d["kind"] in kinds
        for key in d["keys"]
    ]
    assert_df_equality(
        actual,
        spark.createDataFrame(rows, actual.schema),
        ignore_row_order=True,
        ignore_nullable=True,
        ignore_metadata=True,
    )
    all_day = sanitized.filter("pm25_stuck").groupBy("_extract_date", "station_id").count().select("count").distinct()
    assert [r["count"] for r in all_day.collect()] == [24]  # the whole station-day, not a few hours


def test_unit_mixups_are_converted_and_resent_hours_keep_the_later_reading(lake: Lake, defects: list[dict]) -> None:
    expected_rows = []
    for d in defects:
        for key in d["keys"]:
            station, stamp = key.split("|")
            if d["kind"] == "unit_mixup":  # delivered in ppb: the sanitized value is in ppm
                column, record = d["column"], _file_line(d, station, stamp)
                [m] = [m for m in record["measurements"] if m["pollutant"] == column]
                assert m["unit"] == "ppb"
                value = Decimal(str(m["value"])) / 1000
            elif d["kind"] == "duplicate_timestamp":  # the second delivery of the hour wins
                column, record = "pm25", _file_line(d, station, stamp, occurrence=1)
                [m] = [m for m in record["measurements"] if m["pollutant"] == column]
                value = Decimal(str(m["value"]))
            else:
                continue
            expected_rows.append((station, datetime.fromisoformat(stamp), column, float(value)))
    sanitized = lake.ctx.storage.read(READINGS.sanitized_table)
    parts = [
        sanitized.filter((F.col("station_id") == s) & (F.col("timestamp") == F.lit(t))).select(
            "station_id", "timestamp", F.lit(c).alias("column"), F.col(c).alias("value")
        )
        for s, t, c, _ in expected_rows
    ]
    actual = parts[0]
    for part in parts[1:]:
        actual = actual.unionByName(part)
    expected = lake.ctx.spark.createDataFrame(expected_rows, actual.schema)
    assert_df_equality(actual, expected, ignore_row_order=True, ignore_nullable=True, ignore_metadata=True)


def test_enhanced_facts_cover_every_station_hour_and_stuck_hours_do_not_count(lake: Lake) -> None:
    spark = lake.ctx.spark
    storage = lake.ctx.storage
    hourly = storage.read("enhanced.air_quality.fct_air_quality_hourly")
    daily = storage.read("enhanced.air_quality.fct_aqi_daily")
    per_day = hourly.groupBy("station_id", "date").agg(
        F.count(F.lit(1)).cast("int").alias("hours"), F.max(F.col("pm25_stuck").cast("int")).alias("stuck")
    )
    actual = per_day.join(daily.select("station_id", "date", "pm25_hours"), ["station_id", "date"], how="full")
    stuck_day = ("AQ034", date(2024, 1, 3))  # London: the UTC day of extract 01-03 is its local day
    rows = [
        (s, d, 24, int((s, d) == stuck_day), 0 if (s, d) == stuck_day else 24)
        for s in ("AQ001", "AQ017", "AQ034")
        for d in (date(2024, 1, 2), date(2024, 1, 3))
    ]
    expected = spark.createDataFrame(rows, actual.select("station_id", "date", "hours", "stuck", "pm25_hours").schema)
    assert_df_equality(
        actual.select("station_id", "date", "hours", "stuck", "pm25_hours"),
        expected,
        ignore_row_order=True,
        ignore_nullable=True,
        ignore_metadata=True,
    )


def test_daily_aqi_equals_the_json_path_on_the_published_daily_values(lake: Lake) -> None:
    daily = lake.ctx.storage.read("enhanced.air_quality.fct_aqi_daily")
    fields = ["pm25_24h", "pm10_24h", "so2_24h", "o3_8h", "co_8h", "o3_1h", "so2_1h", "no2_1h"]
    rows = daily.select("station_id", "date", *fields, "aqi", "category", "dominant_pollutant").collect()
    records = [{f: (str(r[f]) if r[f] is not None else None) for f in fields} for r in rows]
    json_path = list(calculate(records, workers=1, chunk_size=1000))
    assert [(r["aqi"], r["category"], list(r["dominant_pollutant"])) for r in rows] == [
        (j["aqi"], j["category"], j["dominant_pollutant"]) for j in json_path
    ]
    assert all(r["aqi"] is not None for r in rows)  # complete days all get an AQI


def test_each_date_rerun_alone_equals_the_range_pass_and_changes_no_table_version(lake: Lake) -> None:
    assert lake.versions_after_rerun == lake.versions
    tables = len(air_quality_tables())
    assert [w.committed for r in lake.rerun for w in r.writes] == [False] * tables * len(RUN_DATES)
    # Every table already held exactly the rows of each date built alone (row count and row
    # hash, DeltaStorage.holds): nothing to publish, so no gate ran.
    assert [w.validated for r in lake.rerun for w in r.writes] == [False] * tables * len(RUN_DATES)


def test_every_table_passed_its_quality_gate_before_it_was_published(lake: Lake) -> None:
    results = lake.ctx.storage.read("ops.quality.expectation_results").filter(F.col("run_id") == lake.ctx.run_id)
    by_table = {
        r.table_name: (r.n, r.failed, r.published)
        for r in results.groupBy("table_name")
        .agg(
            F.count("*").alias("n"),
            F.sum(F.when(~F.col("success"), 1).otherwise(0)).alias("failed"),
            F.min(F.col("published").cast("int")).alias("published"),
        )
        .collect()
    }
    tables = air_quality_tables()
    assert set(by_table) == {t.name for t in tables} | {dim_date.NAME}
    suites = {t.name: t.suite for t in tables}
    # The conformed date dimension is published by the first run that finds it missing.
    n, failed, published = by_table.pop(dim_date.NAME)
    assert (n, failed, published) == (len(dim_date.SUITE.expectations), 0, 1)
    for name, (n, failed, published) in by_table.items():
        # Two run dates in one pass: every expectation of the suite once (the re-run had nothing
        # new to gate).
        assert (n, failed, published) == (len(suites[name].expectations), 0, 1), name


def test_a_failing_gate_stops_the_step_and_leaves_every_table_as_it_was(
    lake: Lake, monkeypatch: pytest.MonkeyPatch
) -> None:
    from c360.air_quality import fct_air_quality_hourly
    from c360.air_quality.run import build_air_quality
    from c360.quality import QualityGateError

    names = [t.name for t in air_quality_tables()]
    failing = names.index(fct_air_quality_hourly.NAME)
    before = _versions(lake.ctx)
    contents = {n: content_hash(lake.ctx.storage.catalog.lake_root, n) for n in names}
    # Re-run a published date as if each table's rows were new (they are not, so it would skip
    # every gate): the gate then judges what is already published, and must refuse it.
    monkeypatch.setattr(DeltaStorage, "holds", lambda *args, **kwargs: False)
    # An AQI cap no real hour meets: the hourly fact fails, so the daily fact after it is never built.
    strict = fct_air_quality_hourly.SUITE.in_range("aqi", 0, 0, name="aqi_cap")
    patch_suite(monkeypatch, fct_air_quality_hourly.NAME, strict)
    with pytest.raises(QualityGateError, match="aqi_cap"):
        build_air_quality(lake.ctx.spark, lake.ctx.storage, RUN_DATES[0], run_id="bad-run")
    after = _versions(lake.ctx)
    # The refused table and every table after it stay at their versions.
    assert {n: after[n] for n in names[failing:]} == {n: before[n] for n in names[failing:]}
    # The tables before it passed their gates and were published; "holds" being forced to
    # say no, that may be a new version, but of the same rows.
    assert {n: content_hash(lake.ctx.storage.catalog.lake_root, n) for n in names} == contents
    results = lake.ctx.storage.read("ops.quality.expectation_results").filter("run_id = 'bad-run'")
    assert {r.table_name for r in results.select("table_name").distinct().collect()} == set(names[: failing + 1])
