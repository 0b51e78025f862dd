"""GX imported in the background before a run's first quality gate (gx_runner.prepare)."""

from __future__ import annotations

import threading
from datetime import date
from pathlib import Path

import pytest

from c360.quality import gx_runner


@pytest.fixture
def fresh(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """This process as if GX had never been prepared nor used; records the background imports."""
    monkeypatch.setattr(gx_runner, "_runners", {})
    monkeypatch.setattr(gx_runner, "_prepared", False)
    started: list[str] = []
    real = gx_runner._import_gx

    def counted() -> None:
        started.append(threading.current_thread().name)
        real()

    monkeypatch.setattr(gx_runner, "_import_gx", counted)
    return started


def _join_preparations() -> None:
    for thread in threading.enumerate():
        if thread.name == "c360-gx-prepare":
            thread.join(60)


def test_gx_is_imported_once_in_the_background(fresh: list[str]) -> None:
    gx_runner.prepare()
    gx_runner.prepare()
    _join_preparations()
    assert fresh == ["c360-gx-prepare"]  # one import, not in the caller's thread
    import sys

    assert "great_expectations" in sys.modules


def test_a_process_whose_gates_already_ran_imports_nothing_more(fresh: list[str], tmp_path: Path) -> None:
    gx_runner._runners[tmp_path] = object()  # type: ignore[assignment]
    gx_runner.prepare()
    assert fresh == []


def test_a_failed_import_is_left_to_the_gate(monkeypatch: pytest.MonkeyPatch) -> None:
    import builtins

    real_import = builtins.__import__

    def no_gx(name: str, *args: object, **kw: object) -> object:
        if name.startswith("great_expectations"):
            raise ImportError("GX is not installed")
        return real_import(name, *args, **kw)  # type: ignore[arg-type]

    monkeypatch.setattr(builtins, "__import__", no_gx)
    gx_runner._import_gx()  # swallowed: no error in a background thread; the gate raises it


def test_a_run_prepares_the_gates_before_its_first_step(
    monkeypatch: pytest.MonkeyPatch, spark: object, settings: object, tmp_path: Path
) -> None:
    import c360.pipeline as pipeline

    prepared: list[bool] = []
    monkeypatch.setattr(gx_runner, "prepare", lambda: prepared.append(True))

    def ingest(*args: object, **kw: object) -> object:
        assert prepared  # already asked for
        raise RuntimeError("stop here")

    monkeypatch.setattr(pipeline, "ingest_step", ingest)
    ctx = pipeline.RunContext.create(settings, spark)  # type: ignore[arg-type]
    with pytest.raises(RuntimeError, match="stop here"):
        pipeline.run_all(ctx, tmp_path, [date(2024, 1, 1)], on_step=lambda _: None)
