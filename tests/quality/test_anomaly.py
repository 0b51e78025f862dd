"""The anomaly detector on generated history: a 50% drop is flagged, normal days are not."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import numpy as np
import pytest

from c360.quality import QualityGateError, TableSuite, publish
from c360.quality.anomaly import plot_scores, score_series
from c360.quality.ops import ANOMALIES_TABLE, METRICS_SCHEMA, METRICS_TABLE, ensure_ops_tables

START = date(2024, 1, 1)  # a Monday
WEEKDAY_FACTOR = [1.0, 0.95, 1.0, 1.05, 1.2, 1.5, 0.7]
DROP = 75


def generated_row_counts(seed: int) -> tuple[list[date], list[float]]:
    """90 days: +0.3%/day trend, weekday seasonality, 3% noise, and a 50% drop on day 75."""
    rng = np.random.default_rng(seed)
    days = [START + timedelta(days=i) for i in range(90)]
    values = [
        10_000 * (1 + 0.003 * i) * WEEKDAY_FACTOR[d.weekday()] * (1 + rng.normal(0, 0.03)) for i, d in enumerate(days)
    ]
    values[DROP] *= 0.5
    return days, values


def test_drop_is_the_only_flag_for_seed_0(tmp_path: Path) -> None:
    days, values = generated_row_counts(seed=0)
    scores = score_series(days, values)
    assert [s.day for s in scores if s.flagged] == [days[DROP]]
    assert scores[DROP].z is not None and scores[DROP].z < -10
    # not judged before 4 weeks of residuals exist after the 7-day trend window
    assert [s.day for s in scores if s.z is None] == days[:32]
    png = plot_scores(scores, "row_count", tmp_path / "plot.png")
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


@pytest.mark.parametrize("seed", range(20))
def test_drop_flagged_and_at_most_5_percent_of_normal_days(seed: int) -> None:
    days, values = generated_row_counts(seed)
    scores = score_series(days, values)
    judged_normal = [s for i, s in enumerate(scores) if s.z is not None and i != DROP]
    assert scores[DROP].flagged
    assert sum(s.flagged for s in judged_normal) <= 0.05 * len(judged_normal)


def test_constant_metric_tolerates_tiny_wobble_but_not_a_jump() -> None:
    days = [START + timedelta(days=i) for i in range(40)]
    rates = [0.0] * 38 + [0.0004, 0.2]  # null rate stuck at 0, then 0.04%, then 20%
    flags = [s.flagged for s in score_series(days, rates)]
    assert flags == [False] * 39 + [True]


def test_blocking_policy_refuses_an_anomalous_batch(spark, storage) -> None:  # noqa: ANN001
    table = "enhanced.sales.fct_anomaly"
    schema = "id int, run_date date"
    storage.ensure_table(table, spark.createDataFrame([], schema).schema, ("run_date",))
    ensure_ops_tables(storage)
    seeded_at = datetime(2024, 3, 1, tzinfo=UTC)
    history = [
        (table, START + timedelta(days=i), "row_count", 20.0 * WEEKDAY_FACTOR[i % 7]) + ("seed", 0, True, seeded_at)
        for i in range(56)
    ]
    seeded = spark.createDataFrame(history, METRICS_SCHEMA)
    storage.append(seeded, METRICS_TABLE)
    day = START + timedelta(days=56)  # a Monday: 20 rows expected
    suite = TableSuite(table, key=("id",), anomaly_policy="error", anomaly_metrics=("row_count",))
    half = spark.createDataFrame([(i, day) for i in range(10)], schema)
    with pytest.raises(QualityGateError) as raised:
        publish(
            storage,
            half,
            suite,
            write=lambda d, rows: storage.replace_partitions(d, table, partitions=[{"run_date": day}], rows=rows),
            run_id="r",
            run_date=day,
        )
    report = raised.value.report
    assert [(a.metric, a.value, round(a.expected, 6)) for a in report.anomalies] == [("row_count", 10.0, 20.0)]
    assert "anomaly (blocks) row_count = 10, expected 20" in str(raised.value)
    plot = report.anomalies[0].plot
    assert plot is not None and plot.read_bytes()[:4] == b"\x89PNG"
    assert storage.read(table).count() == 0
    recorded = storage.read(ANOMALIES_TABLE).select("table_name", "run_date", "metric", "blocks", "plot")
    # Stored relative to the lake root, so a moved lake still finds it.
    stored = plot.relative_to(storage.catalog.lake_root).as_posix()
    assert [tuple(r) for r in recorded.collect()] == [(table, day, "row_count", True, stored)]
