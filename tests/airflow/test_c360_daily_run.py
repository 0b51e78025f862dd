"""c360_daily end to end with ``dag.test()``: every step as a real spark-submit over mock_data.

Run once for a date into a temporary lake, then again for the same date: the second run must
execute every step and change no table's version. The ops tier is the exception by design: the
run log gains one row per step and run, which is how this test knows the second run happened.
"""

from __future__ import annotations

from datetime import UTC, date, datetime
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

pytestmark = pytest.mark.slow

REPO = Path(__file__).resolve().parents[2]

RUN_DATE = date(2024, 1, 5)
STEPS = ("ingest", "sanitize", "model")


def _versions(lake: Path) -> dict[str, int]:
    from c360.storage import LakeCatalog

    catalog = LakeCatalog(lake)
    return {name: catalog.describe(name).version for name in catalog.list_tables()}


def _succeeded_steps(lake: Path, run_id: str) -> list[str]:
    """The steps the run log (``ops.pipeline.runs``) records as succeeded under ``run_id``."""
    from c360.storage import LakeCatalog

    dt = LakeCatalog(lake).open("ops.pipeline.runs")
    # file_uris + pyarrow rather than to_pyarrow_table (aborts at exit, STACK.md).
    rows = pa.concat_tables([pq.read_table(uri) for uri in dt.file_uris()]).to_pylist()
    return sorted(r["step"] for r in rows if r["run_id"] == run_id and r["status"] == "succeeded")


def _failed_logs(run: object) -> str:
    """The end of each unsuccessful task's log, so a failing assertion shows the job's own error line."""
    from airflow.configuration import conf

    base = Path(conf.get("logging", "base_log_folder"))
    out = []
    for ti in run.get_task_instances():  # type: ignore[attr-defined]
        if ti.state != "success":
            for log in sorted(base.glob(f"dag_id={ti.dag_id}/run_id={ti.run_id}/task_id={ti.task_id}/*.log")):
                out.append(f"--- {log.name} of {ti.task_id}:\n" + "\n".join(log.read_text().splitlines()[-15:]))
    return "\n".join(out)


def _dag_test(lake: Path) -> object:
    from airflow.dag_processing.dagbag import BundleDagBag
    from airflow.sdk import DagRunState

    # A private parse: retries are switched off below, which must not leak into the shared
    # DagBag that the policy tests read after this one.
    dags = REPO / "dags"
    dag = BundleDagBag(dag_folder=str(dags), bundle_path=dags, bundle_name="dags-folder").dags["c360_daily"]
    # A failure should surface now, not after minutes of backoff; retries have their own test.
    for task in dag.tasks:
        task.retries = 0
    run = dag.test(logical_date=datetime(RUN_DATE.year, RUN_DATE.month, RUN_DATE.day, tzinfo=UTC))
    states = {ti.task_id: ti.state for ti in run.get_task_instances()}
    assert run.state == DagRunState.SUCCESS, f"{run.run_id}: {states}\n{_failed_logs(run)}"
    assert states == dict.fromkeys(STEPS, "success")
    return run


def test_c360_daily_runs_end_to_end_and_a_rerun_changes_no_table(
    airflow_db: Path, dagbag: object, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    lake = tmp_path / "lake"
    # The lake comes in as an Airflow Variable (env-backed), the way a deployment configures it.
    monkeypatch.setenv("AIRFLOW_VAR_C360_LAKE_ROOT", str(lake))
    monkeypatch.setenv("AIRFLOW_VAR_C360_SOURCE_DIR", str(REPO / "mock_data"))
    monkeypatch.setenv("AIRFLOW_VAR_C360_SPARK_MASTER", "local[2]")
    monkeypatch.setenv("AIRFLOW_VAR_C360_SPARK_DRIVER_MEMORY", "2g")
    monkeypatch.setenv("C360_LAKE_ROOT", str(tmp_path / "not-this-lake"))  # a Variable beats the env
    monkeypatch.setenv("C360_SPARK_SHUFFLE_PARTITIONS", "2")
    monkeypatch.setenv("C360_SPARK_UI", "false")

    first = _dag_test(lake)
    assert not (tmp_path / "not-this-lake").exists()
    after_first = _versions(lake)
    tiers = {name.split(".")[0] for name in after_first}
    assert {"raw", "sanitized", "enhanced", "ops"} <= tiers
    # The Assets on the model task are exactly the enhanced tables it wrote.
    model_outlets = {a.name for a in dagbag.dags["c360_daily"].get_task("model").outlets}  # type: ignore[attr-defined]
    assert {n for n in after_first if n.startswith("enhanced.")} == model_outlets
    # Each task ran its own job with the Airflow run id (the job's --run-id).
    assert _succeeded_steps(lake, first.run_id) == sorted(STEPS)

    second = _dag_test(lake)
    assert second.run_id != first.run_id
    after_second = _versions(lake)
    data_tables = {n: v for n, v in after_first.items() if not n.startswith("ops.")}
    assert {n: v for n, v in after_second.items() if not n.startswith("ops.")} == data_tables
    assert set(after_second) == set(after_first)
    assert _succeeded_steps(lake, second.run_id) == sorted(STEPS)
