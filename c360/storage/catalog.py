"""What is in the lake, read through delta-rs alone (no Spark session needed).

Listing, describing, history and vacuum are cheap metadata operations: the CLI and the
API use this module directly so they never pay for a JVM.
"""

from __future__ import annotations

import difflib
import hashlib
import re
import shutil
import threading
import time
from dataclasses import dataclass
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

import pyarrow as pa
from deltalake import DeltaTable

from c360.storage.names import TIERS, TableName

STAGING_DIR = "_staging"
OPERATION_KEY = "c360.operation"
ROWS_KEY = "c360.rows_added"
DETAILS_KEY = "c360.details"


# A commit's log entry: _delta_log/<version, 20 digits>.json (written atomically, never rewritten).
_COMMIT_FILE = re.compile(r"^(\d{20})\.json$")
# A checkpoint: <version>.checkpoint.parquet, or its parts or v2 form (<version>.checkpoint.<...>.parquet).
_CHECKPOINT_FILE = re.compile(r"^(\d{20})\.checkpoint(\.[^/]+)?\.parquet$")


class TableNotFoundError(LookupError):
    """The named table has no Delta log in the lake (or not the version asked for)."""


class VersionNotKeptError(TableNotFoundError):
    """The version asked for existed once, but the lake no longer keeps what it takes to read it:
    its log entries were removed (an erasure restarts a table's history) or its files vacuumed."""


@dataclass(frozen=True)
class _LogState:
    """What the catalog reads from one version of a table's log: its live files' add actions
    (flattened: path, partition values, row counts) and its metadata."""

    actions: tuple[dict[str, Any], ...]
    partition_by: tuple[str, ...]
    schema: pa.Schema
    description: str | None
    configuration: dict[str, str | None]

    @classmethod
    def of(cls, dt: DeltaTable) -> _LogState:
        meta = dt.metadata()
        return cls(
            actions=tuple(pa.table(dt.get_add_actions(flatten=True)).to_pylist()),
            partition_by=tuple(meta.partition_columns),
            schema=pa.schema(dt.schema().to_arrow()),
            description=meta.description,
            configuration=dict(meta.configuration),
        )


class _LogStates:
    """The last log state read of each table in this process, with the identity of the commit
    file that made its version (version, inode, mtime, size).

    A version's commit file is created once and never rewritten, so its identity names one
    state; a table dropped and created again at the same path gets new files. A step asks the
    same tables' row counts dozens of times between their commits (a mock_data day: 200 asks,
    each an open of the log); now each version is read once. One state per table path: a
    long-lived process (the API) holds no more than the lake's tables."""

    def __init__(self) -> None:
        self._states: dict[str, tuple[tuple, _LogState]] = {}
        self._lock = threading.Lock()

    def get(self, path: str, identity: tuple) -> _LogState | None:
        with self._lock:
            held = self._states.get(path)
        return held[1] if held is not None and held[0] == identity else None

    def put(self, path: str, identity: tuple, state: _LogState) -> None:
        with self._lock:
            self._states[path] = (identity, state)


_LOG_STATES = _LogStates()


@dataclass(frozen=True)
class TableInfo:
    name: str
    path: Path
    version: int
    partition_by: list[str]
    files: int
    schema: pa.Schema
    description: str | None
    configuration: dict[str, str | None]


@dataclass(frozen=True)
class HistoryEntry:
    version: int
    timestamp: datetime
    operation: str
    mode: str | None
    c360_operation: str | None
    rows_added: int | None
    details: str


class LakeCatalog:
    def __init__(self, lake_root: Path) -> None:
        self.lake_root = Path(lake_root)

    def path(self, name: str | TableName) -> Path:
        return TableName.parse(name).path(self.lake_root)

    def exists(self, name: str | TableName) -> bool:
        return DeltaTable.is_deltatable(str(self.path(name)))

    def open(self, name: str | TableName, version: int | None = None, as_of: datetime | None = None) -> DeltaTable:
        """The table's snapshot: latest, a version, or the version current at ``as_of``."""
        if version is not None and as_of is not None:
            raise ValueError(f"give a version or as_of, not both (version {version}, as_of {as_of.isoformat()})")
        tname = TableName.parse(name)
        path = self.path(tname)
        if not DeltaTable.is_deltatable(str(path)):
            close = difflib.get_close_matches(str(tname), self.list_tables(), n=3, cutoff=0.5)
            hint = f"; did you mean {', '.join(close)}?" if close else ""
            raise TableNotFoundError(f"table {tname} does not exist (no Delta log under {path}){hint}")
        if version is not None:
            latest = self.version(tname)  # from the log's entry names
            if not 0 <= version <= latest:
                raise TableNotFoundError(f"table {tname} has no version {version} (latest is {latest})")
            if version < latest:
                earliest = self.earliest_version(tname)
                if version < earliest:
                    raise VersionNotKeptError(
                        f"table {tname} no longer keeps version {version}: its history starts at version "
                        f"{earliest}, as an erasure or a log cleanup removed the entries before it "
                        f"(c360 table history {tname} lists the versions kept)"
                    )
            dt = DeltaTable(str(path), version=version)  # the log read up to it, once
            if version < latest:
                self._require_files(tname, dt)
            return dt
        dt = DeltaTable(str(path))
        if as_of is not None:
            when = as_of if as_of.tzinfo else as_of.replace(tzinfo=UTC)
            kept = dt.history()
            first = min(h["timestamp"] for h in kept)
            if when.timestamp() * 1000 < first:
                since = datetime.fromtimestamp(first / 1000, UTC).isoformat()
                if min(h["version"] for h in kept) > 0:
                    raise VersionNotKeptError(
                        f"table {tname} no longer keeps its versions before {since}: its history starts "
                        f"there, as an erasure or a log cleanup removed the entries before it"
                    )
                raise TableNotFoundError(f"table {tname} did not exist at {when.isoformat()} (created {since})")
            latest = dt.version()
            dt.load_as_version(when)
            if dt.version() < latest:
                self._require_files(tname, dt)
        return dt

    def earliest_version(self, name: str | TableName) -> int:
        """The oldest version the log can still be read at: 0 while the first commit is kept, else
        the oldest checkpoint (from the log's entry names alone)."""
        log = self.path(name) / "_delta_log"
        commits, checkpoints = set(), set()
        for entry in log.iterdir():
            if m := _COMMIT_FILE.match(entry.name):
                commits.add(int(m.group(1)))
            elif m := _CHECKPOINT_FILE.match(entry.name):
                checkpoints.add(int(m.group(1)))
        if 0 in commits or not checkpoints:
            return 0
        return min(checkpoints)

    @staticmethod
    def _require_files(tname: TableName, dt: DeltaTable) -> None:
        """An older version whose data files a vacuum has deleted is refused here, by name, rather
        than by the object store's error halfway through a read."""
        files = dt.file_uris()  # absolute paths: the lake is on a local or mounted file system
        missing = [f for f in files if not Path(f.removeprefix("file://")).exists()]
        if missing:
            raise VersionNotKeptError(
                f"table {tname} no longer keeps version {dt.version()}: {len(missing)} of its {len(files)} "
                "files were deleted by a vacuum once newer versions replaced them (each table keeps "
                "replaced files for its retention's versions_days; c360 table history "
                f"{tname} lists the versions)"
            )

    def version(self, name: str | TableName) -> int:
        """The table's latest version, from the names in its Delta log alone.

        A commit is the atomic creation of ``_delta_log/<version>.json``, and the latest one is
        never removed (log cleanup keeps every entry after the last checkpoint), so the largest
        such name is the version ``open(name).version()`` gives, without reading the log's
        contents: a step asks this of every table of the lake before and after it runs."""
        log = self.path(name) / "_delta_log"
        try:
            found = [int(m.group(1)) for entry in log.iterdir() if (m := _COMMIT_FILE.match(entry.name))]
        except FileNotFoundError:
            found = []
        if not found:
            return self.open(name).version()  # no log (raises TableNotFoundError) or an unusual one
        return max(found)

    def versions(self) -> dict[str, int]:
        """Every table's latest version (``version``), by name."""
        out = {}
        for name in self.list_tables():
            try:
                out[name] = self.version(name)
            except Exception:  # noqa: BLE001 - a table being created right now: not in this snapshot
                continue
        return out

    def list_tables(self) -> list[str]:
        names = []
        for tier in TIERS:
            for log in sorted((self.lake_root / tier).glob("*/*/_delta_log")):
                table_dir = log.parent
                names.append(f"{tier}.{table_dir.parent.name}.{table_dir.name}")
        return names

    def describe(self, name: str | TableName) -> TableInfo:
        version, state = self._state(name)
        return TableInfo(
            name=str(TableName.parse(name)),
            path=self.path(name),
            version=version,
            partition_by=list(state.partition_by),
            files=len(state.actions),
            schema=state.schema,
            description=state.description,
            configuration=dict(state.configuration),
        )

    def schema(self, name: str | TableName, version: int | None = None) -> pa.Schema:
        """The table's Arrow schema (with its columns' metadata) at ``version`` (default the latest)."""
        return self._state(name, version)[1].schema

    def row_counts(self, name: str | TableName, column: str | None = None) -> dict[str | None, int]:
        """Rows per value of partition ``column`` (or all rows under None), from the Delta log's file statistics.

        Independent of any Spark computation, so it can check one (reconciliation).
        """
        counts: dict[str | None, int] = {}
        for a in self._state(name)[1].actions:
            if a.get("num_records") is None:
                raise ValueError(f"{name}: a file has no row count statistics ({a['path']})")
            value = a.get(f"partition.{column}") if column else None
            key = None if value is None else str(value)
            counts[key] = counts.get(key, 0) + int(a["num_records"])
        return counts

    def extract_state(
        self, name: str | TableName, version: int, upto: date, until: date, column: str = "_extract_date"
    ) -> tuple[str, int | None]:
        """What a build reading version ``version`` of the table as of ``until`` can tell apart,
        from the Delta log alone: (a digest of the live files holding ``column`` <= ``upto``,
        the rows in partitions after ``upto`` up to ``until``).

        Data files are immutable and uniquely named, so an equal digest means the same rows up
        to ``upto``. A table not partitioned by ``column`` is digested whole and its later rows
        are None (unknown); a table that did not exist at ``version`` (-1) digests to ``"absent"``.
        """
        if version < 0 or not self.exists(name):
            return "absent", 0
        state = self._state(name, version)[1]
        dated = column in state.partition_by
        paths, later = [], 0
        for a in state.actions:
            value = a.get(f"partition.{column}") if dated else None
            day = None if value is None else value if isinstance(value, date) else date.fromisoformat(str(value))
            if not dated or day is None or day <= upto:
                paths.append(str(a["path"]))
            elif day <= until:
                # An empty file or one without statistics counts too: not taken for no change.
                later += int(a["num_records"] or 0) or 1
        digest = hashlib.sha256("\n".join(sorted(paths)).encode()).hexdigest()
        return digest, later if dated else None

    def _state(self, name: str | TableName, version: int | None = None) -> tuple[int, _LogState]:
        """The table's log state at ``version`` (default the latest), read once per version
        in this process (``_LogStates``)."""
        path = self.path(name)
        if version is None:
            version = self.version(name)
        try:
            st = (path / "_delta_log" / f"{version:020d}.json").stat()
        except FileNotFoundError:  # a version whose entry log cleanup removed: read, not kept
            return version, _LogState.of(self.open(name, version=version))
        identity = (version, st.st_ino, st.st_mtime_ns, st.st_size)
        state = _LOG_STATES.get(str(path), identity)
        if state is None:
            state = _LogState.of(self.open(name, version=version))
            _LOG_STATES.put(str(path), identity, state)
        return version, state

    def history(self, name: str | TableName, limit: int | None = None) -> list[HistoryEntry]:
        entries = []
        for h in self.open(name).history(limit):
            params: dict[str, Any] = h.get("operationParameters") or {}
            rows = h.get(ROWS_KEY)
            entries.append(
                HistoryEntry(
                    version=int(h["version"]),
                    timestamp=datetime.fromtimestamp(h["timestamp"] / 1000, UTC),
                    operation=str(h.get("operation")),
                    mode=params.get("mode"),
                    c360_operation=h.get(OPERATION_KEY),
                    rows_added=None if rows is None else int(rows),
                    details=str(h.get(DETAILS_KEY) or ""),
                )
            )
        return entries

    def sweep_staging(self) -> list[str]:
        """Delete every table's staging folders now, whatever their age; returns the files
        removed, relative to the lake root.

        A staging folder is what a writer, rewrite or ingest works in before its commit; a
        process killed meanwhile leaves it behind, and an ingest's holds sealed rows and the
        clear values bound for the vault. A writer that is running when its folder goes fails
        before its commit and leaves the table as it was.
        """
        removed: list[str] = []
        for staging in sorted(self.lake_root.glob(f"*/*/*/{STAGING_DIR}")):
            removed += sorted(p.relative_to(self.lake_root).as_posix() for p in staging.rglob("*") if p.is_file())
            shutil.rmtree(staging, ignore_errors=True)
        return removed

    def vacuum(self, name: str | TableName, retention_hours: int) -> list[str]:
        """Really delete unreferenced files older than the retention, and stale staging folders.

        ``full=True`` so files no commit ever referenced (a writer killed before its
        commit) are found too, not only files removed by a commit.
        """
        dt = self.open(name)
        deleted = list(
            dt.vacuum(retention_hours=retention_hours, dry_run=False, enforce_retention_duration=False, full=True)
        )
        staging = self.path(name) / STAGING_DIR
        if staging.is_dir():
            cutoff = time.time() - retention_hours * 3600
            for folder in staging.iterdir():
                if folder.stat().st_mtime <= cutoff:
                    deleted += [str(p) for p in folder.rglob("*") if p.is_file()]
                    shutil.rmtree(folder, ignore_errors=True)
        return deleted
