"""``c360 run``: what it prints about the steps of a run, including one that failed half-way."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest
from typer.testing import CliRunner

import c360.cli.run as cli_run
import c360.pipeline as pipeline
from c360.pipeline import RunContext, StepTiming, ingest_summary
from c360.publish import MissingInputError
from c360.raw.ingest import IngestReport
from c360.settings import Settings


def _run_all_replaced(monkeypatch: pytest.MonkeyPatch, run_all: Callable[..., None]) -> None:
    """`c360 run` without Spark: its context a bare one, its run ``run_all``."""
    run = RunContext.__new__(RunContext)
    run.run_id, run.timings = "r1", []
    monkeypatch.setattr(cli_run, "_ctx", lambda rows=None: run)
    monkeypatch.setattr(pipeline, "run_all", run_all)
    monkeypatch.setattr(pipeline, "run_rows", lambda *a: 0)


def test_a_failed_run_still_shows_the_steps_that_ran_before_its_error(
    settings: Settings, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    from c360.cli import app
    from c360.cli.state import state

    def failing_run(ctx: RunContext, *args: object, **kwargs: object) -> None:
        ctx.timings.append(StepTiming("ingest", 0.2, "succeeded", "0 rows: no source files found"))
        ctx.timings.append(StepTiming("sanitize", 0.5, "succeeded", "0 in = 0 sanitized"))
        ctx.timings.append(StepTiming("model", 0.0, "failed", "MissingInputError: none of the model's inputs"))
        raise MissingInputError("none of the model's inputs is in the lake")

    _run_all_replaced(monkeypatch, failing_run)
    state._settings, state._spark = settings, None
    try:
        done = CliRunner().invoke(app, ["run", "--source", str(tmp_path), "--run-date", "2024-01-05"])
    finally:
        state._settings, state._spark = None, None
    assert isinstance(done.exception, MissingInputError)  # the CLI's main prints it after the table
    lines = [line for line in done.output.splitlines() if line.startswith("│")]
    assert [line.split("│")[1].strip() for line in lines] == ["ingest", "sanitize", "model"]
    assert "0 rows: no source files found" in lines[0]
    assert "failed" in lines[2] and "MissingInputError (below)" in lines[2]


def test_an_ingest_that_found_no_file_says_so() -> None:
    assert ingest_summary(IngestReport("i1")) == "0 rows: no source files found"


def test_an_error_that_follows_a_ctrl_c_is_reported_as_the_interrupt(
    settings: Settings, monkeypatch: pytest.MonkeyPatch, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """A Spark job cancelled by the interrupt can fail in its thread before the interrupt is raised
    in the main thread: the CLI says `interrupted` (exit code 130), not the job's error."""
    import sys

    import c360.cli as cli
    from c360.cli.state import state
    from c360.spark import INTERRUPTED

    def cancelled_run(ctx: RunContext, *args: object, **kwargs: object) -> None:
        INTERRUPTED.set()  # what c360.spark's SIGINT handler does first
        raise RuntimeError("[SPARK_JOB_CANCELLED] Job 316 cancelled as part of cancellation of all jobs")

    _run_all_replaced(monkeypatch, cancelled_run)
    monkeypatch.setattr(sys, "argv", ["c360", "run", "--source", str(tmp_path), "--run-date", "2024-01-05"])
    monkeypatch.setattr(cli.err_console, "file", sys.stderr)
    state._settings, state._spark = settings, None
    try:
        with pytest.raises(SystemExit) as exited:
            cli.main()
    finally:
        INTERRUPTED.clear()
        state._settings, state._spark = None, None
    assert exited.value.code == 130
    err = capsys.readouterr().err
    assert "interrupted" in err and "SPARK_JOB_CANCELLED" not in err
