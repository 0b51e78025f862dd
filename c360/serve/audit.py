"""The audit trail: who read what, at which version, appended to an ops table in batches.

Requests only put a record on an in-memory queue; a background thread appends the queue
to ``ops.serve.audit`` with delta-rs every few seconds (or when a batch fills), so auditing
adds no lake write to a request. Exports carry their table, version and SHA-256, so an
erasure report can list every file handed out before the request.
"""

from __future__ import annotations

import itertools
import logging
import queue
import threading
import time
import uuid
from dataclasses import asdict, dataclass, field
from datetime import UTC, date, datetime
from pathlib import Path

from pyspark.sql import types as T

from c360.access import redact_secrets
from c360.registry import PLATFORM, SUBJECT, Retention, Table, column
from c360.storage.locks import LakeBusyError

log = logging.getLogger(__name__)

AUDIT_TABLE = Table(
    name="ops.serve.audit",
    schema=T.StructType(
        [
            column("request_id", T.StringType(), "id of the request (also the X-Request-ID header)", nullable=False),
            column("at", T.TimestampType(), "when the request arrived (UTC)", nullable=False),
            column("day", T.DateType(), "UTC date of at (partition)", nullable=False),
            column("key_id", T.StringType(), "API key id of the caller; NULL when no valid key was sent"),
            column("role", T.StringType(), "role of the caller; NULL when not authenticated"),
            column("method", T.StringType(), "HTTP method (CLI for command-line exports)", nullable=False),
            column("endpoint", T.StringType(), "route template, e.g. /v1/customers/{customer_id}", nullable=False),
            column("target", T.StringType(), "path and query string as asked", nullable=False, tags=(SUBJECT,)),
            column("sql", T.StringType(), "the SQL text of a /v1/sql request", tags=(SUBJECT,)),
            column("tables", T.ArrayType(T.StringType(), False), "tables read, as name@version"),
            column("rows", T.LongType(), "rows returned (or exported)"),
            column("status", T.IntegerType(), "HTTP status", nullable=False),
            column("duration_ms", T.DoubleType(), "time to the response head, in milliseconds"),
            column("error", T.StringType(), "the error message of a refused or failed request", tags=(SUBJECT,)),
            column("export_table", T.StringType(), "table exported"),
            column("export_version", T.LongType(), "version exported"),
            column("export_format", T.StringType(), "parquet or csv"),
            column("export_sha256", T.StringType(), "SHA-256 of the exported file"),
        ]
    ),
    description="Every request to the serving API and every export: who, when, what, which table versions, "
    "rows, status. Written in batches by the server.",
    grain="one row per request",
    keys=("request_id",),
    product=PLATFORM,
    owner="platform",
    partition_by=("day",),
    retention=Retention(rows_days=400, row_date="day"),
)


WITHHELD = "(withheld: in flight while an erasure ran)"
_PROCESS = uuid.uuid4().hex[:16]
_SEQUENCE = itertools.count(1)


def next_request_id() -> str:
    """32 hex characters, unique across processes: a random per-process prefix and a counter.

    A uuid4 per request reads the kernel's random source every time, which cost more than
    a profile lookup under load; uniqueness is all the audit needs."""
    return f"{_PROCESS}{next(_SEQUENCE):016x}"


@dataclass
class AuditRecord:
    method: str
    endpoint: str
    target: str
    status: int = 0
    key_id: str | None = None
    role: str | None = None
    sql: str | None = None
    tables: list[str] = field(default_factory=list)
    rows: int | None = None
    duration_ms: float | None = None
    error: str | None = None
    export_table: str | None = None
    export_version: int | None = None
    export_format: str | None = None
    export_sha256: str | None = None
    request_id: str = field(default_factory=lambda: next_request_id())
    at: datetime = field(default_factory=lambda: datetime.now(UTC))

    def read(self, versions: dict[str, int]) -> None:
        """Note the tables (and versions) this request read."""
        for name, version in versions.items():
            entry = f"{name}@{version}"
            if entry not in self.tables:
                self.tables.append(entry)

    def withhold(self) -> None:
        """Drop what may name a customer (the path, the SQL, the error's text): the request was
        in flight while an erasure ran, which could not see it (:class:`AuditWriter`)."""
        self.target = f"{self.endpoint} {WITHHELD}"
        self.sql = None
        self.error = None

    def row(self) -> dict[str, object]:
        values = asdict(self)
        values["target"] = redact_secrets(self.target, url=True)
        for text in ("sql", "error"):
            if values[text] is not None:
                values[text] = redact_secrets(values[text])
        values["day"] = date(self.at.year, self.at.month, self.at.day)
        return values


class AuditWriter:
    """Collects records and appends them to the audit table in batches from one thread.

    An append holds the lake's pipeline lock shared, so it never lands while an erasure (which
    holds it exclusively) reads and rewrites this table: such a batch was never read by the
    erasure and kept the subject's requests. A batch that finds an erasure running waits for
    the next flush. Records taken before an erasure ended are appended after it, and may name
    its subject, whom this process cannot recognise (it has no pseudonym key): when the
    erasures table has a new version since the last append, those records keep their endpoint,
    status, tables and export, and withhold their path, SQL and error text."""

    def __init__(self, lake_root: Path, *, flush_seconds: float = 2.0, batch_size: int = 500) -> None:
        self.lake_root = Path(lake_root)
        self.flush_seconds = flush_seconds
        self.batch_size = batch_size
        self._queue: queue.Queue[AuditRecord] = queue.Queue()
        self._stop = threading.Event()
        self._flushing = threading.Lock()
        self._thread: threading.Thread | None = None
        self.written = 0
        self.failures = 0
        self.deferred = 0  # flushes put off because an erasure held the lake
        self._erasures = self._erasures_version()

    def start(self) -> None:
        from c360.storage.light import ensure

        ensure(AUDIT_TABLE, self.lake_root)
        self._thread = threading.Thread(target=self._run, name="c360-audit", daemon=True)
        self._thread.start()

    def record(self, rec: AuditRecord) -> None:
        self._queue.put(rec)

    def _run(self) -> None:
        while not self._stop.wait(self.flush_seconds):
            self.flush()

    def flush(self) -> int:
        """Append every queued record now (one commit per batch); returns how many were written."""
        with self._flushing:
            done = 0
            while True:
                batch: list[AuditRecord] = []
                while len(batch) < self.batch_size:
                    try:
                        batch.append(self._queue.get_nowait())
                    except queue.Empty:
                        break
                if not batch:
                    return done
                try:
                    from c360.storage.light import append_rows
                    from c360.storage.locks import PIPELINE_LOCK, lake_locks

                    with lake_locks(self.lake_root, [], "serving audit append", shared=[PIPELINE_LOCK]):
                        erasures = self._erasures_version()
                        if erasures != self._erasures:
                            for r in batch:
                                r.withhold()
                        append_rows(self.lake_root, AUDIT_TABLE.name, [r.row() for r in batch], operation="audit")
                        self._erasures = erasures
                except LakeBusyError:
                    self.deferred += 1
                    log.info("an erasure holds the lake; %d audit records kept for the next flush", len(batch))
                    for r in batch:
                        self._queue.put(r)
                    return done
                except Exception:  # noqa: BLE001 - keep the records and retry at the next flush
                    self.failures += 1
                    log.exception("audit append failed; %d records kept for the next flush", len(batch))
                    for r in batch:
                        self._queue.put(r)
                    return done
                done += len(batch)
                self.written += len(batch)

    def _erasures_version(self) -> int | None:
        from c360.privacy.erase import AUDIT_TABLE as ERASURES
        from c360.storage import LakeCatalog, TableNotFoundError

        try:
            return LakeCatalog(self.lake_root).version(ERASURES)
        except TableNotFoundError:
            return None

    def close(self, wait_seconds: float = 60.0) -> None:
        """Stop the thread and append what is queued, retrying for up to ``wait_seconds`` while
        an erasure holds the lake (or an append fails): records still queued when the process
        ends are lost."""
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=10)
        deadline = time.monotonic() + wait_seconds
        self.flush()
        while not self._queue.empty() and time.monotonic() < deadline:
            time.sleep(0.5)
            self.flush()
        if not self._queue.empty():
            log.error("%d audit records were not written: the lake stayed locked or the appends failed", self.pending)

    @property
    def pending(self) -> int:
        """Records queued and not yet appended."""
        return self._queue.qsize()
