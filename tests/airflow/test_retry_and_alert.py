"""Retries and alerts under ``dag.test()``, with the policy the c360 tasks use.

A tiny DAG in a test-only bundle has a task that fails on its first try and succeeds on the
retry, and one that always fails. The failure notifier posts to a local webhook configured as
an Airflow Variable: it must post exactly once, for the task that ran out of retries.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from datetime import UTC, datetime
from http.server import BaseHTTPRequestHandler, HTTPServer
from pathlib import Path

import pytest

from tests.airflow.conftest import TEST_DAGS

FLAKY_DAG = '''
"""Test-only DAG: the c360 task policy with a one-second backoff."""
from datetime import datetime, timedelta

from airflow.providers.standard.operators.bash import BashOperator
from airflow.sdk import DAG
from c360_airflow.steps import default_args

args = default_args() | {"retry_delay": timedelta(seconds=1), "max_retry_delay": timedelta(seconds=2)}
with DAG("c360_retry_probe", schedule=None, start_date=datetime(2024, 1, 1), default_args=args, tags=["test"]):
    BashOperator(
        task_id="flaky",
        # The first try leaves a marker and fails; the retry finds the marker and succeeds.
        bash_command='if [ -e "$MARKER" ]; then echo recovered; else touch "$MARKER"; exit 1; fi',
        env={"MARKER": "{{ var.value.c360_probe_marker }}"},
        append_env=True,
    )
    BashOperator(task_id="broken", bash_command="echo always broken; exit 3", retries=1, append_env=True)
'''


class _Webhook(BaseHTTPRequestHandler):
    received: list[dict] = []

    def do_POST(self) -> None:  # noqa: N802 - http.server's naming
        length = int(self.headers["Content-Length"])
        _Webhook.received.append(
            {"body": json.loads(self.rfile.read(length)), "authorization": self.headers.get("Authorization")}
        )
        self.send_response(204)
        self.end_headers()

    def log_message(self, *args: object) -> None:
        pass


@pytest.fixture
def webhook() -> Iterator[str]:
    _Webhook.received = []
    server = HTTPServer(("127.0.0.1", 0), _Webhook)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_port}/hook"
    server.shutdown()
    thread.join()


def test_a_task_that_fails_once_succeeds_on_retry_and_only_a_final_failure_alerts(
    airflow_db: Path, webhook: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from airflow.dag_processing.dagbag import BundleDagBag

    marker = tmp_path / "first-try-done"
    monkeypatch.setenv("AIRFLOW_VAR_C360_PROBE_MARKER", str(marker))
    monkeypatch.setenv("AIRFLOW_VAR_C360_ALERT_WEBHOOK_URL", webhook)
    (TEST_DAGS / "c360_retry_probe.py").write_text(FLAKY_DAG)
    bag = BundleDagBag(dag_folder=str(TEST_DAGS), bundle_path=TEST_DAGS, bundle_name="c360-test-dags")
    assert bag.import_errors == {}
    dag = bag.dags["c360_retry_probe"]

    run = dag.test(logical_date=datetime(2024, 1, 5, tzinfo=UTC))

    tis = {ti.task_id: ti for ti in run.get_task_instances()}
    assert (tis["flaky"].state, tis["flaky"].try_number) == ("success", 2)
    assert marker.exists()
    assert (tis["broken"].state, tis["broken"].try_number) == ("failed", 2)
    assert run.state == "failed"
    # One alert: the broken task after its last try; the flaky task's first failure was retried, not alerted.
    assert len(_Webhook.received) == 1
    alert = _Webhook.received[0]["body"]
    assert (alert["dag_id"], alert["task_id"], alert["try_number"]) == ("c360_retry_probe", "broken", 2)
    assert alert["logical_date"].startswith("2024-01-05")
    assert "exit code 3" in alert["error"]
    assert alert["text"].startswith("c360 task failed: c360_retry_probe.broken for 2024-01-05")
