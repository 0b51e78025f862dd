"""The one SQL engine: read-only DataFusion SQL over the published tables, by name, with access.

Used by ``POST /v1/sql``, the API's aggregate endpoints, ``c360 sql`` and ``c360.lake.sql()``
in notebooks, so every door answers the same query the same way. No Spark: tables are
delta-rs snapshots queried through deltalake's ``QueryBuilder`` (DataFusion).

- Tables are named ``tier.domain.table`` (quoted or not). DataFusion would read an unquoted
  dotted name as catalog.schema.table, so the engine rewrites each reference to a view of
  that name.
- Access comes first: each referenced table is registered under a random private name and
  exposed only as a view of the columns :func:`c360.access.column_access` allows (with
  token columns re-identified through the vault for a role that reveals). The query never
  sees a masked column.
- Exactly one SELECT (``WITH ... SELECT`` included). DataFusion itself runs COPY, CREATE
  EXTERNAL TABLE, SET and DROP, so anything else is refused before it reaches it.
- Every result names the table versions it read; a query reads one pinned snapshot per
  table. A row limit and a timeout bound every query.
- A query runs in a child process of the engine's (up to ``workers`` of them, each kept for
  the next query), and a query past its timeout has its process killed. DataFusion offers no
  cancel through ``QueryBuilder`` and a thread cannot be stopped: a query left to run in one
  kept its cores busy until it ended, and a CLI waited for it before it could exit.
- A query process whose resident memory passes ``memory_bytes`` (default: half the
  machine's memory shared by the ``workers``) is killed, and the query fails alone with
  :class:`SqlMemoryError`, instead of the kernel's out-of-memory killer choosing a process,
  which may be the server's, an Airflow task's or a Spark JVM.
"""

from __future__ import annotations

import base64
import json
import math
import os
import re
import secrets
import signal
import socket
import subprocess
import sys
import threading
import time
import weakref
from collections import Counter, OrderedDict
from collections.abc import Callable, Iterable, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import datetime
from multiprocessing.connection import Connection
from pathlib import Path
from typing import TYPE_CHECKING, BinaryIO, TypeVar

import pyarrow as pa
import sqlparse
from deltalake import DeltaTable, QueryBuilder
from pydantic_core import to_jsonable_python
from sqlparse import tokens as Tk
from sqlparse.exceptions import SQLParseError

from c360.access import VAULT_TABLE, AccessDenied, ColumnAccess, Role, clear_name, column_access, get_role, is_served
from c360.registry import unknown_table_message
from c360.storage.catalog import LakeCatalog, TableNotFoundError
from c360.storage.names import TIERS, TableName, TableNameError

if TYPE_CHECKING:
    from pyspark.sql import SparkSession

DEFAULT_LIMIT = 10_000
MAX_LIMIT = 1_000_000
DEFAULT_TIMEOUT_S = 30.0
WRITE_TIMEOUT_S = 3600.0  # an export's file, written by a query process: bounded by its memory, and by this
PROCESS_START_TIMEOUT_S = 120.0  # a query process's imports, on a busy machine
_MEMORY_CHECK_S = 0.1  # how often a running query's memory is read
_PAGE = os.sysconf("SC_PAGE_SIZE")
_PRIVATE = "__c360"  # prefix of the engine's private table names; refused in user SQL
_SESSION = {"datafusion.catalog.information_schema": "false"}

# Statements DataFusion would run that a read-only door must not: refused by keyword.
FORBIDDEN_KEYWORDS = frozenset(
    {
        "INSERT", "UPDATE", "DELETE", "MERGE", "UPSERT", "REPLACE INTO", "CREATE", "DROP", "ALTER", "TRUNCATE",
        "COPY", "SET", "RESET", "SHOW", "DESCRIBE", "EXPLAIN", "PREPARE", "EXECUTE", "DEALLOCATE", "GRANT",
        "REVOKE", "ATTACH", "DETACH", "INSTALL", "LOAD", "VACUUM", "OPTIMIZE", "USE", "BEGIN", "COMMIT",
        "ROLLBACK", "CALL", "EXTERNAL", "PRAGMA", "ANALYZE", "UNLOAD", "EXPORT", "IMPORT",
    }
)  # fmt: skip
# Functions (scalar or table) that read files, URLs or the environment.
FORBIDDEN_FUNCTIONS = frozenset(
    {
        "read_parquet", "read_csv", "read_json", "read_ndjson", "read_avro", "read_arrow", "read_text",
        "read_blob", "parquet_scan", "parquet_metadata", "parquet_schema", "metadata_cache", "csv_scan",
        "json_scan", "glob", "read_file", "file", "url", "http_get", "load_extension", "getenv", "env",
        "delta_scan", "iceberg_scan", "sniff_csv",
    }
)  # fmt: skip


class SqlError(ValueError):
    """A query the engine refuses or cannot run: the caller's mistake (HTTP 400)."""


class SqlTimeoutError(SqlError):
    """The query ran longer than its timeout."""


class SqlInterruptedError(SqlError):
    """A query process was interrupted (SIGINT, SIGTERM): a Ctrl-C in the terminal, whose process
    group the query processes share, or a notebook kernel's interrupt or end."""


class SqlMemoryError(SqlError):
    """The query needed more memory than a query may use."""


class FilesGoneError(SqlError):
    """A table's files at the version a query read were deleted meanwhile (an erasure purges the
    files it replaced, a vacuum the old ones): not the query's fault; asked again, it reads the
    new version (the server answers 503 with Retry-After)."""


@dataclass(frozen=True)
class PinnedTable:
    """One table at one version: the snapshot every read in a request uses."""

    name: str
    version: int
    dt: DeltaTable
    schema: pa.Schema


@dataclass(frozen=True)
class Snapshot:
    """Pinned versions of a set of tables, taken together. Immutable: a server swaps a whole
    Snapshot for a newer one, so a request holding this one keeps reading the same versions."""

    tables: Mapping[str, PinnedTable]
    taken_at: float = field(default_factory=time.time)

    @classmethod
    def load(
        cls,
        lake_root: Path,
        names: Iterable[str] | None = None,
        *,
        versions: Mapping[str, int] | None = None,
        as_of: datetime | None = None,
    ) -> Snapshot:
        """Open ``names`` (default: every served table, plus the vault when it exists)."""
        catalog = LakeCatalog(lake_root)
        wanted = list(names) if names is not None else served_tables(lake_root)
        if names is None and catalog.exists(VAULT_TABLE):
            wanted.append(VAULT_TABLE)
        return cls({n: pin(catalog, n, (versions or {}).get(n), as_of) for n in wanted})

    @property
    def versions(self) -> dict[str, int]:
        return {n: t.version for n, t in self.tables.items()}

    def served(self) -> list[str]:
        return [n for n in self.tables if is_served(n)]


def pin(catalog: LakeCatalog, name: str, version: int | None = None, as_of: datetime | None = None) -> PinnedTable:
    dt = catalog.open(name, version=version, as_of=None if version is not None else as_of)
    return PinnedTable(name, dt.version(), dt, pa.schema(dt.schema().to_arrow()))


def served_tables(lake_root: Path) -> list[str]:
    """The published tables present in the lake (the enhanced tier), by name."""
    return [n for n in LakeCatalog(lake_root).list_tables() if is_served(n)]


@dataclass(frozen=True)
class SqlResult:
    table: pa.Table
    versions: dict[str, int]  # every table the query read, at the version it read
    truncated: bool  # more rows existed than the limit
    seconds: float

    @property
    def rows(self) -> int:
        return self.table.num_rows


# ---------------------------------------------------------------------------------- checking
_NAME_PART = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")


@dataclass(frozen=True)
class _Reference:
    start: int  # index of the first token in the flat token list
    end: int  # index one past the last token
    name: str


def _unquote(value: str) -> str | None:
    if len(value) >= 2 and value[0] == value[-1] == '"':
        return value[1:-1]
    if len(value) >= 2 and value[0] == value[-1] == "`":
        return value[1:-1]
    return value if _NAME_PART.match(value) else None


def _is_word(tok: sqlparse.sql.Token) -> bool:
    return tok.ttype in Tk.Name or tok.ttype in Tk.Keyword or tok.ttype == Tk.Literal.String.Symbol


def check_sql(sql: str) -> tuple[list[sqlparse.sql.Token], list[_Reference]]:
    """Refuse anything but one read-only SELECT; return the flat tokens and the table references.

    A table reference is ``tier.domain.table`` (each part optionally double-quoted) or one
    quoted identifier ``"tier.domain.table"``.
    """
    if not sql or not sql.strip():
        raise SqlError("empty query: send one SELECT statement")
    try:
        parsed = sqlparse.parse(sql)
    except (SQLParseError, RecursionError) as exc:
        # sqlparse bounds its own work (10,000 tokens in a group, groups 100 deep): a query past
        # either cannot be checked, so it is refused like any query that is not plainly a SELECT.
        reason = str(exc).rstrip(".")
        raise SqlError(f"the query is too large or too deeply nested to check ({reason}): simplify it") from None
    statements = [s for s in parsed if s.token_first(skip_cm=True, skip_ws=True) is not None]
    if len(statements) != 1:
        raise SqlError(f"one statement per query, got {len(statements)}: send a single SELECT")
    stmt = statements[0]
    first = stmt.token_first(skip_cm=True, skip_ws=True)
    assert first is not None
    lead = first.value.upper() if first.ttype is not None else str(first).split(None, 1)[0].upper()
    if first.ttype not in (Tk.Keyword.DML, Tk.Keyword.CTE) or lead not in ("SELECT", "WITH"):
        raise SqlError(f"only a SELECT (or WITH ... SELECT) is allowed; this statement starts with {lead!r}")
    flat = [t for t in stmt.flatten()]
    words = [t for t in flat if not t.is_whitespace and t.ttype not in Tk.Comment]
    for i, tok in enumerate(words):
        upper = tok.value.upper()
        if tok.ttype in Tk.Keyword and (upper in FORBIDDEN_KEYWORDS or upper.split()[0] in FORBIDDEN_KEYWORDS):
            raise SqlError(f"{upper} is not allowed: the SQL door is read-only (one SELECT)")
        if tok.ttype in (Tk.Keyword.DDL,) or (tok.ttype in Tk.Keyword.DML and upper not in ("SELECT",)):
            raise SqlError(f"{upper} is not allowed: the SQL door is read-only (one SELECT)")
        if (
            tok.ttype == Tk.Punctuation and tok.value == ";" and any(not w.is_whitespace for w in words[i + 1 :])
        ):  # pragma: no cover - sqlparse splits statements first
            raise SqlError("one statement per query: send a single SELECT")
        ident = _unquote(tok.value) if _is_word(tok) else None
        if ident is not None and ident.lower().startswith(_PRIVATE):
            raise SqlError(f"identifier {tok.value} is reserved")
        nxt = words[i + 1] if i + 1 < len(words) else None
        if ident is not None and nxt is not None and nxt.value == "(" and ident.lower() in FORBIDDEN_FUNCTIONS:
            raise SqlError(f"function {ident} is not allowed: queries read published tables only, never files or URLs")
        reads_from = upper in ("FROM", "JOIN") or upper.endswith(" JOIN")
        if reads_from and nxt is not None and nxt.ttype in Tk.Literal.String.Single:
            raise SqlError(f"reading a file or URL ({nxt.value}) is not allowed: name a published table")
    return flat, _references(flat)


def _references(flat: list[sqlparse.sql.Token]) -> list[_Reference]:
    refs: list[_Reference] = []
    i = 0
    while i < len(flat):
        tok = flat[i]
        if _is_word(tok):
            # a.b.c with each part a word, parts joined by '.' with no space
            parts = [_unquote(tok.value)]
            j = i + 1
            while (
                j + 1 < len(flat)
                and flat[j].ttype == Tk.Punctuation
                and flat[j].value == "."
                and _is_word(flat[j + 1])
                and len(parts) < 3
            ):
                parts.append(_unquote(flat[j + 1].value))
                j += 2
            if len(parts) == 3 and all(parts) and str(parts[0]).lower() in TIERS:
                refs.append(_Reference(i, j, ".".join(str(p).lower() for p in parts)))
                i = j
                continue
            single = parts[0] if len(parts) == 1 and tok.ttype == Tk.Literal.String.Symbol else None
            if single is None and tok.ttype == Tk.Literal.String.Symbol:
                single = tok.value[1:-1]
            if single and single.count(".") == 2 and single.split(".", 1)[0].lower() in TIERS:
                refs.append(_Reference(i, i + 1, single.lower()))
        i += 1
    return refs


def _quote(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


# ---------------------------------------------------------------------------------- engine
class SqlEngine:
    """Read-only SQL over the published tables of ``lake_root``.

    ``snapshot_source``: a callable giving the current :class:`Snapshot` (the server passes its
    reloader's); without it every query opens the referenced tables at their latest (or
    requested) version. A query whose tables' files were deleted under it (an erasure or a
    vacuum since the snapshot was taken) runs once more on the tables' latest versions, after
    ``on_stale`` (the server's "reload now") is called; if that fails too, or a version was
    asked for, it raises :class:`FilesGoneError`.
    """

    def __init__(
        self,
        lake_root: Path,
        *,
        snapshot_source: Callable[[], Snapshot | None] | None = None,
        on_stale: Callable[[], None] | None = None,
        default_limit: int = DEFAULT_LIMIT,
        max_limit: int = MAX_LIMIT,
        timeout: float = DEFAULT_TIMEOUT_S,
        workers: int = 4,
        memory_bytes: int | None = None,
    ) -> None:
        self.lake_root = Path(lake_root)
        self.catalog = LakeCatalog(self.lake_root)
        self._snapshot_source = snapshot_source
        self._on_stale = on_stale
        self.default_limit = default_limit
        self.max_limit = max_limit
        self.timeout = timeout
        self.memory_bytes = default_memory_bytes(workers) if memory_bytes is None else memory_bytes
        self._processes = _QueryProcesses(workers, self.memory_bytes)

    def close(self) -> None:
        """End the engine's query processes (a query running in one is killed)."""
        self._processes.close()

    def processes_running(self) -> int:
        """How many of the engine's query processes are running now."""
        return len(self._processes.processes())

    def start_processes(self) -> None:
        """Start every query process now, so that no query waits for one to start (a server
        does this once it has loaded the lake: under load, a start takes a second or two)."""
        self._processes.start_all()

    def snapshot(self) -> Snapshot | None:
        return self._snapshot_source() if self._snapshot_source is not None else None

    def query(
        self,
        sql: str,
        *,
        role: Role | str | None = None,
        limit: int | None = None,
        timeout: float | None = None,
        versions: Mapping[str, int] | None = None,
        snapshot: Snapshot | None = None,
    ) -> SqlResult:
        """Run one read-only SELECT.

        ``role``: None reads every served column (trusted local use); a role applies its
        column access. ``versions`` pins tables to versions (otherwise the snapshot's, or the
        latest). Raises :class:`SqlError` (bad query, unknown table or column, timeout) or
        :class:`c360.access.AccessDenied` (a table or column outside the role).
        """
        limit = self.default_limit if limit is None else limit
        if not 0 < limit <= self.max_limit:
            raise SqlError(f"limit must be between 1 and {self.max_limit}, got {limit}")
        timeout = self.timeout if timeout is None else timeout
        if timeout <= 0:
            raise SqlError("timeout must be positive")
        prepared = self._prepare(sql, role, versions, snapshot)
        started = time.perf_counter()
        for attempt in (1, 2):
            try:
                table, truncated = self._processes.run(_plan(prepared), limit, timeout)
                break
            except (SqlTimeoutError, SqlMemoryError):
                raise
            except SqlError as exc:
                gone = _files_gone(prepared)
                if not gone:
                    raise self._explain(exc, prepared.accesses, snapshot) from None
                asked = sorted(n for n in gone if n in (versions or {}))
                if asked or attempt == 2:
                    what = ", ".join(f"{n} version {prepared.versions[n]}" for n in (asked or gone))
                    raise FilesGoneError(
                        f"the files of {what} were deleted while the query read them (an erasure or a "
                        "vacuum replaced them)" + ("" if asked else "; retry the request")
                    ) from None
                if self._on_stale is not None:
                    self._on_stale()
                prepared = self._prepare(sql, role, versions, snapshot, fresh=True)
        return SqlResult(table, prepared.versions, truncated, time.perf_counter() - started)

    def write(
        self,
        sql: str,
        path: Path,
        writer: Callable[[pa.RecordBatchReader, BinaryIO], int],
        *,
        role: Role | str | None = None,
        versions: Mapping[str, int] | None = None,
        snapshot: Snapshot | None = None,
        timeout: float = WRITE_TIMEOUT_S,
    ) -> tuple[int, dict[str, int]]:
        """Write the query's result into the file ``path`` in one of the engine's query processes
        (exports): ``writer`` (a module-level function, sent by name) takes the result's batches
        and the open file and returns the rows written. The process's memory bound applies: an
        export's sort held the table several times over in the caller's process (a server's)
        when it ran there. Returns the rows and the versions read."""
        prepared = self._prepare(sql, role, versions, snapshot)
        try:
            rows = self._processes.write(_plan(prepared), (str(path), writer), timeout)
        except (SqlTimeoutError, SqlMemoryError):
            raise
        except SqlError as exc:
            raise self._explain(exc, prepared.accesses, snapshot) from None
        return rows, prepared.versions

    def _prepare(
        self,
        sql: str,
        role: Role | str | None,
        versions: Mapping[str, int] | None,
        snapshot: Snapshot | None,
        *,
        fresh: bool = False,
    ) -> _Prepared:
        """The query checked and its tables pinned: at ``versions``, else the snapshot's, else
        (or with ``fresh``, past a snapshot whose files are gone) their latest."""
        resolved = None if role is None else get_role(role)
        flat, refs = check_sql(sql)
        names = list(dict.fromkeys(r.name for r in refs))
        snap = None if fresh else snapshot if snapshot is not None else self.snapshot()
        versions = self._checked_versions(versions, snap)
        pinned = {n: self._pinned(n, snap, versions, resolved) for n in names}
        accesses = {n: self._access(resolved, p) for n, p in pinned.items()}
        vault = self._pinned_vault(snap) if any(a.reveal for a in accesses.values()) else None
        rewritten = "".join(_quote(r.name) if r is not None else tok for r, tok in _rewrite(flat, refs))
        read = {n: p.version for n, p in pinned.items()}
        if vault is not None:
            read[VAULT_TABLE] = vault.version
        return _Prepared(rewritten, pinned, accesses, vault, read)

    # -------------------------------------------------------------------------- helpers
    def _pinned(
        self, name: str, snap: Snapshot | None, versions: Mapping[str, int] | None, role: Role | None
    ) -> PinnedTable:
        try:
            tname = str(TableName.parse(name))
        except TableNameError as exc:
            raise SqlError(str(exc)) from None
        if not is_served(tname):
            if role is None and TableName.parse(tname).tier == "vault":
                raise AccessDenied(f"{tname} is never served")
            if role is not None:
                role.require_table(tname)
            raise AccessDenied(f"{tname} is not a published table; only the enhanced tier is served")
        if role is not None:
            role.require_table(tname)
        wanted = (versions or {}).get(tname)
        if snap is not None and tname in snap.tables and (wanted is None or snap.tables[tname].version == wanted):
            return snap.tables[tname]
        try:
            return pin(self.catalog, tname, wanted)
        except TableNotFoundError as exc:
            if self.catalog.exists(tname):
                raise SqlError(str(exc)) from None
            raise SqlError(unknown_table_message(tname, self._served(snap))) from None

    def _checked_versions(self, versions: Mapping[str, int] | None, snap: Snapshot | None) -> dict[str, int]:
        """``versions`` by canonical name; a name that is no table of the lake is refused. It was
        ignored: ``--at enhanced.sales.fct_ordr=3`` read the latest fct_order while its user
        believed it pinned. A table the query does not read may be pinned (one map of versions
        for several queries)."""
        out: dict[str, int] = {}
        for name, version in (versions or {}).items():
            try:
                tname = str(TableName.parse(name))
            except TableNameError as exc:
                raise SqlError(f"cannot pin a version of {name!r}: {exc}") from None
            if not self.catalog.exists(tname):
                raise SqlError(f"cannot pin a version of {name}: {unknown_table_message(tname, self._served(snap))}")
            out[tname] = version
        return out

    def _served(self, snap: Snapshot | None) -> list[str]:
        """The names of the served tables: the snapshot's, else the lake's."""
        return snap.served() if snap is not None else served_tables(self.lake_root)

    def _pinned_vault(self, snap: Snapshot | None) -> PinnedTable | None:
        if snap is not None and VAULT_TABLE in snap.tables:
            return snap.tables[VAULT_TABLE]
        return pin(self.catalog, VAULT_TABLE) if self.catalog.exists(VAULT_TABLE) else None

    @staticmethod
    def _access(role: Role | None, p: PinnedTable) -> ColumnAccess:
        if role is None:
            return ColumnAccess(p.name, tuple(p.schema.names), ())
        return column_access(role, p.name, p.schema)

    def _explain(self, exc: SqlError, accesses: Mapping[str, ColumnAccess], snapshot: Snapshot | None) -> Exception:
        """A masked column named in a query is an access error, not an unknown column; a table
        DataFusion did not find (a name that is not tier.domain.table, such as the table's own
        last part) is answered with the published tables whose names come closest."""
        m = re.search(r"No field named ([^\s.]+\.)?\"?([A-Za-z0-9_]+)\"?", str(exc))
        if m:
            col = m.group(2)
            for a in accesses.values():
                if col in a.masked:
                    return AccessDenied(f"column {col} of {a.table} is outside your role (tagged outside its grants)")
        m = re.match(rf"unknown table '([^']+)': {re.escape(_NOT_A_TABLE_NAME)}", str(exc))
        if m:
            known = self._served(snapshot if snapshot is not None else self.snapshot())
            message = unknown_table_message(m.group(1), known)
            return SqlError(f"{message}{' ' if message.endswith('?') else '. '}{_NOT_A_TABLE_NAME.capitalize()}")
        return exc


def _rewrite(flat: list[sqlparse.sql.Token], refs: list[_Reference]) -> Iterable[tuple[_Reference | None, str]]:
    by_start = {r.start: r for r in refs}
    i = 0
    while i < len(flat):
        ref = by_start.get(i)
        if ref is not None:
            yield ref, ""
            i = ref.end
        else:
            yield None, flat[i].value
            i += 1


def _view_sql(private: str, access: ColumnAccess, vault: str | None) -> str:
    cols = [f"t.{_quote(c)}" for c in access.visible]
    joins = []
    if vault is not None:
        for k, c in enumerate(access.reveal):
            alias = f"v{k}"
            cols.insert(cols.index(f"t.{_quote(c)}") + 1, f"{alias}.value AS {_quote(clear_name(c))}")
            joins.append(
                f"LEFT JOIN (SELECT token, min(value) AS value FROM {vault} GROUP BY token) AS {alias} "
                f"ON {alias}.token = t.{_quote(c)}"
            )
    select = ", ".join(cols) if cols else "NULL AS no_visible_column"
    return f"SELECT {select} FROM {private} AS t {' '.join(joins)}"


@dataclass(frozen=True)
class _Prepared:
    sql: str  # table names rewritten to their (quoted) view names
    pinned: Mapping[str, PinnedTable]
    accesses: Mapping[str, ColumnAccess]
    vault: PinnedTable | None
    versions: dict[str, int]


@dataclass(frozen=True)
class _Registered:
    private: str  # the engine's name for the table in the query's session
    path: str
    version: int
    dt: DeltaTable


def _registered(prepared: _Prepared) -> list[_Registered]:
    """The snapshots a prepared query registers: the vault (when a role reveals) and each table."""
    out = []
    if prepared.vault is not None:
        out.append(_Registered("vault", str(prepared.vault.dt.table_uri), prepared.vault.version, prepared.vault.dt))
    for k, p in enumerate(prepared.pinned.values()):
        out.append(_Registered(str(k), str(p.dt.table_uri), p.version, p.dt))
    return out


@dataclass(frozen=True)
class _Plan:
    """A prepared query as data (no open table): what a query process needs to run it."""

    tables: tuple[tuple[str, str, int], ...]  # (private suffix, table path, version), registered
    views: tuple[tuple[str, str], ...]  # (published name, the view's SQL over the private names)
    sql: str
    names: tuple[str, ...]  # the published names, by their private suffix (for messages)


def _private_slot(suffix: str) -> str:
    """Where a view's SQL names a private table before the query's tag is chosen."""
    return f"<c360:{suffix}>"


def files_missing(p: PinnedTable) -> bool:
    """Whether some of ``p``'s files at its version no longer exist (an erasure purges the files
    it replaced, a vacuum old ones). Asked only after a read failed: it costs a stat per file."""
    return any(not Path(uri.removeprefix("file://")).exists() for uri in p.dt.file_uris())


def _files_gone(prepared: _Prepared) -> list[str]:
    """The pinned tables (and vault) whose files at their pinned version are not all there."""
    pinned = [*prepared.pinned.values(), *([prepared.vault] if prepared.vault is not None else [])]
    return [p.name for p in pinned if files_missing(p)]


def _plan(prepared: _Prepared) -> _Plan:
    """Private names are ``{_PRIVATE}_{tag}_{suffix}``; the tag is chosen when the plan is opened."""
    views = []
    for k, (name, access) in enumerate(prepared.accesses.items()):
        vault = _private_slot("vault") if access.reveal and prepared.vault is not None else None
        views.append((name, _view_sql(_private_slot(str(k)), access, vault)))
    tables = tuple((r.private, r.path, r.version) for r in _registered(prepared))
    return _Plan(tables, tuple(views), prepared.sql, tuple(prepared.pinned))


class _Reader:
    """A RecordBatchReader that keeps its QueryBuilder (and the registered snapshots) alive."""

    def __init__(self, qb: QueryBuilder, reader: pa.RecordBatchReader) -> None:
        self._qb = qb
        self.reader = reader


def _open(plan: _Plan, table: Callable[[str, int], DeltaTable]) -> pa.RecordBatchReader:
    """Register private snapshots (``table(path, version)``), expose access views under the
    tables' names, start the query."""
    tag = secrets.token_hex(8)
    private = {suffix: f"{_PRIVATE}_{tag}_{suffix}" for suffix, _, _ in plan.tables}
    qb = QueryBuilder(_SESSION)
    try:
        for suffix, path, version in plan.tables:
            qb.register(private[suffix], table(path, version))
        for name, view in plan.views:
            for suffix, real in private.items():
                view = view.replace(_private_slot(suffix), real)
            qb.execute(f"CREATE VIEW {_quote(name)} AS {view}").read_all()
        reader = pa.RecordBatchReader.from_stream(qb.execute(plan.sql))
    except Exception as exc:  # noqa: BLE001 - every DataFusion error here is about the query
        raise SqlError(_clean_message(str(exc), tag, plan.names)) from None
    try:
        _distinct_names(reader.schema.names)
    except SqlError:
        reader.close()
        raise
    holder = _Reader(qb, reader)
    schema = _plain_schema(reader.schema)

    def batches() -> Iterable[pa.RecordBatch]:
        try:
            for batch in holder.reader:
                yield batch.cast(schema) if batch.schema != schema else batch
        except Exception as exc:  # noqa: BLE001 - execution errors (casts, division by zero) are the query's
            raise SqlError(_clean_message(str(exc), tag, plan.names)) from None

    return pa.RecordBatchReader.from_batches(schema, batches())


def _distinct_names(names: Sequence[str]) -> None:
    """A result's columns must have names of their own: a JSON row, a table's header and a
    pandas frame's column each hold one value per name, and a join's ``SELECT *`` or
    ``a.id, b.id`` would lose or shift one of two (SQL engines such as BigQuery refuse them too)."""
    seen = Counter(names)
    twice = [f"{n} ({k} times)" for n, k in seen.items() if k > 1]
    if twice:
        raise SqlError(
            f"the result has more than one column named {', '.join(twice)}: give each a name of its own "
            "with AS (e.g. o.customer_key AS order_customer_key), or select it once"
        )


def _execute(plan: _Plan, limit: int, table: Callable[[str, int], DeltaTable]) -> tuple[pa.Table, bool]:
    reader = _open(plan, table)
    batches: list[pa.RecordBatch] = []
    rows = 0
    truncated = False
    try:
        for batch in reader:
            if rows + batch.num_rows > limit:
                batches.append(batch.slice(0, limit - rows))
                truncated = True
                break
            batches.append(batch)
            rows += batch.num_rows
    except SqlError:
        raise
    except Exception as exc:  # noqa: BLE001 - an error raised while reading is the query's
        raise SqlError(str(exc)) from None
    return pa.Table.from_batches(batches, schema=reader.schema), truncated


# ------------------------------------------------------------------------ query processes
def _mib(n: int) -> str:
    return f"{n // (1024 * 1024):,} MiB"


def default_memory_bytes(processes: int) -> int:
    """Half the machine's memory shared by ``processes`` query processes, at least 512 MiB each."""
    total = _PAGE * os.sysconf("SC_PHYS_PAGES")
    return max(512 * 1024 * 1024, total // 2 // max(1, processes))


def _resident_bytes(pid: int) -> int | None:
    """The process's resident memory, or None where /proc does not say (not Linux)."""
    try:
        with open(f"/proc/{pid}/statm", "rb") as f:
            return int(f.read().split()[1]) * _PAGE
    except (OSError, IndexError, ValueError):
        return None


_T = TypeVar("_T")
# where a query process writes a result: the file's path, and the module-level function (sent by
# name) that takes the result's batches and the open file and returns the rows written
_Sink = tuple[str, Callable[[pa.RecordBatchReader, BinaryIO], int]]


class _QueryProcess:
    """One child process that runs queries one at a time (:func:`serve_queries`)."""

    def __init__(self, memory_bytes: int) -> None:
        self.memory_bytes = memory_bytes
        ours, theirs = socket.socketpair()
        env = dict(os.environ)
        # This c360, whatever the working directory: ``-P`` keeps ``python -c`` from putting the
        # working directory first on sys.path, where another checkout's c360 would shadow it.
        package_root = str(Path(__file__).resolve().parent.parent)
        env["PYTHONPATH"] = os.pathsep.join(filter(None, [package_root, env.get("PYTHONPATH")]))
        # SIGINT's default first (serve_queries says why): a Ctrl-C during the imports would
        # otherwise print their KeyboardInterrupt traceback.
        main = (
            "import signal; signal.signal(signal.SIGINT, signal.SIG_DFL); "
            "import sys; from c360.sql import serve_queries; serve_queries(int(sys.argv[1]))"
        )
        self.process = subprocess.Popen(
            [sys.executable, "-P", "-c", main, str(theirs.fileno())],
            pass_fds=[theirs.fileno()],
            stdin=subprocess.DEVNULL,
            env=env,
        )
        theirs.close()
        self.conn = Connection(ours.detach())
        try:
            ready = self.conn.poll(PROCESS_START_TIMEOUT_S) and self.conn.recv() == "ready"
        except (EOFError, OSError):
            ready = False
        if not ready:
            code = self.kill()
            if code in (-signal.SIGINT, -signal.SIGTERM):
                raise SqlInterruptedError(
                    f"the SQL engine's query process was interrupted ({signal.Signals(-code).name}) as it started"
                )
            raise SqlError(f"the SQL engine's query process did not start (exit code {code}; its error is above)")

    def run(self, plan: _Plan, limit: int, seconds: float, timeout: float) -> tuple[pa.Table, bool]:
        """The query's result; raises its :class:`SqlError`. Kills the process (and raises
        :class:`SqlTimeoutError`, naming the query's ``timeout``) when no answer came within
        ``seconds``."""
        truncated, data = self._exchange((plan, limit, None), seconds, timeout, answer=True)
        return pa.ipc.open_stream(data).read_all(), bool(truncated)

    def write(self, plan: _Plan, sink: _Sink, seconds: float, timeout: float) -> int:
        """Have the process write the query's result into a file (``sink``); the rows written."""
        rows, _ = self._exchange((plan, 0, sink), seconds, timeout, answer=False)
        assert isinstance(rows, int)
        return rows

    def _exchange(self, message: object, seconds: float, timeout: float, *, answer: bool) -> tuple[object, bytes]:
        try:
            self.conn.send(message)
            self._wait(seconds, timeout)
            kind, detail = self.conn.recv()
            if kind == "error":
                raise SqlError(detail)
            data = self.conn.recv_bytes() if answer else b""
        except (EOFError, OSError):
            code = self.kill()
            if code in (-signal.SIGINT, -signal.SIGTERM):  # Ctrl-C, or a kernel's interrupt or end
                raise SqlInterruptedError(
                    f"the query was interrupted ({signal.Signals(-code).name}), and stopped"
                ) from None
            how = f"killed by {signal.Signals(-code).name}" if code is not None and code < 0 else f"exit code {code}"
            raise SqlError(
                f"the query's process ended before it answered ({how}): a query that needs more memory than "
                "the machine has, or values larger than Arrow's limits, ends so; the next query gets a new process"
            ) from None
        return detail, data

    def _wait(self, seconds: float, timeout: float) -> None:
        """Wait for the answer; kill the process past ``seconds``, or once its resident memory
        passes ``memory_bytes`` (read every 0.1 s from /proc: a bound, not a hard cap, since a
        query can allocate more between two readings)."""
        deadline = time.monotonic() + seconds
        while not self.conn.poll(max(0.0, min(_MEMORY_CHECK_S, deadline - time.monotonic()))):
            if time.monotonic() >= deadline:
                self.kill()
                raise SqlTimeoutError(f"the query ran longer than its timeout of {timeout:g} s, and was stopped")
            used = _resident_bytes(self.process.pid)
            if used is not None and used > self.memory_bytes:
                self.kill()
                raise SqlMemoryError(
                    f"the query needed more than the {_mib(self.memory_bytes)} of memory a query may use "
                    f"(C360_SQL_MEMORY_MB), and was stopped: select fewer columns or rows, or aggregate first"
                )

    @property
    def alive(self) -> bool:
        return self.process.poll() is None and not self.conn.closed

    def kill(self) -> int | None:
        """Kill the process and reap it; its exit code."""
        self.process.kill()
        try:
            code = self.process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            code = None
        self.conn.close()
        return code


class _QueryProcesses:
    """``size`` threads, each with a query process of its own (started on its first query and
    kept while it answers). Queries wait their turn first come, first served, as in any thread
    pool; the time a query waits counts towards its timeout, its process's start does not."""

    def __init__(self, size: int, memory_bytes: int) -> None:
        self._size = max(1, size)
        self._memory_bytes = memory_bytes
        self._pool = ThreadPoolExecutor(max_workers=self._size, thread_name_prefix="c360-sql")
        self._local = threading.local()
        self._lock = threading.Lock()
        self._processes: set[_QueryProcess] = set()
        self._closed = False
        weakref.finalize(self, _QueryProcesses._kill_all, self._processes)

    def run(self, plan: _Plan, limit: int, timeout: float) -> tuple[pa.Table, bool]:
        return self._submit(lambda process, remaining: process.run(plan, limit, remaining, timeout), timeout)

    def write(self, plan: _Plan, sink: _Sink, timeout: float) -> int:
        return self._submit(lambda process, remaining: process.write(plan, sink, remaining, timeout), timeout)

    def _submit(self, job: Callable[[_QueryProcess, float], _T], timeout: float) -> _T:
        deadline = time.monotonic() + timeout
        try:
            future = self._pool.submit(self._run, job, timeout, deadline)
        except RuntimeError:  # the pool was shut down
            raise SqlError("the SQL engine is closed") from None
        return future.result()

    def start_all(self) -> None:
        """Start every thread's process now: one task per thread, each holding its thread until
        all have started, so that no thread takes two."""
        everyone = threading.Barrier(self._size)

        def start() -> None:
            try:
                self._process()
            except BaseException:
                everyone.abort()  # the others stop waiting for this one
                raise
            everyone.wait(timeout=PROCESS_START_TIMEOUT_S)

        errors = [f.exception() for f in [self._pool.submit(start) for _ in range(self._size)]]
        failed: list[BaseException] = [e for e in errors if isinstance(e, SqlError)]
        failed = failed or [e for e in errors if e is not None]  # else the barrier's own error
        if failed:
            kind = SqlInterruptedError if all(isinstance(e, SqlInterruptedError) for e in failed) else SqlError
            raise kind(f"the SQL engine's query processes did not all start: {failed[0]}")

    def processes(self) -> list[_QueryProcess]:
        with self._lock:
            return [p for p in self._processes if p.alive]

    def close(self) -> None:
        with self._lock:
            self._closed = True
        self._pool.shutdown(wait=False, cancel_futures=True)
        self._kill_all(self._processes)

    def _process(self) -> _QueryProcess:
        """This thread's query process; a new one if it has none or its last one ended."""
        process: _QueryProcess | None = getattr(self._local, "process", None)
        if process is not None and process.alive:
            return process
        with self._lock:
            if self._closed:
                raise SqlError("the SQL engine is closed")
        process = _QueryProcess(self._memory_bytes)
        with self._lock:
            self._processes.add(process)
            if self._closed:
                process.kill()
                raise SqlError("the SQL engine is closed")
        self._local.process = process
        return process

    def _run(self, job: Callable[[_QueryProcess, float], _T], timeout: float, deadline: float) -> _T:
        remaining = deadline - time.monotonic()  # the time it waited for this thread counts
        process = self._process()  # a process's start does not
        if remaining <= 0:
            raise SqlTimeoutError(
                f"the query waited longer than its timeout of {timeout:g} s for a free query process "
                f"({self._size} queries run at once)"
            )
        try:
            return job(process, remaining)
        finally:
            if not process.alive:
                with self._lock:
                    self._processes.discard(process)

    @staticmethod
    def _kill_all(processes: set[_QueryProcess]) -> None:
        for process in list(processes):
            if process.alive:
                process.kill()
        processes.clear()


_OPENED_TABLES = 64  # snapshots a query process keeps open for the next queries


def serve_queries(fd: int) -> None:
    """A query process's loop: run each plan sent over the connection on ``fd`` and answer
    with its result as Arrow IPC, or its error. Ends when the engine closes the connection or
    its process ends."""
    # Ctrl-C, a notebook's "interrupt kernel" and a kernel's shutdown signal the caller's whole
    # process group: this process then ends at once, quietly, even inside DataFusion, rather
    # than print a KeyboardInterrupt traceback once its query is done (the caller's next query
    # starts a new process).
    signal.signal(signal.SIGINT, signal.SIG_DFL)
    conn = Connection(fd)
    parent = os.getppid()

    def watch_parent() -> None:  # killed with the engine's process, even while a query runs
        while os.getppid() == parent:
            time.sleep(1.0)
        os._exit(0)

    threading.Thread(target=watch_parent, name="c360-sql-parent", daemon=True).start()
    opened: OrderedDict[tuple[str, int], DeltaTable] = OrderedDict()

    def table(path: str, version: int) -> DeltaTable:
        key = (path, version)
        if key not in opened:
            opened[key] = DeltaTable(path, version=version)
            if len(opened) > _OPENED_TABLES:
                opened.popitem(last=False)
        opened.move_to_end(key)
        return opened[key]

    try:
        conn.send("ready")
        while True:
            try:
                plan, limit, sink = conn.recv()
            except EOFError:
                return
            try:
                if sink is not None:
                    path, writer = sink
                    with open(path, "wb") as out:
                        written = writer(_open(plan, table), out)
                    conn.send(("ok", written))  # once the file is closed: the engine reads it next
                    continue
                result, truncated = _execute(plan, limit, table)
            except Exception as exc:  # noqa: BLE001 - the query's error, told to the engine
                message = str(exc) if isinstance(exc, SqlError) else f"{type(exc).__name__}: {exc}"
                conn.send(("error", message))
                continue
            sink = pa.BufferOutputStream()
            with pa.ipc.new_stream(sink, result.schema) as writer:
                writer.write_table(result)
            conn.send(("ok", truncated))
            conn.send_bytes(sink.getvalue())
    except (BrokenPipeError, ConnectionResetError):
        return  # the engine's end is gone (its process ended, as a Ctrl-C ends both): no one to answer


def _plain_schema(schema: pa.Schema) -> pa.Schema:
    """DataFusion answers with string/binary views; CSV writers and older readers want plain types."""
    fields = []
    for f in schema:
        if pa.types.is_string_view(f.type):
            f = f.with_type(pa.string())
        elif pa.types.is_binary_view(f.type):
            f = f.with_type(pa.binary())
        fields.append(f)
    return pa.schema(fields, metadata=schema.metadata)


_NOT_A_TABLE_NAME = "name a published table as tier.domain.table (`c360 table list` and GET /v1/tables list them)"


def _clean_message(message: str, tag: str, names: Iterable[str]) -> str:
    """DataFusion's message without the engine's private names, and with the published names."""
    for k, name in enumerate(names):
        message = message.replace(f"{_PRIVATE}_{tag}_{k}", name)
    message = re.sub(rf"{_PRIVATE}_{tag}_vault", "vault", message)
    m = re.search(r"table '(?:datafusion\.public\.)?([^']+)' not found", message)
    if m:
        return f"unknown table {m.group(1)!r}: {_NOT_A_TABLE_NAME}"
    return message.strip().splitlines()[0] if len(message) > 500 else message.strip()


# ---------------------------------------------------------------------------------- Spark
def register_spark_views(
    spark: SparkSession,
    lake_root: Path,
    *,
    versions: Mapping[str, int] | None = None,
    role: Role | str | None = None,
) -> dict[str, int]:
    """Register every published table as a Spark temp view named ``tier.domain.table``.

    Query them with backticks: ``spark.sql("SELECT * FROM `enhanced.customer.dim_customer`")``.
    ``versions`` pins tables (otherwise the latest); ``role`` drops masked columns. Returns the
    version each view reads.
    """
    from c360.storage.delta import DeltaStorage

    storage = DeltaStorage(spark, lake_root)
    catalog = LakeCatalog(lake_root)
    read: dict[str, int] = {}
    resolved = None if role is None else get_role(role)
    for name in served_tables(lake_root):
        if resolved is not None and not resolved.may_read(name):
            continue
        p = pin(catalog, name, (versions or {}).get(name))
        df = storage.read(name, version=p.version)
        if resolved is not None:
            df = df.select(*column_access(resolved, name, p.schema).visible)
        df.createOrReplaceTempView(f"`{name}`")
        read[name] = p.version
    return read


_Tabular = TypeVar("_Tabular", pa.Table, pa.RecordBatch)


def json_safe(value: object) -> object:
    """A value as JSON carries it, as the API answers it (pydantic's JSON mode): times in ISO
    8601 (UTC as 'Z'), decimals as their digits in text, NaN and infinities as null, bytes as
    base64 text, maps as objects."""
    if value is None or isinstance(value, str | int):  # most values: as they are (bool is an int)
        return value
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    if isinstance(value, bytes | bytearray):
        return base64.b64encode(value).decode()
    if isinstance(value, dict):
        return {str(k): json_safe(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [json_safe(v) for v in value]
    return to_jsonable_python(value)  # dates, times, decimals: as the API's responses encode them


def _pylist(data: pa.Table | pa.ChunkedArray | pa.Array) -> list:
    """Python values with maps as dicts; a map that repeats a key keeps its [key, value] pairs,
    so no value is lost."""
    try:
        return data.to_pylist(maps_as_pydicts="strict")
    except KeyError:
        return data.to_pylist()


def json_records(data: pa.Table) -> list[dict[str, object]]:
    """Rows as JSON objects: one encoding for every door (the API's rows, ``c360 sql -f json``,
    ``c360 table show -f json``)."""
    return [{k: json_safe(v) for k, v in r.items()} for r in _pylist(data)]


def csv_ready(data: _Tabular) -> _Tabular:
    """CSV has no lists, maps or structs: a list of plain values becomes its items joined by
    '|', any other nested value (a list of lists, maps or structs too) its JSON text (a map an
    object). The one rendering of every CSV of the lake's tables (exports, ``c360 sql``,
    ``c360 table show``). The AQI calculator's result files keep every list as JSON text
    (docs/aqi.md), so that a result file reads back as the lists it holds."""
    import pyarrow.compute as pc  # not at import: the query processes never write CSV

    columns, fields = [], []
    for f, col in zip(data.schema, data.columns, strict=True):
        listed = pa.types.is_list(f.type) or pa.types.is_large_list(f.type) or pa.types.is_list_view(f.type)
        item = f.type.value_type if listed else None
        if item is not None and not (pa.types.is_nested(item) or pa.types.is_binary(item)):
            col = pc.binary_join(pc.cast(col, pa.list_(pa.string())), "|")
            f = pa.field(f.name, pa.string())
        elif pa.types.is_nested(f.type):
            values = [json_safe(v) for v in _pylist(col)]
            col = pa.array([None if v is None else json.dumps(v, ensure_ascii=False, sort_keys=True) for v in values])
            f = pa.field(f.name, pa.string())
        columns.append(col)
        fields.append(f)
    return type(data).from_arrays(columns, schema=pa.schema(fields))


def write_result(table: pa.Table, fmt: str, sink: BinaryIO) -> None:
    """Write a result as csv, json (an array of records) or parquet to a binary sink."""
    if fmt == "csv":
        import pyarrow.csv as pcsv

        pcsv.write_csv(csv_ready(table), sink)
    elif fmt == "json":
        sink.write(json.dumps(json_records(table), ensure_ascii=False).encode("utf-8"))
        sink.write(b"\n")
    elif fmt == "parquet":
        import pyarrow.parquet as pq

        pq.write_table(table, sink)
    else:
        raise ValueError(f"unknown format {fmt!r} (csv, json or parquet)")
