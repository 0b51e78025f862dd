"""Failure alerts for c360 tasks: always a log line, and a webhook post when one is configured.

The webhook comes from the Airflow Variable ``c360_alert_webhook_url`` or, failing that, the
Connection ``c360_alert_webhook`` (its password, if set, is sent as a bearer token). Nothing is
hard-coded, and nothing is looked up at parse time: the lookup happens when a task has failed.
A broken webhook never masks the task's own failure: posting errors are logged, not raised.
"""

from __future__ import annotations

import json
import logging
import urllib.request
from typing import Any

from airflow.sdk import BaseNotifier, Connection, Variable

log = logging.getLogger(__name__)

WEBHOOK_VARIABLE = "c360_alert_webhook_url"
WEBHOOK_CONNECTION = "c360_alert_webhook"
POST_TIMEOUT_SECONDS = 10


def _variable(key: str) -> str | None:
    try:
        value = Variable.get(key, default=None)
    except Exception:  # no API server or secrets backend reachable: treat as unset
        return None
    return str(value) if value else None


def _connection_target(conn_id: str) -> tuple[str, str | None] | None:
    """URL and bearer token from the connection, or None when it does not exist."""
    try:
        conn = Connection.get(conn_id)
    except Exception:  # AirflowNotFoundException and friends: not configured
        return None
    host = conn.host or ""
    if not host:
        return None
    if "://" in host:
        url = host
    else:
        scheme = conn.conn_type if conn.conn_type in ("http", "https") else "https"
        port = f":{conn.port}" if conn.port else ""
        path = f"/{conn.schema.lstrip('/')}" if conn.schema else ""
        url = f"{scheme}://{host}{port}{path}"
    return url, conn.password or None


def webhook_target() -> tuple[str, str | None] | None:
    """Where alerts go: ``(url, bearer token or None)``, or None when no webhook is configured."""
    url = _variable(WEBHOOK_VARIABLE)
    if url:
        return url, None
    return _connection_target(WEBHOOK_CONNECTION)


def alert_payload(context: Any) -> dict[str, Any]:
    """A Slack/Teams/Mattermost-compatible body (``text``) plus the fields a bot would want."""
    ti = context.get("ti") or context.get("task_instance")
    dag_id = getattr(ti, "dag_id", None) or getattr(context.get("dag"), "dag_id", "?")
    task_id = getattr(ti, "task_id", None) or getattr(context.get("task"), "task_id", "?")
    logical_date = context.get("logical_date")
    exception = context.get("exception")
    try:
        log_url = getattr(ti, "log_url", None)
    except Exception:  # log_url needs the webserver base URL; an alert without it is still useful
        log_url = None
    fields = {
        "dag_id": dag_id,
        "task_id": task_id,
        "run_id": context.get("run_id") or getattr(ti, "run_id", None),
        "logical_date": logical_date.isoformat() if logical_date else None,
        "try_number": getattr(ti, "try_number", None),
        "error": f"{type(exception).__name__}: {exception}" if exception else None,
        "log_url": log_url,
    }
    text = f"c360 task failed: {dag_id}.{task_id} for {fields['logical_date'] or 'no date'}"
    if fields["try_number"]:
        text += f" (try {fields['try_number']})"
    if fields["error"]:
        text += f": {fields['error']}"
    return {"text": text, **fields}


def post_json(url: str, body: dict[str, Any], token: str | None = None) -> int:
    """POST ``body`` as JSON with the standard library (no provider package needed); returns the status."""
    headers = {"Content-Type": "application/json", "User-Agent": "c360-airflow-alerts"}
    if token:
        headers["Authorization"] = f"Bearer {token}"
    request = urllib.request.Request(url, data=json.dumps(body).encode(), headers=headers, method="POST")
    with urllib.request.urlopen(request, timeout=POST_TIMEOUT_SECONDS) as response:  # noqa: S310 - configured URL
        return int(response.status)


class FailureNotifier(BaseNotifier):
    """``on_failure_callback`` for every c360 task: log the failure, then post it to the webhook."""

    def notify(self, context: Any) -> None:
        body = alert_payload(context)
        log.error("%s", body["text"])
        target = webhook_target()
        if target is None:
            log.info("no alert webhook configured (Variable %s or Connection %s)", WEBHOOK_VARIABLE, WEBHOOK_CONNECTION)
            return
        url, token = target
        try:
            status = post_json(url, body, token)
        except Exception as exc:
            log.error("alert webhook post failed: %s: %s", type(exc).__name__, exc)
            return
        log.info("alert posted to the webhook (HTTP %s)", status)
