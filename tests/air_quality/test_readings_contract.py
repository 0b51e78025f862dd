"""The readings contract through sanitize's classify: units, flags, fates and reasons, on inline rows."""

from __future__ import annotations

import json
from datetime import UTC, date, datetime, timedelta, timezone

import pytest
from chispa import assert_df_equality
from pyspark.sql import DataFrame, SparkSession
from pyspark.sql import functions as F

from c360.contracts import CONTRACTS
from c360.contracts.air_quality import READINGS, STATIONS
from c360.pii import vault_schema
from c360.sanitized.transform import classify

DAY = date(2024, 1, 5)
INGESTED = datetime(2024, 1, 6, 1, 0, tzinfo=UTC)
T0 = datetime(2024, 1, 4, 0, 0, tzinfo=UTC)
SEATTLE = timezone(timedelta(hours=-8))


def reading(station: str, hour: int, **values: object) -> str:
    """A reading's JSON text; ``values``: pollutant -> number, or (number, unit)."""
    units = {"pm25": "ug/m3", "pm10": "ug/m3", "o3": "ppm", "co": "ppm", "so2": "ppb", "no2": "ppb"}
    ms = []
    for p, v in values.items():
        value, unit = v if isinstance(v, tuple) else (v, units[p])
        ms.append({"pollutant": p, "value": value, "unit": unit})
    ts = (T0 + timedelta(hours=hour)).astimezone(SEATTLE).isoformat()
    return json.dumps({"station_id": station, "timestamp": ts, "measurements": ms})


def raw_frame(spark: SparkSession, lines: list[str | tuple[str, str]]) -> DataFrame:
    """Raw readings as ingest writes them: a str is a parsed record, (text, error) a broken line."""
    rows = []
    for n, line in enumerate(lines, start=1):
        record, raw_line, error = (line, None, None) if isinstance(line, str) else (None, line[0], line[1])
        rows.append((record, None, n, raw_line, error, "i1", INGESTED, "f.jsonl", "abc", DAY))
    return spark.createDataFrame(rows, READINGS.raw_schema())


def station_parents(spark: SparkSession) -> dict[str, DataFrame]:
    row = ("AQ001", "A", 1.0, 2.0, "Seattle", "US", "America/Los_Angeles", "h", DAY, "i0", INGESTED, "s.csv", 1)
    return {STATIONS.name: spark.createDataFrame([row], STATIONS.sanitized_schema())}


def run_classify(spark: SparkSession, lines: list[str | tuple[str, str]]) -> DataFrame:
    return classify(
        raw_frame(spark, lines),
        CONTRACTS[READINGS.name],
        vault=spark.createDataFrame([], vault_schema()),
        parents=station_parents(spark),
        previous=spark.createDataFrame([], READINGS.sanitized_schema()),
        key=b"k" * 32,
    )


def outcome(classified: DataFrame, *cols: str) -> DataFrame:
    names = {c: F.col(f"__b_{c}").alias(c) for c in READINGS.column_names}
    return classified.select("_line_number", *[names[c] for c in cols], "_fate", "_reasons")


def ts(hour: int) -> datetime:
    return T0 + timedelta(hours=hour)


def test_units_are_converted_where_defined_and_bad_values_quarantined(spark: SparkSession) -> None:
    lines: list[str | tuple[str, str]] = [
        reading("AQ001", 0, pm25=(8.3, "µg/m³"), o3=(23.4, "ppb"), co=0.25, so2=(0.0015, "PPM")),
        reading("AQ001", 1, pm25=(0.012, "mg/m3"), o3=0.024, co=(250.5, "ppb")),
        reading("AQ001", 2, pm25=(8.0, "ppb"), o3=0.02),  # ppb -> ug/m3 needs temperature: refused
        reading("AQ001", 3, pm10=-4.2, o3=0.02),
        reading("AQ001", 4, no2="12,5"),
        ('{"station_id":"AQ001","timestamp":"2024-01-04T', "invalid JSON: Unterminated string"),
        reading("AQ999", 5, pm25=3.0),
        reading("AQ001", 6),
    ]
    out = outcome(run_classify(spark, lines), "station_id", "timestamp", "pm25", "o3", "co", "so2", "pm10", "no2")
    expected = spark.createDataFrame(
        [
            (1, "AQ001", ts(0), 8.3, 0.0234, 0.25, 1.5, None, None, "sanitized", []),
            (2, "AQ001", ts(1), 12.0, 0.024, 0.2505, None, None, None, "sanitized", []),
            (3, "AQ001", ts(2), None, 0.02, None, None, None, None, "quarantined", ["invalid_type:pm25"]),
            (4, "AQ001", ts(3), None, 0.02, None, None, -4.2, None, "quarantined", ["out_of_range:pm10"]),
            (
                5,
                "AQ001",
                ts(4),
                None,
                None,
                None,
                None,
                None,
                None,
                "quarantined",
                ["invalid_type:no2", "no_measurements"],
            ),
            (
                6,
                None,
                None,
                None,
                None,
                None,
                None,
                None,
                None,
                "quarantined",
                ["malformed_line", "missing_mandatory:station_id", "missing_mandatory:timestamp", "no_measurements"],
            ),
            (7, "AQ999", ts(5), 3.0, None, None, None, None, None, "quarantined", ["orphan_fk:station_id"]),
            (8, "AQ001", ts(6), None, None, None, None, None, None, "quarantined", ["no_measurements"]),
        ],
        out.schema,
    )
    assert_df_equality(out, expected, ignore_row_order=True, ignore_nullable=True, ignore_metadata=True)


def test_repeated_hours_get_the_existing_fates(spark: SparkSession) -> None:
    first, resent = reading("AQ001", 0, pm25=8.0), reading("AQ001", 0, pm25=8.4)
    out = outcome(run_classify(spark, [first, first, resent]), "timestamp", "pm25")
    expected = spark.createDataFrame(
        [
            (1, ts(0), 8.0, "superseded", []),
            (2, ts(0), 8.0, "duplicate_exact", []),
            (3, ts(0), 8.4, "sanitized", []),  # the later delivery of an hour wins
        ],
        out.schema,
    )
    assert_df_equality(out, expected, ignore_row_order=True, ignore_nullable=True, ignore_metadata=True)


@pytest.mark.parametrize("odd_hour", [None, 23])
def test_one_value_over_a_whole_24_hour_delivery_is_a_stuck_sensor(spark: SparkSession, odd_hour: int | None) -> None:
    lines: list[str | tuple[str, str]] = [
        reading("AQ001", h, pm25=9.5 if h == odd_hour else 7.0, co=round(0.1 + h / 100, 2)) for h in range(24)
    ]
    lines.append(reading("AQ002", 0, pm25=7.0))  # another station's hour does not break the run
    out = outcome(run_classify(spark, lines), "station_id", "timestamp", "pm25_stuck", "co_stuck", "out_of_order")
    expected = spark.createDataFrame(
        [(h + 1, "AQ001", ts(h), odd_hour is None, False, False, "sanitized", []) for h in range(24)]
        + [(25, "AQ002", ts(0), False, False, False, "quarantined", ["orphan_fk:station_id"])],
        out.schema,
    )
    assert_df_equality(out, expected, ignore_row_order=True, ignore_nullable=True, ignore_metadata=True)


def test_readings_delivered_out_of_time_order_are_flagged(spark: SparkSession) -> None:
    order = [0, 1, 4, 3, 2, 5, 5]  # hours 2 and 4 swapped (as the sensor defect does); 5 repeated
    lines: list[str | tuple[str, str]] = [reading("AQ001", h, pm25=1.0 + n) for n, h in enumerate(order)]
    out = outcome(run_classify(spark, lines), "timestamp", "out_of_order")
    flagged = {3, 4, 5}
    expected = spark.createDataFrame(
        [(n + 1, ts(h), (n + 1) in flagged, "superseded" if n == 5 else "sanitized", []) for n, h in enumerate(order)],
        out.schema,
    )
    assert_df_equality(out, expected, ignore_row_order=True, ignore_nullable=True, ignore_metadata=True)
