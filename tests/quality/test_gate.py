"""Write-audit-publish on a real Delta table: a failing gate commits nothing and says why."""

from __future__ import annotations

from datetime import date

import pytest
from pyspark.sql import functions as F

from c360.quality import QualityGateError, TableSuite, publish
from c360.quality.ops import METRICS_TABLE, RESULTS_TABLE, data_docs_dir

TABLE = "enhanced.sales.fct_gate"
SCHEMA = "id int, amount double, channel string, run_date date"
D1, D2 = date(2024, 5, 6), date(2024, 5, 7)
SUITE = (
    TableSuite(TABLE, key=("id",), measures=("amount",), null_rate_columns=("channel",))
    .invariant("amount_not_negative", "amount >= 0")
    .in_set("channel", ["pos", "web"], severity="warn")
)


def _write(storage, run_date: date, calls: list[str]):  # noqa: ANN001, ANN202
    def write(df, rows):  # noqa: ANN001, ANN202
        calls.append(run_date.isoformat())
        return storage.replace_partitions(df, TABLE, partitions=[{"run_date": run_date}], rows=rows)

    return write


def _rows(storage) -> list[tuple]:  # noqa: ANN001
    return sorted(tuple(r) for r in storage.read(TABLE).collect())


@pytest.fixture(autouse=True)
def _table(spark, storage) -> None:  # noqa: ANN001
    storage.ensure_table(TABLE, spark.createDataFrame([], SCHEMA).schema, ("run_date",))


def test_failing_gate_commits_nothing_and_records_everything(spark, storage) -> None:  # noqa: ANN001
    calls: list[str] = []
    good = spark.createDataFrame([(1, 10.0, "pos", D1), (2, 5.0, "web", D1)], SCHEMA)
    first = publish(storage, good, SUITE, write=_write(storage, D1, calls), run_id="r1", run_date=D1)
    published_version = storage.catalog.describe(TABLE).version
    assert first.commit.version == published_version
    before = _rows(storage)

    bad = spark.createDataFrame(
        [(3, -1.0, "pos", D2), (3, 4.0, "web", D2), (4, -2.5, "web", D2), (5, 1.0, "pos", D2)],
        SCHEMA,
    )
    with pytest.raises(QualityGateError) as raised:
        publish(storage, bad, SUITE, write=_write(storage, D2, calls), run_id="r2", run_date=D2)

    assert calls == [D1.isoformat()]  # the write of the bad batch never ran
    assert storage.catalog.describe(TABLE).version == published_version
    assert _rows(storage) == before
    message = str(raised.value)
    assert "quality gate failed, nothing was published" in message
    assert "FAILED unique(id) [error]: 2 unexpected row(s) of 4" in message
    assert "FAILED amount_not_negative [error]: 2 unexpected row(s) of 4 (rows must satisfy amount >= 0)" in message

    results = storage.read(RESULTS_TABLE).where(F.col("run_id") == "r2")
    assert sorted(
        (r.expectation, r.severity, r.success, r.unexpected_count, r.published, r.table_version)
        for r in results.collect()
    ) == [
        ("amount_not_negative", "error", False, 2, False, published_version),
        ("in_set(channel)", "warn", True, 0, False, published_version),
        ("not_null(id)", "error", True, 0, False, published_version),
        ("unique(id)", "error", False, 2, False, published_version),
    ]
    assert {(r.table_name, r.status) for r in results.collect()} == {(TABLE, "failed")}
    # the refused day's metrics are kept apart: the published day stays the baseline
    counts = storage.read(METRICS_TABLE).where(F.col("metric") == "row_count")
    assert sorted((r.run_date, r.published, r.value) for r in counts.collect()) == [
        (D1, True, 2.0),
        (D2, False, 4.0),
    ]
    page = raised.value.report.data_docs
    assert page is not None and page.is_file() and page.is_relative_to(data_docs_dir(storage.catalog.lake_root))
    assert "amount_not_negative" in page.read_text()
    assert (data_docs_dir(storage.catalog.lake_root) / "index.html").is_file()


def test_warn_failure_publishes_and_rerun_replaces_metrics(spark, storage) -> None:  # noqa: ANN001
    calls: list[str] = []
    odd_channel = spark.createDataFrame([(1, 10.0, "fax", D2), (2, 5.0, None, D2)], SCHEMA)
    first = publish(storage, odd_channel, SUITE, write=_write(storage, D2, calls), run_id="a", run_date=D2)
    assert first.report.status == "warn"
    assert [r.describe() for r in first.report.failures] == ["in_set(channel) [warn]: 1 unexpected row(s) of 2"]
    assert "fax" in first.report.data_docs.read_text()  # the page shows the failing value
    assert _rows(storage) == [(1, 10.0, "fax", D2), (2, 5.0, None, D2)]

    fixed = spark.createDataFrame([(1, 10.0, "pos", D2), (2, 7.0, "web", D2), (3, 1.0, "web", D2)], SCHEMA)
    second = publish(storage, fixed, SUITE, write=_write(storage, D2, calls), run_id="b", run_date=D2)
    assert second.report.status == "passed"
    assert calls == [D2.isoformat(), D2.isoformat()]
    assert _rows(storage) == [(1, 10.0, "pos", D2), (2, 7.0, "web", D2), (3, 1.0, "web", D2)]

    metrics = storage.read(METRICS_TABLE).select(
        "table_name", "run_date", "metric", "value", "run_id", "table_version", "published"
    )
    assert sorted(tuple(r) for r in metrics.collect()) == [
        (TABLE, D2, "distinct.id", 3.0, "b", second.commit.version, True),
        (TABLE, D2, "null_rate.channel", 0.0, "b", second.commit.version, True),
        (TABLE, D2, "row_count", 3.0, "b", second.commit.version, True),
        (TABLE, D2, "sum.amount", 18.0, "b", second.commit.version, True),
    ]
    attempts = storage.read(RESULTS_TABLE).select("run_id", "status").distinct().collect()
    assert sorted(tuple(r) for r in attempts) == [("a", "warn"), ("b", "passed")]


def test_only_the_failed_expectations_fetch_sample_values(spark, storage) -> None:  # noqa: ANN001
    """Counts for every expectation, sample values for the failed ones only (sampling costs
    a Spark job per expectation); the samples do not change the counts."""
    from c360.quality.gate import gx_checks
    from c360.quality.gx_runner import get_runner

    suite = SUITE.gx(
        "expect_column_values_to_be_in_set", column="channel", value_set=["pos"], mostly=0.3, name="mostly_pos"
    )
    df = spark.createDataFrame([(1, 1.0, "fax", D2), (2, 2.0, "pos", D2), (3, 3.0, "fax", D2)], SCHEMA)
    checks, _ = gx_checks(suite, df.schema, D2, None)
    runner = get_runner(data_docs_dir(storage.catalog.lake_root))
    results, _, gx_result = runner.validate(df, TABLE, checks, "samples")

    assert [(r.expectation, r.success, r.unexpected_count, r.element_count) for r in results] == [
        ("not_null(id)", True, 0, 3),
        ("unique(id)", True, 0, 3),
        ("in_set(channel)", False, 2, 3),
        ("mostly_pos", True, 2, 3),  # passes with unexpected rows: they are not sampled
    ]
    gx = {r.expectation_config.meta["c360_name"]: r.result for r in gx_result.results}
    assert gx["in_set(channel)"]["partial_unexpected_list"] == ["fax", "fax"]
    assert gx["in_set(channel)"]["partial_unexpected_counts"] == [{"value": "fax", "count": 2}]
    assert not gx["mostly_pos"].get("partial_unexpected_list")


def test_a_gate_log_records_a_whole_step_at_once_as_one_by_one_would(spark, storage) -> None:  # noqa: ANN001
    """A step's gates go through one GateLog: nothing is written until it flushes, then one
    commit per ops table holds what recording each gate at once would have left."""
    from c360.quality.gate import GateLog

    log, calls = GateLog(storage), []
    good = spark.createDataFrame([(1, 10.0, "pos", D1), (2, 5.0, "web", D1)], SCHEMA)
    publish(storage, good, SUITE, write=_write(storage, D1, calls), run_id="r1", run_date=D1, log=log)
    bad = spark.createDataFrame([(3, -1.0, "pos", D2), (4, 4.0, "web", D2)], SCHEMA)
    with pytest.raises(QualityGateError) as raised:
        publish(storage, bad, SUITE, write=_write(storage, D2, calls), run_id="r2", run_date=D2, log=log)
    fixed = spark.createDataFrame([(3, 1.0, "pos", D2), (4, 4.0, "web", D2), (5, 2.0, "web", D2)], SCHEMA)
    publish(storage, fixed, SUITE, write=_write(storage, D2, calls), run_id="r3", run_date=D2, log=log)
    page = raised.value.report.data_docs
    assert calls == [D1.isoformat(), D2.isoformat()]
    assert not storage.exists(RESULTS_TABLE) and not storage.exists(METRICS_TABLE)
    assert page is not None and not page.is_file()  # its page is built with the step's

    log.flush()

    assert page.is_file() and "amount_not_negative" in page.read_text()
    # created (version 0), then one commit for the whole step
    assert (storage.catalog.describe(RESULTS_TABLE).version, storage.catalog.describe(METRICS_TABLE).version) == (1, 1)
    attempts = storage.read(RESULTS_TABLE).select("run_id", "status", "published").distinct().collect()
    assert sorted(tuple(r) for r in attempts) == [
        ("r1", "passed", True),
        ("r2", "failed", False),
        ("r3", "passed", True),
    ]
    # D2 refused then published: the refused metrics are cleared, as one-by-one recording leaves them
    counts = storage.read(METRICS_TABLE).where(F.col("metric") == "row_count")
    assert sorted((r.run_date, r.published, r.value, r.run_id) for r in counts.collect()) == [
        (D1, True, 2.0, "r1"),
        (D2, True, 3.0, "r3"),
    ]
    log.flush()  # nothing pending: no further commit
    assert storage.catalog.describe(RESULTS_TABLE).version == 1


def test_a_batched_run_records_the_gates_of_all_its_steps_once_when_it_ends(
    spark, storage, settings, monkeypatch
) -> None:  # noqa: ANN001
    """``RunContext.batched``: every step's gates go to the run's log, so the ops tables get one
    commit each and the Data Docs are built once, when the run ends, even when a step fails."""
    from c360.pipeline import RUNS_TABLE, RunContext
    from c360.publish import Publisher
    from c360.quality.gx_runner import GxRunner

    builds: list[int] = []
    build_docs = GxRunner.build_docs
    monkeypatch.setattr(GxRunner, "build_docs", lambda runner: (builds.append(1), build_docs(runner))[1])
    ctx, calls = RunContext(settings, spark, storage, run_id="run-1"), []

    def gated(rows: list[tuple], day: date):  # noqa: ANN202
        frame = spark.createDataFrame(rows, SCHEMA)
        return lambda: publish(
            storage, frame, SUITE, write=_write(storage, day, calls), run_id=ctx.run_id, run_date=day, log=ctx.gate_log
        )

    with pytest.raises(QualityGateError), ctx.batched():
        ctx.step("first", D1, gated([(1, 10.0, "pos", D1)], D1))
        Publisher(storage, ctx.run_id, [D1], ctx.gate_log).flush()  # a step's flush leaves the run's log
        assert not storage.exists(RESULTS_TABLE) and builds == []  # held until the run ends
        ctx.step("second", D2, gated([(2, -1.0, "web", D2)], D2))

    assert ctx.gate_log is None and calls == [D1.isoformat()]
    assert builds == [1]
    assert (storage.catalog.version(RESULTS_TABLE), storage.catalog.version(METRICS_TABLE)) == (1, 1)
    recorded = storage.read(RESULTS_TABLE).select("run_date", "status", "published").distinct().collect()
    assert sorted(tuple(r) for r in recorded) == [(D1, "passed", True), (D2, "failed", False)]
    steps = storage.read(RUNS_TABLE).select("step", "status").collect()
    assert sorted(tuple(r) for r in steps) == [("first", "succeeded"), ("second", "failed")]
