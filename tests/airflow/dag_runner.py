"""Run one project DAG for one logical date with ``dag.test()``, in a process of its own.

``python -m tests.airflow.dag_runner DAG_ID YYYY-MM-DD[,YYYY-MM-DD...] OUT.json`` runs the dates
one after the other. The caller sets the Airflow home, database and Variables in the environment
(two of these may run at the same time, each with its own SQLite file). Writes, per date, the
run's state, each task's state and try number, and the end of every unsuccessful task's log to
OUT.json.
"""

from __future__ import annotations

import json
import sys
from datetime import UTC, date, datetime
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
DAGS = REPO / "dags"


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


def main(dag_id: str, days: str, out: str) -> None:
    from airflow.dag_processing.dagbag import BundleDagBag

    dag = BundleDagBag(dag_folder=str(DAGS), bundle_path=DAGS, bundle_name="dags-folder").dags[dag_id]
    results = {}
    for day in days.split(","):
        d = date.fromisoformat(day)
        run = dag.test(logical_date=datetime(d.year, d.month, d.day, tzinfo=UTC))
        results[day] = {
            "run_id": run.run_id,
            "state": str(run.state),
            "tasks": {ti.task_id: [str(ti.state), ti.try_number] for ti in run.get_task_instances()},
            "logs": _failed_logs(run),
        }
        if run.state != "success":
            break  # a later date depends on this one
    Path(out).write_text(json.dumps(results))


if __name__ == "__main__":
    main(*sys.argv[1:4])
