"""Both product DAGs end to end with ``dag.test()``: every step a real spark-submit over mock_data.

One lake and one Airflow home for the whole module; three rounds, each a pair of processes where
it can be (the two DAGs no longer share a table, so running them side by side is the point):

1. ``c360_daily`` and ``air_quality_daily`` for 2024-01-01 at the same time, into an empty lake:
   both succeed at their first try.
2. ``c360_daily`` for 2024-01-01 again, beside ``air_quality_daily`` for 2024-01-02: the re-run
   executes every step and changes no retail table; the air-quality date adds its data.
3. ``air_quality_daily`` for 2024-01-02 again: no data table changes.

A re-run that recomputes a date one DAG after the other and finds nothing to change is what
"the concurrent run's tables equal those of a sequential run" means here, without paying for a
second lake. The lake starts empty, not from ``published_lake``: that lake holds every mock
date already, so nothing would be written concurrently, and the air-quality product needs the
station list that only the first day delivers. The ops tier is excluded by design: the run log
gains rows with every run, which is how the test knows the re-runs happened.
Cost: about as much as the former ``c360_daily`` test (two runs of it) plus two air-quality runs.
"""

from __future__ import annotations

import json
import os
import sqlite3
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

pytestmark = pytest.mark.slow

REPO = Path(__file__).resolve().parents[2]
STEPS = {"c360_daily": ("ingest", "sanitize", "model"), "air_quality_daily": ("ingest", "sanitize", "air_quality")}
RUN_TIMEOUT = 1500


def _versions(lake: Path) -> dict[str, int]:
    from c360.storage import LakeCatalog

    catalog = LakeCatalog(lake)
    return {name: catalog.describe(name).version for name in catalog.list_tables()}


def _data(versions: dict[str, int]) -> dict[str, int]:
    return {n: v for n, v in versions.items() if not n.startswith("ops.")}


def _is_air_quality(table: str) -> bool:
    return table.split(".")[1] == "air_quality"


def _succeeded_steps(lake: Path, run_id: str) -> list[str]:
    """The steps the run log (``ops.pipeline.runs``) records as succeeded under ``run_id``."""
    from c360.storage import LakeCatalog

    dt = LakeCatalog(lake).open("ops.pipeline.runs")
    # file_uris + pyarrow rather than to_pyarrow_table (aborts at exit, STACK.md).
    rows = pa.concat_tables([pq.read_table(uri) for uri in dt.file_uris()]).to_pylist()
    return sorted(r["step"] for r in rows if r["run_id"] == run_id and r["status"] == "succeeded")


@dataclass
class Runs:
    lake: Path
    results: dict[str, dict]  # "round:dag_id" -> dag_runner's result
    versions: list[dict[str, int]]  # after each round


def _start(dag_id: str, day: str, home: Path, lake: Path, out: Path) -> subprocess.Popen:
    """``dag.test()`` of one DAG in its own process, with its own copy of the migrated database
    (two writers on one SQLite file would lock each other out) and the lake as Variables."""
    db = home / f"{dag_id}.db"
    env = os.environ | {
        "AIRFLOW__DATABASE__SQL_ALCHEMY_CONN": f"sqlite:///{db}",
        "AIRFLOW_VAR_C360_LAKE_ROOT": str(lake),
        "AIRFLOW_VAR_C360_SOURCE_DIR": str(REPO / "mock_data"),
        "AIRFLOW_VAR_C360_SPARK_MASTER": "local[2]",
        "AIRFLOW_VAR_C360_SPARK_DRIVER_MEMORY": "2g",
        "C360_LAKE_ROOT": str(lake.parent / "not-this-lake"),  # a Variable beats the environment
        "C360_SPARK_SHUFFLE_PARTITIONS": "2",
        "C360_SPARK_UI": "false",
        # dag.test() in Airflow 3.3.2 fails a successful run of a DAG with a deadline (test_alerts covers it).
        "C360_DEADLINE_ALERTS": "off",
        "PYTHONPATH": os.pathsep.join([str(REPO), str(REPO / "dags")]),
    }
    cmd = [sys.executable, "-m", "tests.airflow.dag_runner", dag_id, day, str(out)]
    return subprocess.Popen(cmd, cwd=REPO, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)


def _round(name: str, runs: list[tuple[str, str]], home: Path, lake: Path) -> dict[str, dict]:
    procs = {dag_id: (_start(dag_id, day, home, lake, home / f"{name}-{dag_id}.json")) for dag_id, day in runs}
    results = {}
    for dag_id, proc in procs.items():
        _, err = proc.communicate(timeout=RUN_TIMEOUT)
        out = home / f"{name}-{dag_id}.json"
        assert proc.returncode == 0 and out.exists(), f"{name} {dag_id} exited {proc.returncode}:\n{err[-3000:]}"
        results[f"{name}:{dag_id}"] = json.loads(out.read_text())
    return results


@pytest.fixture(scope="module")
def runs(airflow_db: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Runs]:
    from airflow.configuration import conf

    home = tmp_path_factory.mktemp("dag-runs")
    lake = home / "lake"
    migrated = Path(conf.get("database", "sql_alchemy_conn").removeprefix("sqlite:///"))
    for dag_id in STEPS:
        # SQLite's backup API, not a file copy: the migrated schema may still sit in the WAL file.
        with sqlite3.connect(migrated) as src, sqlite3.connect(home / f"{dag_id}.db") as dst:
            src.backup(dst)
    results: dict[str, dict] = {}
    versions = []
    results |= _round("1", [("c360_daily", "2024-01-01"), ("air_quality_daily", "2024-01-01")], home, lake)
    versions.append(_versions(lake))
    results |= _round("2", [("c360_daily", "2024-01-01"), ("air_quality_daily", "2024-01-02")], home, lake)
    versions.append(_versions(lake))
    results |= _round("3", [("air_quality_daily", "2024-01-02")], home, lake)
    versions.append(_versions(lake))
    yield Runs(lake, results, versions)


def _assert_first_try_success(result: dict, dag_id: str) -> None:
    tasks = result["tasks"]
    assert result["state"] == "success", f"{result['run_id']}: {tasks}\n{result['logs']}"
    assert tasks == {t: ["success", 1] for t in STEPS[dag_id]}, f"{tasks}\n{result['logs']}"


def test_both_dags_for_one_date_at_the_same_time_succeed_at_their_first_try(runs: Runs, dagbag: object) -> None:
    for dag_id in STEPS:
        result = runs.results[f"1:{dag_id}"]
        _assert_first_try_success(result, dag_id)
        # Each task ran its own job with the Airflow run id (the job's --run-id).
        assert _succeeded_steps(runs.lake, result["run_id"]) == sorted(STEPS[dag_id])
    assert not (runs.lake.parent / "not-this-lake").exists()
    first = runs.versions[0]
    assert {"raw", "sanitized", "enhanced", "ops"} <= {n.split(".")[0] for n in first}
    # Each DAG wrote its own sources: both domains' raw and sanitized tables exist.
    for tier in ("raw", "sanitized"):
        assert any(n.startswith(f"{tier}.air_quality.") for n in first)
        assert any(n.startswith(f"{tier}.") and not _is_air_quality(n) for n in first)
    # The Assets on the publishing tasks are exactly the enhanced tables written.
    outlets = {
        a.name
        for dag_id, task in (("c360_daily", "model"), ("air_quality_daily", "air_quality"))
        for a in dagbag.dags[dag_id].get_task(task).outlets  # type: ignore[attr-defined]
    }
    assert {n for n in first if n.startswith("enhanced.")} == outlets


def test_a_rerun_of_c360_daily_beside_the_next_air_quality_date_changes_no_retail_table(runs: Runs) -> None:
    rerun, aq = runs.results["2:c360_daily"], runs.results["2:air_quality_daily"]
    _assert_first_try_success(rerun, "c360_daily")
    _assert_first_try_success(aq, "air_quality_daily")
    assert rerun["run_id"] != runs.results["1:c360_daily"]["run_id"]
    assert _succeeded_steps(runs.lake, rerun["run_id"]) == sorted(STEPS["c360_daily"])
    before, after = _data(runs.versions[0]), _data(runs.versions[1])
    assert set(after) == set(before)
    assert {n: v for n, v in after.items() if not _is_air_quality(n)} == {
        n: v for n, v in before.items() if not _is_air_quality(n)
    }
    # The second air-quality date did write: its readings and daily AQI are new versions.
    assert after["raw.air_quality.readings"] > before["raw.air_quality.readings"]
    assert after["enhanced.air_quality.fct_aqi_daily"] > before["enhanced.air_quality.fct_aqi_daily"]


def test_air_quality_daily_rerun_of_the_second_date_changes_no_data_table(runs: Runs) -> None:
    rerun = runs.results["3:air_quality_daily"]
    _assert_first_try_success(rerun, "air_quality_daily")
    assert _succeeded_steps(runs.lake, rerun["run_id"]) == sorted(STEPS["air_quality_daily"])
    assert _data(runs.versions[2]) == _data(runs.versions[1])
    assert set(runs.versions[2]) == set(runs.versions[1])
