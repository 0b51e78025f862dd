"""Storage behaviour across real processes: a killed writer, concurrent writers, the CLI."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pyarrow as pa
import pytest
from deltalake import DeltaTable
from pyspark.sql import SparkSession

from c360.storage import DeltaStorage, LakeCatalog
from tests.storage.writer_proc import NAME, SCHEMA

SCRIPT = Path(__file__).with_name("writer_proc.py")
ROOT = Path(__file__).resolve().parents[2]


def run_writer(lake: Path, *args: str) -> subprocess.Popen[bytes]:
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    return subprocess.Popen([sys.executable, str(SCRIPT), str(lake), *args], env=env, stderr=subprocess.PIPE)


def data_files(path: Path) -> set[str]:
    return {p.relative_to(path).as_posix() for p in path.rglob("*.parquet") if "_delta_log" not in p.parts}


@pytest.mark.slow
def test_writer_killed_before_commit_leaves_previous_version(spark: SparkSession, tmp_path: Path) -> None:
    storage = DeltaStorage(spark, tmp_path)
    storage.append(spark.createDataFrame([("before", 1)], SCHEMA), NAME)
    proc = run_writer(tmp_path, "kill-before-commit")
    _, err = proc.communicate(timeout=300)
    assert proc.returncode == -9, err.decode()[-2000:]

    path = storage.path(NAME)
    assert DeltaTable(str(path)).version() == 1
    assert [tuple(r) for r in storage.read(NAME).collect()] == [("before", 1)]
    referenced = {a for a in pa.table(DeltaTable(str(path)).get_add_actions()).column("path").to_pylist()}
    orphans = data_files(path) - referenced
    assert len(orphans) == 2  # the killed writer's two files, in place but never committed

    deleted = LakeCatalog(tmp_path).vacuum(NAME, retention_hours=0)
    assert len(deleted) == 2
    assert data_files(path) == referenced
    assert [tuple(r) for r in storage.read(NAME).collect()] == [("before", 1)]


@pytest.mark.slow
def test_two_processes_appending_concurrently(spark: SparkSession, tmp_path: Path) -> None:
    storage = DeltaStorage(spark, tmp_path)
    storage.ensure_table(NAME, SCHEMA)
    procs = [run_writer(tmp_path, "append", "10", tag) for tag in ("a", "b")]
    for p in procs:
        _, err = p.communicate(timeout=600)
        assert p.returncode == 0, err.decode()[-2000:]

    history = LakeCatalog(tmp_path).history(NAME)
    assert sorted(h.version for h in history) == list(range(21))  # contiguous: create + 20 appends
    assert sum(1 for h in history if h.c360_operation == "append") == 20
    got = sorted(tuple(r) for r in storage.read(NAME).collect())
    expected = sorted((tag, s) for tag in ("a", "b") for i in range(10) for s in (i, i + 1000))
    assert got == expected


@pytest.mark.slow
def test_cli_table_commands_exit_cleanly(spark: SparkSession, tmp_path: Path) -> None:
    storage = DeltaStorage(spark, tmp_path)
    storage.append(spark.createDataFrame([("cli", 1), ("cli", 2)], SCHEMA), NAME)
    storage.append(spark.createDataFrame([("cli", 3)], SCHEMA), NAME)
    env = {
        **os.environ,
        "C360_LAKE_ROOT": str(tmp_path),
        "C360_SPARK_MASTER": "local[1]",
        "C360_SPARK_UI": "false",
        "C360_SPARK_LOG_LEVEL": "ERROR",
    }
    c360 = [sys.executable, "-c", "from c360.cli import main; main()"]

    def run(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run([*c360, *args], env=env, capture_output=True, text=True, timeout=300)

    listed = run("table", "list")
    assert listed.returncode == 0 and NAME in listed.stdout
    shown = run("table", "show", NAME, "--version", "1", "--limit", "5")
    assert shown.returncode == 0, shown.stderr
    assert "cli" in shown.stdout and "│ 3" not in shown.stdout
    hist = run("table", "history", NAME)
    assert hist.returncode == 0 and "append" in hist.stdout
    vac = run("table", "vacuum", NAME, "--retention-hours", "0")
    assert vac.returncode == 0 and "deleted 0 file(s)" in vac.stdout
    missing = run("table", "show", "raw.test.nope")
    assert missing.returncode == 1
    assert missing.stderr.strip() == (
        f"error: TableNotFoundError: table raw.test.nope does not exist (no Delta log under {tmp_path}/raw/test/nope)"
        f"; did you mean {NAME}?"
    )
    assert "Traceback" not in missing.stderr
