"""E-mail alerts and deadline alerts under ``dag.test()``, with the c360 task policy.

The e-mail goes through Airflow's SMTP support (the SMTP provider's hook) to a local SMTP server
the test starts on 127.0.0.1, configured the way a deployment would: the Connection
``c360_alert_smtp`` and the Variable ``c360_alert_email_to`` (both from the environment here).
The deadline is the DAGs' own ``DeadlineAlert`` factory, shortened to about a second.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from tests.airflow.conftest import TEST_DAGS
from tests.airflow.smtp_sink import Sink, smtp_sink

PROBE_DAG = '''
"""Test-only DAG: the c360 task policy with a one-second backoff, one broken and one fine task."""
from datetime import datetime, timedelta

from airflow.providers.standard.operators.bash import BashOperator
from airflow.sdk import DAG
from c360_airflow.steps import SparkStepOperator, deadline, default_args

args = default_args() | {"retry_delay": timedelta(seconds=1), "max_retry_delay": timedelta(seconds=2)}
with DAG("c360_email_probe", schedule=None, start_date=datetime(2024, 1, 1), default_args=args, tags=["test"]):
    # The step operator: its failure carries the command's last output line, as a job's "error: ..." line.
    SparkStepOperator(
        task_id="broken", bash_command="echo working; echo 'error: OSError: disk full' >&2; exit 3", retries=1
    )
    BashOperator(task_id="fine", bash_command="echo ok")

with DAG(
    "c360_deadline_probe",
    schedule=None,
    start_date=datetime(2024, 1, 1),
    default_args=args,
    deadline=deadline("c360_deadline_probe", timedelta(hours=1)),
    tags=["test"],
):
    BashOperator(task_id="late", bash_command="true")
'''


@pytest.fixture(scope="module")
def probe_dags(airflow_db: Path) -> Iterator[dict[str, object]]:
    """The probe DAGs. The deadline is read at parse time, and ``dag.test()`` re-parses the whole
    bundle, so the shortened deadline stays in the environment while this module runs."""
    import os

    from airflow.dag_processing.dagbag import BundleDagBag

    (TEST_DAGS / "c360_alert_probes.py").write_text(PROBE_DAG)
    os.environ["C360_DEADLINE_MINUTES_C360_DEADLINE_PROBE"] = "0.03"  # 1.8 s
    try:
        bag = BundleDagBag(dag_folder=str(TEST_DAGS), bundle_path=TEST_DAGS, bundle_name="c360-test-dags")
        assert bag.import_errors == {}
        yield bag.dags
    finally:
        del os.environ["C360_DEADLINE_MINUTES_C360_DEADLINE_PROBE"]


@pytest.fixture
def smtp(monkeypatch: pytest.MonkeyPatch) -> Iterator[Sink]:
    """A local SMTP server, configured as the alert connection and recipients."""
    with smtp_sink() as sink:
        conn = {
            "conn_type": "smtp",
            "host": sink.host,
            "port": sink.port,
            "extra": {"disable_tls": True, "disable_ssl": True, "from_email": "c360@localhost", "retry_limit": 0},
        }
        monkeypatch.setenv("AIRFLOW_CONN_C360_ALERT_SMTP", json.dumps(conn))
        monkeypatch.setenv("AIRFLOW_VAR_C360_ALERT_EMAIL_TO", "ops@example.com, oncall@example.com")
        yield sink


def test_retries_running_out_e_mails_once_with_every_field_and_success_e_mails_nothing(
    probe_dags: dict[str, object], smtp: Sink, monkeypatch: pytest.MonkeyPatch
) -> None:
    run = probe_dags["c360_email_probe"].test(logical_date=datetime(2024, 1, 7, tzinfo=UTC))  # type: ignore[attr-defined]

    tis = {ti.task_id: ti for ti in run.get_task_instances()}
    assert (tis["broken"].state, tis["broken"].try_number) == ("failed", 2)
    assert tis["fine"].state == "success"
    # One e-mail: the broken task after its last try; its retried first try and the fine task send none.
    assert len(smtp.messages) == 1
    mail = smtp.messages[0]
    assert sorted(mail.recipients) == ["oncall@example.com", "ops@example.com"]
    assert mail.sender == "c360@localhost"
    assert mail.message["Subject"] == "[c360] c360_email_probe.broken failed for 2024-01-07T00:00:00+00:00 (try 2)"
    text = mail.text()
    for needle in (
        "c360_email_probe",  # DAG
        "broken",  # task
        "2024-01-07T00:00:00+00:00",  # logical date
        "<th align='left'>try_number</th><td><code>2</code>",  # try number
        "StepFailed: broken exited 3: error: OSError: disk full",  # the error's last line
        f"/dags/c360_email_probe/runs/{run.run_id.replace(':', '%3A').replace('+', '%2B')}/tasks/broken?try_number=2",
    ):
        assert needle in text, f"{needle!r} not in the e-mail:\n{text}"

    # Not configured: the same failure sends nothing (and the task still fails as itself).
    monkeypatch.delenv("AIRFLOW_CONN_C360_ALERT_SMTP")
    monkeypatch.delenv("AIRFLOW_VAR_C360_ALERT_EMAIL_TO")
    again = probe_dags["c360_email_probe"].test(logical_date=datetime(2024, 1, 8, tzinfo=UTC))  # type: ignore[attr-defined]
    assert {ti.task_id: ti.state for ti in again.get_task_instances()} == {"broken": "failed", "fine": "success"}
    assert len(smtp.messages) == 1


def _miss_deadlines(now: datetime | None = None) -> list[dict]:
    """What the scheduler does each loop (SchedulerJobRunner): mark deadlines expired at ``now``
    (the clock's time by default) missed and queue their callbacks; returns the queued callbacks' data."""
    from airflow.models import Deadline
    from airflow.utils.session import create_session
    from sqlalchemy import select

    queued = []
    with create_session() as session:
        now = now or datetime.now(UTC)
        for deadline in session.scalars(select(Deadline).where(Deadline.deadline_time < now, ~Deadline.missed)):
            deadline.handle_miss(session)
            queued.append(dict(deadline.callback.data))
    return queued


def test_a_run_past_its_deadline_raises_the_deadline_alert_once(probe_dags: dict[str, object], smtp: Sink) -> None:
    """The run is created the way the scheduler creates it (queued, from the serialized DAG in the
    database), which turns the DAG's DeadlineAlert into a deadline 1.8 s after queued-at; nothing
    runs it, so it is late, and the scheduler's miss handling queues the c360 callback."""
    import logging

    from airflow.dag_processing.dagbag import BundleDagBag, sync_bag_to_db
    from airflow.models import Deadline
    from airflow.models.serialized_dag import SerializedDagModel
    from airflow.sdk.execution_time.callback_supervisor import execute_callback
    from airflow.utils.session import create_session
    from airflow.utils.state import DagRunState
    from airflow.utils.types import DagRunTriggeredByType, DagRunType
    from sqlalchemy import select

    bag = BundleDagBag(dag_folder=str(TEST_DAGS), bundle_path=TEST_DAGS, bundle_name="c360-test-dags")
    bag.dags = {"c360_deadline_probe": probe_dags["c360_deadline_probe"]}
    sync_bag_to_db(bag, "c360-test-dags", None)
    logical = datetime(2024, 1, 10, tzinfo=UTC)
    with create_session() as session:
        dag = SerializedDagModel.get_dag("c360_deadline_probe", session=session)
        assert dag is not None and dag.deadline
        run = dag.create_dagrun(
            run_id="late_probe",
            logical_date=logical,
            data_interval=(logical, logical),
            run_after=logical,
            run_type=DagRunType.MANUAL,
            triggered_by=DagRunTriggeredByType.TEST,
            state=DagRunState.QUEUED,
            session=session,
        )
        session.flush()
        rows = session.scalars(select(Deadline).where(Deadline.dagrun_id == run.id)).all()
        assert len(rows) == 1
        deadline_time = rows[0].deadline_time
        assert abs((deadline_time - run.queued_at).total_seconds() - 1.8) < 0.01
    # The scheduler's loop at two moments, given rather than waited for: a slow machine could
    # otherwise pass the deadline before the first look.
    assert _miss_deadlines(deadline_time - timedelta(seconds=0.5)) == []  # not late yet
    queued = _miss_deadlines(deadline_time + timedelta(milliseconds=1))
    assert [q["path"] for q in queued] == ["c360_airflow.notify.deadline_missed"]
    assert queued[0]["kwargs"]["context"]["dag_run"]["dag_run_id"] == "late_probe"
    # The executor runs the callback by its import path, as here.
    ok, error = execute_callback(queued[0]["path"], queued[0]["kwargs"], None, None, logging.getLogger("test"))
    assert (ok, error) == (True, None)
    assert len(smtp.messages) == 1
    mail = smtp.messages[0]
    assert mail.message["Subject"].startswith("[c360] c360_deadline_probe late for 2024-01-10T00:00:00")
    assert "late_probe" in mail.text() and "deadline missed" in mail.text()
    assert _miss_deadlines() == []  # handled once
