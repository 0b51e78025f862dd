"""Erasure on request: remove one customer from every tier and every retained version.

The plan (docs/privacy.md explains why each step is there):

1. **Find** what identifies the subject, from the lake itself: the rows naming them
   (columns tagged ``subject``, or named ``customer_id``), their surrogate keys
   (``customer_key`` of their dim_customer rows), rows linked to theirs through the
   contracts' foreign keys (their orders' lines, shipments, tracking events), and their
   tokens (every vault row of theirs, and the pii columns of all those rows). A token some
   other customer also holds (a shared family phone) stays: it is theirs as well.
2. **Rewrite** every table whose files hold any of it, one commit per table, without those
   rows (:func:`c360.storage.rewrite.rewrite_without`).
3. **Purge** exactly the replaced files and the files of earlier versions holding the
   subject (an explicit, audited zero-retention vacuum of those files only), then
   checkpoint each changed table and drop the log entries before it, so no statistic
   of a removed file survives in ``_delta_log``.
4. **Remember** the subject as keyed hashes (``ops.privacy.erased_subjects``) so ingest
   drops a re-sent extract's rows, and **audit** the request (``ops.privacy.erasure_requests``)
   without any PII: request ref, hashed subject, tables and versions, files and log entries
   removed, and the exports made before the request.

All of it is file-level pyarrow work with delta-rs commits: no Spark job, no JVM.
"""

from __future__ import annotations

import json
import os
import re
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq
from pyspark.sql import types as T

from c360.pii import VAULT_TABLE
from c360.privacy.erased import ERASED_TABLE, SUBJECT_KIND, key_hash, linked_kinds
from c360.registry import PLATFORM, SUBJECT, Table, column
from c360.storage import LakeCatalog
from c360.storage import rewrite as rw
from c360.storage.schema import column_tags

AUDIT_TABLE = "ops.privacy.erasure_requests"
DIM_CUSTOMER = "enhanced.customer.dim_customer"
SUBJECT_NAMES = ("customer_id",)  # subject columns of tables declared before the subject tag existed
KEY_NAMES = ("customer_key",)  # surrogate keys of the subject (from dim_customer)
TOKEN_NAMES = ("token",)  # the vault's token column

AUDIT_SCHEMA = T.StructType(
    [
        column("request_ref", T.StringType(), "the erasure request (ticket) reference", nullable=False),
        column("subject_hash", T.StringType(), "keyed hash of the customer id (as in erased_subjects)", nullable=False),
        column("requested_at", T.TimestampType(), "when the erasure ran (UTC)", nullable=False),
        column("table_name", T.StringType(), "table rewritten, or '-' for the request's summary row", nullable=False),
        column("version", T.LongType(), "the table version that no longer holds the subject"),
        column("rows_removed", T.LongType(), "rows of the subject removed from the latest version", nullable=False),
        column(
            "files_rewritten",
            T.ArrayType(T.StringType()),
            "live files replaced (relative paths); on the summary row, the lake files outside tables "
            "(Data Docs pages, lineage events) where the subject was redacted",
        ),
        column("files_purged", T.ArrayType(T.StringType()), "files deleted: replaced and earlier versions'"),
        column("log_entries_purged", T.LongType(), "log files before the erasure checkpoint deleted"),
        column("exports_before", T.ArrayType(T.StringType()), "exports recorded before the request (their ids)"),
    ]
)

AUDIT = Table(
    name=AUDIT_TABLE,
    schema=AUDIT_SCHEMA,
    description="Erasure requests and what each did, table by table; holds no personal data.",
    grain="one row per table an erasure changed, plus one summary row per request",
    keys=("request_ref", "table_name"),
    product=PLATFORM,
    owner="privacy-office",
)


class ErasureError(ValueError):
    """An erasure request that cannot run (nothing was changed)."""


# A started erasure's findings, kept under the lake root until it is recorded: an erasure
# interrupted half-way has removed rows through which a new search would find the rest (the
# subject's shipment ids, say, once the shipments are gone), so a second run of the same
# request resumes from them (``pending_path``).
PENDING_DIR = "_erasures"
TOKEN = re.compile("[0-9a-f]{64}")  # c360.pii.token: HMAC-SHA256 in hex


@dataclass
class Subject:
    """Everything that identifies one customer in the lake (in memory, and in the pending file
    of an erasure under way: ``PENDING_DIR``)."""

    customer_id: str
    keys: set[int] = field(default_factory=set)  # customer_key values
    linked: dict[str, set[str]] = field(default_factory=dict)  # column name -> key values of linked rows
    linked_kinds: dict[str, str] = field(default_factory=dict)  # column name -> kind (contract.column)
    candidates: set[str] = field(default_factory=set)  # tokens found in the subject's rows
    shared: set[str] = field(default_factory=set)  # ... that another customer's rows hold too
    contacts: set[str] = field(default_factory=set)  # their e-mails and phones in clear (the vault's)

    @property
    def tokens(self) -> set[str]:
        return self.candidates - self.shared

    @property
    def quoted(self) -> set[str]:
        """The clear values a free text may look them up by: their own e-mails and phones."""
        return self.contacts - self.shared

    def to_json(self) -> str:
        """What a resumed erasure searches from: keys, linked ids and tokens. Not the vault's
        clear values, which the candidates also hold: the pending file must not become a copy of
        them, and a resumed run finds the vault's rows by customer id or token."""
        return json.dumps(
            {
                "keys": sorted(self.keys),
                "linked": {c: sorted(v) for c, v in sorted(self.linked.items())},
                "linked_kinds": dict(sorted(self.linked_kinds.items())),
                "candidates": sorted(t for t in self.candidates if TOKEN.fullmatch(t)),
                "shared": sorted(t for t in self.shared if TOKEN.fullmatch(t)),
            }
        )

    @classmethod
    def from_json(cls, customer_id: str, text: str) -> Subject:
        data = json.loads(text)
        return cls(
            customer_id,
            set(data["keys"]),
            {c: set(v) for c, v in data["linked"].items()},
            dict(data["linked_kinds"]),
            set(data["candidates"]),
            set(data["shared"]),
        )


@dataclass(frozen=True)
class Columns:
    """The columns of one table that can identify a subject."""

    subject: tuple[str, ...]
    keys: tuple[str, ...]
    linked: tuple[str, ...]
    tokens: tuple[str, ...]
    vault: bool

    @property
    def all(self) -> list[str]:
        return list(dict.fromkeys((*self.subject, *self.keys, *self.linked, *self.tokens)))

    @property
    def identity(self) -> list[str]:
        return list(dict.fromkeys((*self.subject, *self.keys, *self.linked)))


@dataclass
class TableErasure:
    table: str
    version: int | None
    rows_removed: int
    files_rewritten: list[str]
    files_purged: list[str]
    log_entries_purged: int


@dataclass
class ErasureReport:
    request_ref: str
    subject_hash: str
    requested_at: datetime
    tables: list[TableErasure]
    exports_before: list[str]
    files_redacted: list[str] = field(default_factory=list)  # lake files outside tables, relative paths
    staging_removed: list[str] = field(default_factory=list)  # files killed writers left, relative paths
    exports_purged: list[str] = field(default_factory=list)  # the server's export files deleted, "exports/..."

    @property
    def rows_removed(self) -> int:
        return sum(t.rows_removed for t in self.tables)


# ---------------------------------------------------------------- which columns to look at
def table_columns(schema: pa.Schema, linked_names: Iterable[str], *, vault: bool = False) -> Columns:
    """The identifying columns of a table, from the tags its Delta schema carries (and the
    names used before tables carried them)."""
    subject, keys, linked, tokens = [], [], [], []
    linked_names = set(linked_names)
    for f in schema:
        md = {k.decode(): v.decode() for k, v in (f.metadata or {}).items()}
        tags = set(column_tags(md))
        is_text = pa.types.is_string(f.type) or pa.types.is_large_string(f.type)
        is_text_map = pa.types.is_map(f.type) and pa.types.is_string(f.type.item_type)
        if is_text and (SUBJECT in tags or f.name in SUBJECT_NAMES):
            subject.append(f.name)
        elif pa.types.is_integer(f.type) and f.name in KEY_NAMES:
            keys.append(f.name)
        elif f.name in linked_names and is_text:
            linked.append(f.name)
        if (is_text or is_text_map) and ("pii" in tags or f.name.endswith("_token") or f.name in TOKEN_NAMES):
            tokens.append(f.name)
    return Columns(tuple(subject), tuple(keys), tuple(linked), tuple(tokens), vault)


# ---------------------------------------------------------------- row masks (pure pyarrow)
def _values_in(col: pa.ChunkedArray | pa.Array, values: set) -> np.ndarray:
    """Per row: does the column (or, for a map, any of its values) hold one of ``values``?"""
    arr = col.combine_chunks() if isinstance(col, pa.ChunkedArray) else col
    n = len(arr)
    if not values or n == 0:
        return np.zeros(n, dtype=bool)
    if pa.types.is_map(arr.type):
        entries, parents = _map_entries(arr)
        hits = np.asarray(pc.fill_null(pc.is_in(entries, value_set=pa.array(sorted(values), entries.type)), False))
        out = np.zeros(n, dtype=bool)
        out[parents[hits]] = True
        return out
    value_set = pa.array(sorted(values), arr.type)
    return np.asarray(pc.fill_null(pc.is_in(arr, value_set=value_set), False), dtype=bool)


def _names(col: pa.ChunkedArray | pa.Array, customer_id: str) -> np.ndarray:
    """Per row: is the value the id, or does it name the id as a whole word (a subject column
    holding a request path such as ``/v1/customers/<id>``)?"""
    pattern = rf"(^|[^A-Za-z0-9_]){re.escape(customer_id)}($|[^A-Za-z0-9_])"
    return np.asarray(pc.fill_null(pc.match_substring_regex(col, pattern), False), dtype=bool)


# The vault's columns whose clear values a free text (a steward's SQL, a request's path) names
# a customer by; a name or a street is a word of too many other texts.
CONTACT_COLUMNS = ("email", "phone")
# A value shorter than this is not looked for inside a text.
MIN_QUOTED_CHARS = 6
# What may stand next to a contact value in a text: not a character an e-mail or a phone number
# goes on with (a.jane@example.com and jane@example.com.au are other people's addresses).
_BEFORE = r"(^|[^A-Za-z0-9_.+@-])"
_AFTER = r"($|[^A-Za-z0-9_.@-]|[.]($|[^A-Za-z0-9_-]))"


def _quotes(col: pa.ChunkedArray | pa.Array, values: set[str]) -> np.ndarray:
    """Per row: does the text hold one of ``values`` as a whole word, in any case (a steward's
    ``sql`` looking the subject up by e-mail, a ``target`` with their phone)?"""
    wanted = sorted(v for v in values if len(v) >= MIN_QUOTED_CHARS)
    if not wanted:
        return np.zeros(len(col), dtype=bool)
    words = "|".join(re.escape(v) for v in wanted)
    pattern = f"{_BEFORE}({words}){_AFTER}"
    return np.asarray(pc.fill_null(pc.match_substring_regex(col, pattern, ignore_case=True), False), dtype=bool)


def _map_entries(arr: pa.MapArray) -> tuple[pa.Array, np.ndarray]:
    """A map column's values, flattened, and the row each came from (pyarrow's list kernels
    do not take maps)."""
    offsets = np.asarray(arr.offsets)
    parents = np.repeat(np.arange(len(arr)), np.diff(offsets))
    return arr.items.slice(int(offsets[0]), int(offsets[-1] - offsets[0])), parents


def identity_mask(batch: pa.Table, cols: Columns, subject: Subject) -> np.ndarray:
    """Rows that are the subject's by who they name: their id, keys or linked keys."""
    m = np.zeros(batch.num_rows, dtype=bool)
    for c in cols.subject:
        if c in batch.column_names:
            m |= _names(batch[c], subject.customer_id)
    for c in cols.keys:
        if c in batch.column_names:
            m |= _values_in(batch[c], subject.keys)
    for c in cols.linked:
        if c in batch.column_names:
            m |= _values_in(batch[c], subject.linked.get(c, set()))
    return m


def attributed_to_others(batch: pa.Table, cols: Columns, identity: np.ndarray) -> np.ndarray:
    """Rows that belong to somebody else: they name another customer (or are linked rows of
    a parent that is not the subject's). Rows naming nobody are nobody else's."""
    m = np.zeros(batch.num_rows, dtype=bool)
    for c in (*cols.subject, *cols.linked):
        if c in batch.column_names:
            m |= np.asarray(pc.is_valid(batch[c]), dtype=bool)
    return m & ~identity


def erase_mask(subject: Subject, cols: Columns) -> rw.RowMask:
    def mask(batch: pa.Table) -> pa.Array:
        m = identity_mask(batch, cols, subject)
        for c in cols.tokens:
            if c in batch.column_names:
                m |= _values_in(batch[c], subject.tokens)
        # A free text (a subject column that is no id column) naming them by an e-mail or phone
        # of theirs alone, not by their id.
        for c in cols.subject:
            if c in batch.column_names and c not in SUBJECT_NAMES:
                m |= _quotes(batch[c], subject.quoted)
        return pa.array(m)

    return mask


# ---------------------------------------------------------------- discovery
def _read(catalog: LakeCatalog, name: str, rel: str, columns: list[str]) -> pa.Table:
    pf = pq.ParquetFile(catalog.path(name) / rel)
    present = [c for c in columns if c in pf.schema_arrow.names]
    return pf.read(columns=present)


def _schema(catalog: LakeCatalog, name: str) -> pa.Schema:
    return pa.schema(catalog.open(name).schema().to_arrow())


def _in_scope(catalog: LakeCatalog) -> list[str]:
    """Every table that can hold a subject: all but the privacy office's own tables."""
    return [t for t in catalog.list_tables() if t not in (ERASED_TABLE, AUDIT_TABLE)]


def find_subject(
    catalog: LakeCatalog, customer_id: str, found: Subject | None = None
) -> tuple[Subject, dict[str, Columns]]:
    """Everything identifying the subject, and the identifying columns of every table.
    ``found``: what an interrupted erasure of the subject had found, searched on from."""
    from c360.contracts import CONTRACTS

    subject = found or Subject(customer_id)
    tables = _in_scope(catalog)
    schemas = {t: _schema(catalog, t) for t in tables}
    # Surrogate keys first: facts name the customer only by them. Every file on disk,
    # so versions of the dimension replaced earlier are covered too.
    if DIM_CUSTOMER in schemas:
        for rel in rw.data_files(catalog, DIM_CUSTOMER):
            b = _read(catalog, DIM_CUSTOMER, rel, ["customer_id", "customer_key"])
            hit = _values_in(b["customer_id"], {customer_id})
            subject.keys |= {int(k) for k in np.asarray(b["customer_key"])[hit]}
    # Linked rows, parents before children (contract order): the subject's orders, then
    # those orders' lines and shipments, then the shipments' tracking events.
    for contract in CONTRACTS.values():
        kinds = linked_kinds(contract)
        own_key = contract.key[0] if len(contract.key) == 1 and contract.key[0] in kinds else None
        parent_links = {c: k for c, k in kinds.items() if c != own_key}
        follows = [c for c, k in parent_links.items() if c in subject.linked_kinds and subject.linked_kinds[c] == k]
        if contract.subject is None and not follows:
            continue
        for name in (contract.raw_table, contract.sanitized_table, contract.quarantine_table):
            if name not in schemas:
                continue
            cols = Columns((contract.subject,) if contract.subject else (), (), tuple(follows), (), False)
            for rel in rw.data_files(catalog, name):
                b = _read(catalog, name, rel, [*cols.identity, *([own_key] if own_key else [])])
                hit = identity_mask(b, cols, subject)
                if own_key and own_key in b.column_names and hit.any():
                    values = {v for v in np.asarray(b[own_key].to_pylist(), dtype=object)[hit] if v}
                    subject.linked.setdefault(own_key, set()).update(values)
                    subject.linked_kinds[own_key] = kinds[own_key]
    linked_names = set(subject.linked)
    columns = {t: table_columns(schemas[t], linked_names, vault=t == VAULT_TABLE) for t in tables}
    # Candidate tokens: every token in a row of the subject (the vault's included).
    for t, cols in columns.items():
        if not cols.tokens or not cols.identity:
            continue
        has_kind = t == VAULT_TABLE and "column" in schemas[t].names  # which source column a value is of
        wanted = [*cols.all, "column"] if has_kind else cols.all
        for rel in rw.data_files(catalog, t):
            b = _read(catalog, t, rel, wanted)
            hit = identity_mask(b, cols, subject)
            if not hit.any():
                continue
            for c in cols.tokens:
                if c in b.column_names:
                    subject.candidates |= _tokens(b[c].filter(pa.array(hit)))
            if has_kind:
                contact = pc.is_in(b["column"], value_set=pa.array(CONTACT_COLUMNS)).to_numpy(zero_copy_only=False)
                subject.contacts |= _tokens(b["value"].filter(pa.array(hit & contact)))
    # Shared: a candidate another customer's row also holds is theirs too, and stays.
    for t, cols in columns.items():
        if not cols.tokens:
            continue
        for rel in rw.data_files(catalog, t):
            b = _read(catalog, t, rel, cols.all)
            others = attributed_to_others(b, cols, identity_mask(b, cols, subject))
            if not others.any():
                continue
            for c in cols.tokens:
                if c in b.column_names:
                    subject.shared |= _tokens(b[c].filter(pa.array(others))) & subject.candidates
    return subject, columns


def _tokens(col: pa.ChunkedArray) -> set[str]:
    arr = col.combine_chunks()
    if pa.types.is_map(arr.type):
        arr = _map_entries(arr)[0]
    return {v for v in arr.to_pylist() if v}


# ---------------------------------------------------------------- the erasure
def check_request(customer_id: str, request_ref: str) -> str:
    """The customer id to erase (stripped), or an ErasureError saying what the request lacks:
    checked before anything starts (the command line asks it before Spark's JVM)."""
    customer_id = customer_id.strip()
    if not customer_id:
        raise ErasureError("give the customer id to erase")
    if not request_ref.strip():
        raise ErasureError("give the request reference (--request), it is what the audit is kept under")
    return customer_id


def erase(
    catalog: LakeCatalog,
    customer_id: str,
    request_ref: str,
    key: bytes,
    *,
    now: datetime | None = None,
    export_dir: Path | None = None,
    keep_pending: bool = False,
) -> tuple[ErasureReport, pa.Table, pa.Table]:
    """Remove the subject from every table and version; returns the report and the rows for
    the erased-subjects and audit tables (the caller appends them: see :func:`record`).
    ``export_dir``: the server's export files (``Settings.export_dir``), purged where they may
    hold the subject (:func:`c360.serve.exports.prune_exports`). ``keep_pending``: leave the
    pending file (``PENDING_DIR``) for the caller to remove once it has recorded the rows."""
    customer_id = check_request(customer_id, request_ref)
    now = now or datetime.now(UTC)
    shash = key_hash(key, SUBJECT_KIND, customer_id)
    pending = pending_path(catalog.lake_root, key, customer_id)
    found = Subject.from_json(customer_id, pending.read_text()) if pending.exists() else None
    subject, columns = find_subject(catalog, customer_id, found)
    _write_durably(pending, subject.to_json())  # before the first row goes
    needles = [customer_id.encode(), *(t.encode() for t in subject.tokens)]
    exports = exports_before(catalog, now)
    results: list[TableErasure] = []
    # The vault last: the pending file keeps no clear value, so a resumed run finds the e-mails
    # and phones that free texts quote only in the subject's vault rows, while they are there.
    for t, cols in sorted(columns.items(), key=lambda item: item[0] == VAULT_TABLE):
        if cols.identity or cols.tokens:
            result = rw.rewrite_without(
                catalog,
                t,
                cols.all,
                erase_mask(subject, cols),
                operation="erase",
                details=f"erasure request {request_ref}",
            )
        else:  # nothing here can name the subject, but its log is searched all the same
            result = rw.RewriteResult(t, None, 0)
        replaced = [*result.files_rewritten, *result.stale_files]
        log_hits = rw.log_mentions(catalog, t, needles)
        if not replaced and not log_hits:
            continue
        purged = rw.purge_files(catalog, t, replaced)
        # The log's older entries name the purged files (and may hold their statistics):
        # the table's history restarts at a checkpoint of the erased version.
        log_purged = rw.purge_log(catalog, t)
        version = catalog.open(t).version()
        results.append(TableErasure(t, version, result.rows_removed, result.files_rewritten, purged, len(log_purged)))
    # Files outside the tables: Data Docs pages list sample unexpected values of a failed
    # expectation (GX's SUMMARY result format), and events or notes may quote ids.
    redacted = redact_lake_files(catalog.lake_root, [*needles, *(str(k).encode() for k in subject.keys)])
    # A writer or ingest killed before its commit left its staging folder: sealed rows, and an
    # ingest's clear values bound for the vault. Parquet is compressed, so no byte search can
    # clear them; every staging folder goes.
    staged = catalog.sweep_staging()
    from c360.serve.exports import prune_exports

    cached = prune_exports(catalog, export_dir, {t.table for t in results}) if export_dir is not None else []
    report = ErasureReport(request_ref, shash, now, results, exports, redacted, staged, cached)
    rows = _erased_rows(subject, request_ref, key, now), _audit_rows(report)
    if not keep_pending:
        pending.unlink()
    return report, *rows


def pending_path(lake_root: Path, key: bytes, customer_id: str) -> Path:
    """The pending file of an erasure of ``customer_id`` under way: named by a keyed hash of the
    id, never the id; removed once the erasure is recorded (:func:`erase_customer`)."""
    return lake_root / PENDING_DIR / f"{key_hash(key, SUBJECT_KIND, customer_id)}.json"


def _write_durably(path: Path, text: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.writing")
    with open(tmp, "w") as out:
        out.write(text)
        out.flush()
        os.fsync(out.fileno())
    os.replace(tmp, path)


REDACTED = b"[erased]"


def redact_lake_files(lake_root: Path, needles: Iterable[bytes]) -> list[str]:
    """Replace every needle with ``[erased]`` in the lake's files that belong to no table
    (Data Docs HTML, lineage events, anything else under the root); returns the files
    changed, relative to the root. Table folders are left alone: their files were
    rewritten and purged above. Each file is replaced atomically (written beside, renamed)."""
    wanted = sorted({n for n in needles if n}, key=len, reverse=True)  # longer first: no partial leftovers
    changed: list[str] = []
    tables = {p.parent for p in lake_root.glob("*/*/*/_delta_log")}
    skipped = {*tables, lake_root / PENDING_DIR}  # the pending file goes whole once the erasure is recorded
    for path in sorted(lake_root.rglob("*")):
        if not path.is_file() or path.is_symlink() or any(parent in skipped for parent in path.parents):
            continue
        data = path.read_bytes()
        if not any(n in data for n in wanted):
            continue
        for n in wanted:
            data = data.replace(n, REDACTED)
        tmp = path.with_name(f".{path.name}.erasing")
        tmp.write_bytes(data)
        os.replace(tmp, path)
        changed.append(path.relative_to(lake_root).as_posix())
    return changed


def _erased_rows(subject: Subject, request_ref: str, key: bytes, now: datetime) -> pa.Table:
    rows = [(SUBJECT_KIND, subject.customer_id)]
    for col, values in sorted(subject.linked.items()):
        kind = subject.linked_kinds[col]
        rows += [(kind, v) for v in sorted(values)]
    return pa.table(
        {
            "request_ref": [request_ref] * len(rows),
            "kind": [k for k, _ in rows],
            "key_hash": [key_hash(key, k, v) for k, v in rows],
            "erased_at": pa.array([now] * len(rows), pa.timestamp("us", tz="UTC")),
        }
    )


def _audit_rows(report: ErasureReport) -> pa.Table:
    rows = [
        {
            "table_name": t.table,
            "version": t.version,
            "rows_removed": t.rows_removed,
            "files_rewritten": t.files_rewritten,
            "files_purged": t.files_purged,
            "log_entries_purged": t.log_entries_purged,
            "exports_before": None,
        }
        for t in report.tables
    ]
    rows.append(
        {
            "table_name": "-",
            "version": None,
            "rows_removed": report.rows_removed,
            "files_rewritten": report.files_redacted or None,
            "files_purged": [*report.staging_removed, *report.exports_purged] or None,
            "log_entries_purged": sum(t.log_entries_purged for t in report.tables),
            "exports_before": report.exports_before,
        }
    )
    out = pa.Table.from_pylist(rows)
    n = out.num_rows
    return (
        out.append_column("request_ref", pa.array([report.request_ref] * n))
        .append_column("subject_hash", pa.array([report.subject_hash] * n))
        .append_column("requested_at", pa.array([report.requested_at] * n, pa.timestamp("us", tz="UTC")))
    )


def exports_before(catalog: LakeCatalog, when: datetime) -> list[str]:
    """Exports recorded before ``when``: the rows with an ``export_table`` of any ops table
    (the serving audit records every export so), as "table@vversion format sha256 at time".
    What left the lake before the request is outside the erasure; the audit names it."""
    out: list[str] = []
    for name in catalog.list_tables():
        if not name.startswith("ops."):
            continue
        dt = catalog.open(name)
        schema = pa.schema(dt.schema().to_arrow())
        if "export_table" not in schema.names:
            continue
        wanted = [c for c in ("export_table", "export_version", "export_format", "export_sha256") if c in schema.names]
        times = [f.name for f in schema if pa.types.is_timestamp(f.type)][:1]
        for f in dt.file_uris():
            present = set(pq.ParquetFile(f).schema_arrow.names)
            rows = pq.read_table(f, columns=[c for c in (*wanted, *times) if c in present]).to_pylist()
            for r in rows:
                at = r.get(times[0]) if times else None
                if r.get("export_table") is None or (at is not None and at > when):
                    continue
                sha = str(r.get("export_sha256") or "")[:16]
                parts = [f"{r['export_table']}@v{r.get('export_version')}", r.get("export_format") or ""]
                parts += [f"sha256:{sha}" if sha else "", f"at {at}" if at is not None else ""]
                out.append(" ".join(p for p in parts if p))
    return sorted(out)


def record(catalog: LakeCatalog, erased: pa.Table, audit: pa.Table) -> None:
    """Append the erased keys and the audit rows: two small delta-rs commits. (They went through
    Spark, which started a JVM for an erasure that is otherwise pyarrow work: 9-12 s of the
    command's 15 s on the demo lake.)"""
    from c360.storage.light import append_rows, ensure

    for spec, rows in ((_erased_table(), erased), (AUDIT, audit)):
        ensure(spec, catalog.lake_root)
        append_rows(catalog.lake_root, spec.name, rows.to_pylist(), operation="erasure")


def _erased_table() -> Table:
    from c360.privacy.erased import ERASED

    return ERASED


def erase_customer(
    catalog: LakeCatalog, customer_id: str, request_ref: str, key: bytes, export_dir: Path | None = None
) -> ErasureReport:
    """The whole request: erase, then record (the entry point of ``c360 privacy erase``).

    It holds the lake's pipeline lock exclusively, so no step runs beside it: one that read the
    subject's rows before the erasure would publish them again after it (c360.storage.locks)."""
    from c360.storage.locks import ERASURE_WAIT_SECONDS, PIPELINE_LOCK, lake_locks

    customer_id = check_request(customer_id, request_ref)
    what = f"erasure of {request_ref}"
    with lake_locks(catalog.lake_root, [PIPELINE_LOCK], what, wait=ERASURE_WAIT_SECONDS):
        report, erased, audit = erase(catalog, customer_id, request_ref, key, export_dir=export_dir, keep_pending=True)
        record(catalog, erased, audit)
        pending_path(catalog.lake_root, key, customer_id).unlink(missing_ok=True)
    return report
