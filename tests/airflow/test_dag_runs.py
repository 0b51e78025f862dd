"""Both product DAGs end to end with ``dag.test()``: every step a real spark-submit over mock_data.

One lake and one Airflow home for the module; each DAG runs in a process of its own, both
started at once into an empty lake, for 2024-01-01 (``c360_daily`` and ``air_quality_daily``).

So the two DAGs run the same date at the same time (both must succeed at their first try:
they no longer share a table, so there is no commit conflict and no retry); the air-quality
DAG ends while the retail DAG is still sanitizing or modelling. (A second air-quality date in
the same process cost three more spark-submit jobs, about a minute of the suite, for what the
session's published lake, built with one air-quality run per date, shows in process.)

Then the tables are checked against what the two give run one after the other:

- The retail DAG's raw, sanitized and quarantine tables hold exactly the rows of the session's
  ``mock_retail_lake`` for that date (all of mock_data's retail extracts ingested and sanitized
  in one process; a date's partitions depend only on the extracts up to it), and every value it
  sealed in the vault is one that lake sealed. Read with delta-rs: no Spark job.
- Each DAG's publishing step is re-run for the date, one after the other, in this test's
  Spark session through the same functions its tasks call (``c360.pipeline``, with the DAG's
  source group): the retail model, and the whole air-quality DAG (ingest, sanitize, air
  quality). A re-run that finds nothing to change in any data table is the check that the
  concurrent runs left the tables a sequential run would. (Re-running the retail ingest and
  sanitize as well cost 1.5 minutes for what the comparison above checks row by row.)

The lake starts empty, not from ``published_lake``: that lake holds every mock date already,
so nothing would be written concurrently, and the air-quality product needs the station list
only the first day delivers. The ops tier is excluded by design: the run log gains rows with
every run, which is how the test knows the re-runs happened.
"""

from __future__ import annotations

import json
import os
import re
import sqlite3
import subprocess
import sys
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import date
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from c360.lake import Lake
from tests.conftest import MOCK_KEY, MockRetailLake
from tests.enhanced.star_checks import INGESTED_TIERS, ingested_rows, row_set

pytestmark = pytest.mark.slow

REPO = Path(__file__).resolve().parents[2]
STEPS = {"c360_daily": ("ingest", "sanitize", "model"), "air_quality_daily": ("ingest", "sanitize", "air_quality")}
RERUN_STEPS = {"c360_daily": ("model",), "air_quality_daily": STEPS["air_quality_daily"]}
RUN_TIMEOUT = 1500
WHY_A_TRY_ENDED = re.compile(r"error|exception|traceback|killed|signal|exit|retry|fail", re.IGNORECASE)
D1 = "2024-01-01"  # mock_data's first day (it carries the station list)


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
    results: dict[str, dict]  # {dag_id: {date: dag_runner's result}}
    after_dags: dict[str, int]  # every table's version after both DAG processes ended
    after_reruns: dict[str, int]  # ... and after the in-process re-runs
    reruns: dict[str, str]  # dag_id -> run id of its in-process re-run
    retail_differences: dict[str, list[str]]  # the retail DAG's ingested tiers against mock_retail_lake


def _start(dag_id: str, day: str, home: Path, lake: Path, out: Path, err: Path) -> subprocess.Popen:
    """``dag.test()`` of one DAG in its own process, with its own copy of the migrated database
    (two writers on one SQLite file would lock each other out) and the lake as Variables."""
    db = home / f"{dag_id}.db"
    env = os.environ | {
        "AIRFLOW__DATABASE__SQL_ALCHEMY_CONN": f"sqlite:///{db}",
        "AIRFLOW_VAR_C360_LAKE_ROOT": str(lake),
        "AIRFLOW_VAR_C360_SOURCE_DIR": str(REPO / "mock_data"),
        "AIRFLOW_VAR_C360_SPARK_MASTER": "local[2]",
        "AIRFLOW_VAR_C360_SPARK_DRIVER_MEMORY": "2g",
        # Each job is a fresh JVM over a day of mock data, which the operator starts compiling
        # with C1 only (c360_airflow.steps.task_jit, tests/airflow/test_dags.py).
        # A JVM that dies (a task then fails with Py4J's "Connection refused") leaves its crash
        # report here, where a failing assertion shows it, not in the task's deleted temporary folder.
        "AIRFLOW_VAR_C360_SPARK_JAVA_OPTIONS": f"-XX:ErrorFile={home}/hs_err_%p.log",
        "C360_LAKE_ROOT": str(lake.parent / "not-this-lake"),  # a Variable beats the environment
        "C360_PSEUDONYM_KEY": MOCK_KEY.decode(),  # the key mock_retail_lake sealed with (a secret in the environment)
        "C360_SPARK_SHUFFLE_PARTITIONS": "2",
        "C360_SPARK_UI": "false",
        # dag.test() in Airflow 3.3.2 fails a successful run of a DAG with a deadline (test_alerts covers it).
        "C360_DEADLINE_ALERTS": "off",
        "PYTHONPATH": os.pathsep.join([str(REPO), str(REPO / "dags")]),
    }
    cmd = [sys.executable, "-m", "tests.airflow.dag_runner", dag_id, day, str(out)]
    # Output to files, not pipes: an unread pipe that fills up would stall the other process.
    # dag.test() logs its tasks (the jobs' output included) to stdout: kept for a failing assertion.
    with err.open("w") as stderr, err.with_suffix(".out").open("w") as stdout:
        return subprocess.Popen(cmd, cwd=REPO, env=env, stdout=stdout, stderr=stderr)


def _round(runs: dict[str, str], home: Path, lake: Path, name: str) -> Callable[[], dict[str, dict]]:
    """Start every DAG's dates (``"D1,D2"`` runs them in order) at once; the returned function waits
    for them and gives ``{dag_id: {date: result}}``."""
    outs = {dag_id: home / f"{name}-{dag_id}.json" for dag_id in runs}
    errs = {dag_id: home / f"{name}-{dag_id}.err" for dag_id in runs}
    procs = {dag_id: _start(dag_id, days, home, lake, outs[dag_id], errs[dag_id]) for dag_id, days in runs.items()}

    def wait() -> dict[str, dict]:
        results = {}
        for dag_id, proc in procs.items():
            proc.wait(timeout=RUN_TIMEOUT)
            assert proc.returncode == 0 and outs[dag_id].exists(), (
                f"{name} {dag_id} exited {proc.returncode}:\n{errs[dag_id].read_text()[-3000:]}"
            )
            results[dag_id] = json.loads(outs[dag_id].read_text())
        return results

    return wait


def _rerun(spark: object, lake: Path, dag_id: str, day: date) -> str:
    """The DAG's ``RERUN_STEPS`` for ``day`` again, as its tasks call them (same functions, same
    source group, settings from the same environment), logged under a run id of their own."""
    from c360.pipeline import RunContext, air_quality_step, ingest_step, model_step, sanitize_step
    from c360.settings import load_settings

    settings = load_settings(lake_root=lake, pseudonym_key=MOCK_KEY.decode())
    ctx = RunContext.create(settings, spark, f"rerun-{dag_id}-{day}")  # type: ignore[arg-type]
    sources = "retail" if dag_id == "c360_daily" else "air_quality"
    steps = {
        "ingest": lambda: ingest_step(ctx, REPO / "mock_data", day, sources),
        "sanitize": lambda: sanitize_step(ctx, [day], sources),
        "model": lambda: model_step(ctx, [day]),
        "air_quality": lambda: air_quality_step(ctx, [day]),
    }
    for name in RERUN_STEPS[dag_id]:
        ctx.step(name, day, steps[name])
    return ctx.run_id


def _retail_differences(lake: Path, reference: Path, day: date) -> dict[str, list[str]]:
    """Where the retail tables of the raw, sanitized and quarantine tiers of ``lake`` (which
    ingested ``day`` alone) differ from ``reference``'s rows for ``day``, and the values ``lake``
    sealed that ``reference`` did not: ``{}`` when there is no difference."""
    ours, theirs = Lake(lake), Lake(reference)

    def retail(of: Lake) -> set[str]:
        return {n for n in of.names() if n.split(".")[0] in INGESTED_TIERS and not _is_air_quality(n)}

    differences = {
        "tables only in the DAG's lake": sorted(retail(ours) - retail(theirs)),
        "tables whose rows differ": sorted(
            n for n in retail(theirs) if ingested_rows(theirs, n, [day]) != ingested_rows(ours, n)
        ),
    }
    sealed = row_set(ours, "vault.pii.values")
    if not sealed:
        differences["vault"] = ["the DAG sealed no value"]
    elif unknown := sealed - row_set(theirs, "vault.pii.values"):
        differences["vault"] = [f"{len(unknown)} values the reference did not seal"]
    return {what: names for what, names in differences.items() if names}


@pytest.fixture(scope="module")
def runs(
    airflow_db: Path, spark: object, tmp_path_factory: pytest.TempPathFactory, request: pytest.FixtureRequest
) -> Iterator[Runs]:
    from airflow.configuration import conf

    home = tmp_path_factory.mktemp("dag-runs")
    lake = home / "lake"
    migrated = Path(conf.get("database", "sql_alchemy_conn").removeprefix("sqlite:///"))
    for dag_id in STEPS:
        # SQLite's backup API, not a file copy: the migrated schema may still sit in the WAL file.
        with sqlite3.connect(migrated) as src, sqlite3.connect(home / f"{dag_id}.db") as dst:
            src.backup(dst)
    results = _round({"c360_daily": D1, "air_quality_daily": D1}, home, lake, "dags")()
    after_dags = _versions(lake)
    # Asked for only now: the other pytest worker builds it meanwhile, and the DAGs must not wait.
    reference: MockRetailLake = request.getfixturevalue("mock_retail_lake")
    retail = _retail_differences(lake, reference.root, date.fromisoformat(D1))
    reruns = {
        "c360_daily": _rerun(spark, lake, "c360_daily", date.fromisoformat(D1)),
        "air_quality_daily": _rerun(spark, lake, "air_quality_daily", date.fromisoformat(D1)),
    }
    yield Runs(lake, results, after_dags, _versions(lake), reruns, retail)


def _assert_first_try_success(result: dict, dag_id: str, home: Path) -> None:
    tasks = result["tasks"]
    # Why a try ended, which a retry hides: JVM crash reports, and the lines of the DAG process's
    # output (dag.test() logs its tasks there, not to log files) that name an error, kill or retry.
    crashes = ["\n".join(f.read_text().splitlines()[:40]) for f in sorted(home.glob("hs_err_*.log"))]
    output = home / f"dags-{dag_id}.out"
    lines = output.read_text(errors="replace").splitlines() if output.exists() else []
    why = "\n".join([*crashes, *(line[:500] for line in lines if WHY_A_TRY_ENDED.search(line))][-60:])
    assert result["state"] == "success", f"{result['run_id']}: {tasks}\n{result['logs']}\n{why}"
    assert tasks == {t: ["success", 1] for t in STEPS[dag_id]}, f"{tasks}\n{result['logs']}\n{why}"


def test_both_dags_for_one_date_at_the_same_time_succeed_at_their_first_try(runs: Runs, dagbag: object) -> None:
    for dag_id in STEPS:
        result = runs.results[dag_id][D1]
        _assert_first_try_success(result, dag_id, runs.lake.parent)
        # Each task ran its own job with the Airflow run id (the job's --run-id).
        assert _succeeded_steps(runs.lake, result["run_id"]) == sorted(STEPS[dag_id])
    assert not (runs.lake.parent / "not-this-lake").exists()
    tables = runs.after_dags
    assert {"raw", "sanitized", "enhanced", "ops"} <= {n.split(".")[0] for n in tables}
    # Each DAG wrote its own sources: both domains' raw and sanitized tables exist.
    for tier in ("raw", "sanitized"):
        assert any(n.startswith(f"{tier}.air_quality.") for n in tables)
        assert any(n.startswith(f"{tier}.") and not _is_air_quality(n) for n in tables)
    # The Assets on the publishing tasks are exactly the enhanced tables written.
    outlets = {
        a.name
        for dag_id, task in (("c360_daily", "model"), ("air_quality_daily", "air_quality"))
        for a in dagbag.dags[dag_id].get_task(task).outlets  # type: ignore[attr-defined]
    }
    assert {n for n in tables if n.startswith("enhanced.")} == outlets
    # The retail DAG ingested and sanitized what one process does with the same extracts.
    assert runs.retail_differences == {}


def test_the_air_quality_run_publishes_its_local_day_and_a_rerun_of_each_dag_changes_no_data_table(
    runs: Runs,
) -> None:
    from c360.storage import LakeCatalog

    # The run date published its own local day (the day before it) in the daily fact, no other.
    days = set(LakeCatalog(runs.lake).row_counts("enhanced.air_quality.fct_aqi_daily", "date"))
    assert days == {"2023-12-31"}, days
    # The re-runs executed every step (the run log has them) and changed no data table.
    for dag_id, run_id in runs.reruns.items():
        assert _succeeded_steps(runs.lake, run_id) == sorted(RERUN_STEPS[dag_id])
    assert set(runs.after_reruns) == set(runs.after_dags)
    assert _data(runs.after_reruns) == _data(runs.after_dags)
