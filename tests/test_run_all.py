"""A whole run (c360.pipeline.run_all): the model and air-quality steps at the same time."""

from __future__ import annotations

import threading
from datetime import date
from pathlib import Path

import pytest
from pyspark.sql import SparkSession

import c360.pipeline as pipeline
from c360.pipeline import RunContext, overlap_rows, product_rows
from c360.settings import Settings
from c360.spark import BROADCAST_THRESHOLD
from tests.conftest import PublishedLake

DAY = date(2024, 1, 21)


def _stub_first_steps(monkeypatch: pytest.MonkeyPatch) -> None:
    """Ingest and sanitize do nothing, and every step's report is summarised as itself."""
    monkeypatch.setattr(pipeline, "ingest_step", lambda *a, **k: None)
    monkeypatch.setattr(pipeline, "sanitize_step", lambda *a, **k: None)
    for summary in ("ingest_summary", "sanitize_summary", "model_summary", "air_quality_summary"):
        monkeypatch.setattr(pipeline, summary, str)


def _context(settings: Settings, spark: SparkSession) -> RunContext:
    ctx = RunContext.create(settings, spark)
    ctx._write_runs = lambda rows: None  # type: ignore[method-assign] - nothing of this test is kept
    return ctx


def test_the_air_quality_step_runs_while_the_model_step_does(
    spark: SparkSession, settings: Settings, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Both steps under the run's sizing: joins sort-merged below the threshold, in both threads."""
    _stub_first_steps(monkeypatch)
    monkeypatch.setattr(pipeline, "overlap_rows", lambda ctx: 10)
    air_started, seen = threading.Event(), {}

    def model(ctx: RunContext, *args: object) -> str:
        # Waits for the other step: run one after the other, this would time out.
        seen["overlapped"] = air_started.wait(timeout=60)
        seen["model"] = spark.conf.get(BROADCAST_THRESHOLD)
        return "model"

    def air_quality(ctx: RunContext, *args: object) -> str:
        air_started.set()
        seen["air_quality"] = spark.conf.get(BROADCAST_THRESHOLD)
        return "air"

    monkeypatch.setattr(pipeline, "model_step", model)
    monkeypatch.setattr(pipeline, "air_quality_step", air_quality)
    ctx = _context(settings, spark)
    before = spark.conf.get(BROADCAST_THRESHOLD)
    shown: list[str] = []
    pipeline.run_all(ctx, Path("unused"), [DAY], on_step=shown.append)
    assert seen == {"overlapped": True, "model": "-1", "air_quality": "-1"}
    assert spark.conf.get(BROADCAST_THRESHOLD) == before
    assert shown[-1] == f"model {DAY}..{DAY} and air quality {DAY}..{DAY}"
    steps = ("ingest", "sanitize", "model", "air_quality")
    assert {(t.step, t.status) for t in ctx.timings} == {(step, "succeeded") for step in steps}


def test_a_failed_model_step_lets_air_quality_finish_and_raises_its_own_error(
    spark: SparkSession, settings: Settings, monkeypatch: pytest.MonkeyPatch
) -> None:
    _stub_first_steps(monkeypatch)
    monkeypatch.setattr(pipeline, "overlap_rows", lambda ctx: 10)
    air_started = threading.Event()

    def model(ctx: RunContext, *args: object) -> str:
        air_started.wait(timeout=60)
        raise RuntimeError("the model's gate refused")

    def air_quality(ctx: RunContext, *args: object) -> str:
        air_started.set()
        raise ValueError("an air-quality failure")  # both failed: the model's error is raised

    monkeypatch.setattr(pipeline, "model_step", model)
    monkeypatch.setattr(pipeline, "air_quality_step", air_quality)
    ctx = _context(settings, spark)
    with pytest.raises(RuntimeError, match="the model's gate refused"):
        pipeline.run_all(ctx, Path("unused"), [DAY], on_step=lambda _: None)
    statuses = {t.step: (t.status, t.summary) for t in ctx.timings}
    assert statuses["model"] == ("failed", "RuntimeError: the model's gate refused")
    assert statuses["air_quality"] == ("failed", "ValueError: an air-quality failure")


def test_steps_that_cannot_overlap_run_one_after_the_other(
    spark: SparkSession, settings: Settings, monkeypatch: pytest.MonkeyPatch
) -> None:
    _stub_first_steps(monkeypatch)
    monkeypatch.setattr(pipeline, "overlap_rows", lambda ctx: None)
    order: list[str] = []
    running = threading.Lock()

    def step(name: str):  # noqa: ANN202
        def run(ctx: RunContext, *args: object) -> str:
            assert running.acquire(blocking=False), "two steps at once"
            order.append(name)
            running.release()
            return name

        return run

    monkeypatch.setattr(pipeline, "model_step", step("model"))
    monkeypatch.setattr(pipeline, "air_quality_step", step("air_quality"))
    shown: list[str] = []
    pipeline.run_all(_context(settings, spark), Path("unused"), [DAY], on_step=shown.append)
    assert order == ["model", "air_quality"]
    assert shown[-2:] == [f"model {DAY}..{DAY}", f"air quality {DAY}..{DAY}"]


def test_the_steps_overlap_only_when_sized_alike_and_the_calendar_exists(
    spark: SparkSession, settings: Settings, published_lake: PublishedLake
) -> None:
    ctx = RunContext.create(settings.model_copy(update={"lake_root": published_lake.root}), spark)
    retail, air = product_rows(ctx.storage.catalog, "retail"), product_rows(ctx.storage.catalog, "air_quality")
    assert 0 < air < retail
    assert overlap_rows(ctx) == retail  # both far below the thresholds
    for name, between in (("codegen_min_rows", air + 1), ("broadcast_min_rows", retail)):
        apart = RunContext.create(ctx.settings.model_copy(update={name: between}), spark)
        assert overlap_rows(apart) is None, name
    both_large = RunContext.create(ctx.settings.model_copy(update={"codegen_min_rows": air}), spark)
    assert overlap_rows(both_large) == retail
    # A first run: no calendar yet, which both steps would create.
    assert overlap_rows(RunContext.create(settings, spark)) is None


def test_ctrl_c_in_the_model_step_stops_the_air_quality_step_too(
    spark: SparkSession, settings: Settings, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A failed model step lets air quality finish; an interrupted one must not: the interrupt
    cancels only the jobs running at that moment, and air quality's next jobs ran to its end."""
    _stub_first_steps(monkeypatch)
    monkeypatch.setattr(pipeline, "overlap_rows", lambda ctx: 10)
    air_started, jobs = threading.Event(), []

    def model(ctx: RunContext, *args: object) -> str:
        air_started.wait(timeout=60)
        raise KeyboardInterrupt

    def air_quality(ctx: RunContext, *args: object) -> str:
        air_started.set()
        for _ in range(3):  # three jobs one after the other, of two tasks that sleep 4 s each
            try:
                sleep = "reflect('java.lang.Thread', 'sleep', CAST(4000 AS BIGINT))"
                spark.range(0, 2, numPartitions=2).selectExpr(sleep).collect()
                jobs.append("finished")
            except Exception:  # noqa: BLE001 - the cancellation, as a Spark job reports it
                jobs.append("cancelled")
                raise
        return "air"

    monkeypatch.setattr(pipeline, "model_step", model)
    monkeypatch.setattr(pipeline, "air_quality_step", air_quality)
    ctx = _context(settings, spark)
    with pytest.raises(KeyboardInterrupt):
        pipeline.run_all(ctx, Path("unused"), [DAY], on_step=lambda _: None)
    assert jobs == ["cancelled"]
    statuses = {t.step: t.status for t in ctx.timings}
    assert statuses["air_quality"] == "failed"


def test_an_interrupted_step_is_recorded_as_interrupted_with_an_abort_event(
    spark: SparkSession, settings: Settings
) -> None:
    """A Ctrl-C in a step left no record of it: no row in the run log (only failures were
    logged), and an OpenLineage START with no end."""
    from c360.lineage import read_events

    ctx = _context(settings, spark)
    logged: list[list[tuple]] = []
    ctx._write_runs = logged.append  # type: ignore[method-assign]

    def interrupted() -> str:
        raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        ctx.step("sanitize", DAY, interrupted)
    assert [(t.step, t.status) for t in ctx.timings] == [("sanitize", "interrupted")]
    assert [row[4] for rows in logged for row in rows] == ["interrupted"]
    events = [(e["eventType"], e["job"]["name"]) for e in read_events(settings.lake_root)]
    assert events[-2:] == [("START", "c360.sanitize"), ("ABORT", "c360.sanitize")]
