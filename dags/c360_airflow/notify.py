"""Alerts for c360 runs: always a log line, then a webhook post and an e-mail when configured.

Two events alert: a task's final failure (its retries ran out) and a missed DAG deadline.
The webhook comes from the Airflow Variable ``c360_alert_webhook_url`` or, failing that, the
Connection ``c360_alert_webhook`` (its password, if set, is sent as a bearer token). E-mail goes
through Airflow's SMTP support (the SMTP provider's ``SmtpHook``) over the Connection
``c360_alert_smtp`` to the addresses in the Variable ``c360_alert_email_to`` (or the
connection's extra ``"to"``). Nothing is hard-coded, and nothing is looked up at parse time:
the lookup happens when something has gone wrong. A broken channel never masks the task's own
failure or the other channel: sending errors are logged, not raised.
"""

from __future__ import annotations

import html
import json
import logging
import urllib.request
from typing import Any

from airflow.sdk import BaseNotifier, Connection, Variable

log = logging.getLogger(__name__)

WEBHOOK_VARIABLE = "c360_alert_webhook_url"
WEBHOOK_CONNECTION = "c360_alert_webhook"
SMTP_CONNECTION = "c360_alert_smtp"
EMAIL_TO_VARIABLE = "c360_alert_email_to"
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
        "error": last_line(exception),
        "log_url": log_url,
    }
    text = f"c360 task failed: {dag_id}.{task_id} for {fields['logical_date'] or 'no date'}"
    if fields["try_number"]:
        text += f" (try {fields['try_number']})"
    if fields["error"]:
        text += f": {fields['error']}"
    return {"text": text, **fields}


def last_line(exception: BaseException | str | None) -> str | None:
    """The error's last non-empty line, prefixed with its type: what a person reads first."""
    if exception is None:
        return None
    if isinstance(exception, str):
        lines = [ln.strip() for ln in exception.splitlines() if ln.strip()]
        return lines[-1] if lines else None
    lines = [ln.strip() for ln in str(exception).splitlines() if ln.strip()]
    return f"{type(exception).__name__}: {lines[-1]}" if lines else type(exception).__name__


def email_recipients() -> list[str]:
    """Addresses from the Variable, else the SMTP connection's extra ``"to"``; [] when unset."""
    value = _variable(EMAIL_TO_VARIABLE)
    if not value:
        try:
            value = Connection.get(SMTP_CONNECTION).extra_dejson.get("to")
        except Exception:  # no connection: e-mail is not configured
            value = None
    if isinstance(value, list | tuple):
        return [str(v).strip() for v in value if str(v).strip()]
    return [a.strip() for a in str(value or "").replace(";", ",").split(",") if a.strip()]


def _smtp_configured() -> bool:
    try:
        return bool(Connection.get(SMTP_CONNECTION).host)
    except Exception:  # AirflowNotFoundException and friends: not configured
        return False


def email_body(fields: dict[str, Any]) -> str:
    """An HTML body listing every field (escaped: an error line can hold anything)."""
    rows = "".join(
        f"<tr><th align='left'>{html.escape(k)}</th><td><code>{html.escape(str(v))}</code></td></tr>"
        for k, v in fields.items()
    )
    link = fields.get("log_url")
    tail = f"<p><a href='{html.escape(str(link), quote=True)}'>task log</a></p>" if link else ""
    return f"<p>{html.escape(str(fields.get('text', '')))}</p><table>{rows}</table>{tail}"


def send_email(subject: str, fields: dict[str, Any]) -> bool:
    """E-mail the alert through the SMTP connection; False (and nothing sent) when unconfigured."""
    recipients = email_recipients()
    if not recipients or not _smtp_configured():
        log.info("no alert e-mail configured (Connection %s and Variable %s)", SMTP_CONNECTION, EMAIL_TO_VARIABLE)
        return False
    from airflow.providers.smtp.hooks.smtp import SmtpHook  # imported on alert only, never at parse time

    try:
        with SmtpHook(smtp_conn_id=SMTP_CONNECTION) as hook:
            hook.send_email_smtp(
                to=recipients,
                subject=subject,
                html_content=email_body(fields),
                from_email=hook.from_email or "c360-airflow@localhost",
            )
    except Exception as exc:
        log.error("alert e-mail failed: %s: %s", type(exc).__name__, exc)
        return False
    log.info("alert e-mailed to %s", ", ".join(recipients))
    return True


def post_json(url: str, body: dict[str, Any], token: str | None = None) -> int:
    """POST ``body`` as JSON with the standard library (no provider package needed); returns the status."""
    headers = {"Content-Type": "application/json", "User-Agent": "c360-airflow-alerts"}
    if token:
        headers["Authorization"] = f"Bearer {token}"
    request = urllib.request.Request(url, data=json.dumps(body).encode(), headers=headers, method="POST")
    with urllib.request.urlopen(request, timeout=POST_TIMEOUT_SECONDS) as response:  # noqa: S310 - configured URL
        return int(response.status)


def post_webhook(body: dict[str, Any]) -> bool:
    """Post the alert to the webhook; False (and nothing sent) when unconfigured or it failed."""
    target = webhook_target()
    if target is None:
        log.info("no alert webhook configured (Variable %s or Connection %s)", WEBHOOK_VARIABLE, WEBHOOK_CONNECTION)
        return False
    url, token = target
    try:
        status = post_json(url, body, token)
    except Exception as exc:
        log.error("alert webhook post failed: %s: %s", type(exc).__name__, exc)
        return False
    log.info("alert posted to the webhook (HTTP %s)", status)
    return True


def alert(subject: str, body: dict[str, Any]) -> None:
    """Every channel, each on its own: a failing webhook does not stop the e-mail."""
    log.error("%s", body["text"])
    post_webhook(body)
    send_email(subject, body)


class FailureNotifier(BaseNotifier):
    """``on_failure_callback`` for every c360 task (it runs once the retries ran out): log the
    failure, post it to the webhook, e-mail it."""

    def notify(self, context: Any) -> None:
        body = alert_payload(context)
        subject = f"[c360] {body['dag_id']}.{body['task_id']} failed for {body['logical_date'] or 'no date'}"
        if body["try_number"]:
            subject += f" (try {body['try_number']})"
        alert(subject, body)


def deadline_payload(context: dict[str, Any]) -> dict[str, Any]:
    """The fields of a missed deadline, from the context Airflow hands a deadline callback
    (the run as the REST API shows it, and the deadline)."""
    run = context.get("dag_run") or {}
    deadline = context.get("deadline") or {}
    fields = {
        "dag_id": run.get("dag_id"),
        "run_id": run.get("dag_run_id") or run.get("run_id"),
        "logical_date": run.get("logical_date"),
        "state": run.get("state"),
        "deadline": str(deadline.get("deadline_time")) if deadline.get("deadline_time") else None,
    }
    text = (
        f"c360 deadline missed: {fields['dag_id']} for {fields['logical_date'] or 'no date'} "
        f"had not finished by {fields['deadline']} (run {fields['run_id']}, {fields['state']})"
    )
    return {"text": text, **fields}


def deadline_missed(context: dict[str, Any] | None = None, **_: Any) -> None:
    """The DAGs' deadline callback (``DeadlineAlert``): alert on every configured channel."""
    body = deadline_payload(context or {})
    alert(f"[c360] {body['dag_id']} late for {body['logical_date'] or 'no date'}: deadline {body['deadline']}", body)
