"""Rewrite a table without some rows, and purge exactly what held them: the storage side
of erasure and retention (no Spark: file-level work with pyarrow, commits with delta-rs).

* :func:`rewrite_without` reads the identifying columns of every data file of the table
  (live or left from an earlier version), rewrites each live file holding a matching row
  without it, and commits all replacements as one transaction. Files of earlier versions
  that hold a match are reported, not touched: nothing may rewrite a committed file.
* :func:`purge_files` deletes exactly the named files once no live version references
  them: an explicit zero-retention vacuum of those files and no other.
* :func:`purge_log` checkpoints the table and deletes the log entries before the
  checkpoint, so statistics of removed files cannot outlive them in ``_delta_log``.
* :func:`drop_partitions` removes whole partitions older than a date (retention).
* :func:`compact_crowded` bin-packs the partitions that hold many files (maintenance): a
  server's audit appends a file every few seconds, and every erasure reads every file.
"""

from __future__ import annotations

import os
import re
import time
import uuid
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date
from pathlib import Path
from urllib.parse import unquote

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq
from deltalake import DeltaTable
from deltalake.transaction import AddAction, CommitProperties, RemoveAction

from c360.storage.catalog import DETAILS_KEY, OPERATION_KEY, STAGING_DIR, LakeCatalog
from c360.storage.names import TableName
from c360.storage.stats import file_stats

STATS_COLUMNS_KEY = "delta.dataSkippingStatsColumns"  # the same key the writer reads (delta.py)
LOG_DIR = "_delta_log"
_VERSIONED = re.compile(r"^(\d{20})\.")

# A row mask: given some columns of a file (those of ``columns`` it has), True where the row goes.
RowMask = Callable[[pa.Table], pa.Array | pa.ChunkedArray]


@dataclass(frozen=True)
class RewriteResult:
    table: str
    version: int | None  # the rewrite commit, or None when no live file held a match
    rows_removed: int
    files_rewritten: list[str] = field(default_factory=list)  # live files replaced (relative paths)
    stale_files: list[str] = field(default_factory=list)  # files of earlier versions holding a match


def data_files(catalog: LakeCatalog, name: str | TableName) -> list[str]:
    """Every Parquet data file on disk under the table (live or not), relative posix paths."""
    root = catalog.path(name)
    return sorted(
        p.relative_to(root).as_posix()
        for p in root.rglob("*.parquet")
        if LOG_DIR not in p.relative_to(root).parts and STAGING_DIR not in p.relative_to(root).parts
    )


def _live(dt: DeltaTable) -> dict[str, dict[str, object]]:
    """Live add actions by on-disk relative path."""
    return {unquote(str(a["path"])): a for a in pa.table(dt.get_add_actions(flatten=True)).to_pylist()}


def _partition_string(value: object) -> str | None:
    if value is None:
        return None
    if isinstance(value, bool):
        return str(value).lower()
    if hasattr(value, "isoformat"):
        return value.isoformat()  # type: ignore[no-any-return]
    return str(value)


def _partition_values(action: Mapping[str, object], partition_by: Sequence[str]) -> dict[str, str | None]:
    return {c: _partition_string(action.get(f"partition.{c}")) for c in partition_by}


def matching_rows(path: Path, columns: Sequence[str], mask: RowMask) -> int:
    """How many rows of one Parquet file the mask selects (reads only ``columns``)."""
    pf = pq.ParquetFile(path)
    present = [c for c in columns if c in pf.schema_arrow.names]
    if not present:
        return 0
    m = mask(pf.read(columns=present))
    return int(pc.sum(pc.fill_null(m, False)).as_py() or 0)


def rewrite_without(
    catalog: LakeCatalog,
    name: str | TableName,
    columns: Sequence[str],
    mask: RowMask,
    *,
    operation: str,
    details: str = "",
) -> RewriteResult:
    """Remove the rows ``mask`` selects from the live files of the table, in one commit.

    Only files holding a match are rewritten (same folder, new name); the others are not
    read past ``columns``. The new files get statistics under the table's own rules (no
    bounds for columns outside ``delta.dataSkippingStatsColumns``).
    """
    tname = TableName.parse(name)
    root = catalog.path(tname)
    dt = catalog.open(tname)
    live = _live(dt)
    meta = dt.metadata()
    partition_by = list(meta.partition_columns)
    data_columns = [f.name for f in pa.schema(dt.schema().to_arrow()) if f.name not in partition_by]
    configured = meta.configuration.get(STATS_COLUMNS_KEY)
    bounded = set(configured.split(",")) if configured else set(data_columns)
    now = int(time.time() * 1000)
    actions: list[AddAction | RemoveAction] = []
    rewritten: list[str] = []
    stale: list[str] = []
    removed = 0
    staging = root / STAGING_DIR / uuid.uuid4().hex
    moved: list[Path] = []
    try:
        for rel in data_files(catalog, tname):
            n = matching_rows(root / rel, columns, mask)
            if n == 0:
                continue
            action = live.get(rel)
            if action is None:
                stale.append(rel)
                continue
            removed += n
            rewritten.append(rel)
            actions.append(
                RemoveAction(
                    path=unquote(str(action["path"])),  # encoded in the log; delta-rs encodes it
                    data_change=True,
                    deletion_timestamp=now,
                    size=int(action["size_bytes"]),  # type: ignore[call-overload]
                    partition_values=_partition_values(action, partition_by),
                )
            )
            full = pq.ParquetFile(root / rel).read()
            present = [c for c in columns if c in full.column_names]
            keep = full.filter(pc.invert(pc.fill_null(mask(full.select(present)), False)))
            if keep.num_rows == 0:
                continue
            staging.mkdir(parents=True, exist_ok=True)
            tmp = staging / f"part-rewrite-{uuid.uuid4().hex}.c000.snappy.parquet"
            pq.write_table(keep, tmp, compression="snappy")
            new_rel = (Path(rel).parent / tmp.name).as_posix()
            target = root / new_rel
            os.replace(tmp, target)
            moved.append(target)
            _, stats, _ = file_stats(target, data_columns, bounded)
            actions.append(
                AddAction(
                    path=new_rel,
                    size=target.stat().st_size,
                    partition_values=_partition_values(action, partition_by),
                    modification_time=int(target.stat().st_mtime * 1000),
                    data_change=True,
                    stats=stats,
                )
            )
        if not actions:
            return RewriteResult(str(tname), None, 0, [], stale)
        custom: dict[str, object] = {OPERATION_KEY: operation}
        if details:
            custom[DETAILS_KEY] = details
        dt.create_write_transaction(
            actions,
            mode="append",
            schema=dt.schema(),
            partition_by=partition_by or None,
            commit_properties=CommitProperties(custom_metadata=custom),
        )
    except BaseException:
        for p in moved:  # never committed: nothing references them
            p.unlink(missing_ok=True)
        raise
    finally:
        if staging.exists():
            for p in staging.iterdir():
                p.unlink()
            staging.rmdir()
    dt.update_incremental()
    return RewriteResult(str(tname), dt.version(), removed, rewritten, stale)


def drop_partitions(
    catalog: LakeCatalog,
    name: str | TableName,
    column: str,
    before: date,
    *,
    operation: str,
    details: str = "",
    dry_run: bool = False,
) -> tuple[int | None, list[str], int]:
    """Remove (one commit) every live file whose ``column`` partition is before ``before``.

    Returns (commit version or None, removed relative paths, rows removed). Null partitions
    are kept: a row with no date cannot be shown to be expired. ``dry_run`` commits nothing.
    """
    tname = TableName.parse(name)
    dt = catalog.open(tname)
    partition_by = list(dt.metadata().partition_columns)
    if column not in partition_by:
        raise ValueError(f"{tname}: retention column {column!r} is not a partition column ({partition_by})")
    now = int(time.time() * 1000)
    removes: list[AddAction | RemoveAction] = []
    paths: list[str] = []
    rows = 0
    for rel, a in sorted(_live(dt).items()):
        value = a.get(f"partition.{column}")
        if value is None:
            continue
        day = value if isinstance(value, date) else date.fromisoformat(str(value)[:10])
        if day >= before:
            continue
        paths.append(rel)
        rows += int(a.get("num_records") or 0)  # type: ignore[call-overload]
        removes.append(
            RemoveAction(
                path=unquote(str(a["path"])),
                data_change=True,
                deletion_timestamp=now,
                size=int(a["size_bytes"]),  # type: ignore[call-overload]
                partition_values=_partition_values(a, partition_by),
            )
        )
    if not removes or dry_run:
        return None, paths, rows
    custom: dict[str, object] = {OPERATION_KEY: operation}
    if details:
        custom[DETAILS_KEY] = details
    dt.create_write_transaction(
        removes,
        mode="append",
        schema=dt.schema(),
        partition_by=partition_by or None,
        commit_properties=CommitProperties(custom_metadata=custom),
    )
    dt.update_incremental()
    return dt.version(), paths, rows


COMPACT_MIN_FILES = 64  # a partition holding this many live files is compacted by maintenance
COMPACT_MAX_MEAN_BYTES = 16 * 1024 * 1024  # ... unless they are this large on average (not small files)


@dataclass(frozen=True)
class Compaction:
    partition: dict[str, str | None]  # {} for an unpartitioned table
    files_before: int
    files_after: int | None  # None: not done (a dry run)


def compact_crowded(
    catalog: LakeCatalog,
    name: str | TableName,
    *,
    min_files: int = COMPACT_MIN_FILES,
    dry_run: bool = False,
) -> list[Compaction]:
    """Compact (delta-rs optimize, one commit each) every partition holding ``min_files`` live
    files or more whose mean size is under ``COMPACT_MAX_MEAN_BYTES``; rows are unchanged, and
    the new files get statistics under the table's own rules (none for subject columns).

    A table written in small batches (the serving audit, a file per flush) otherwise grows a
    file every few seconds, and whatever reads it whole (an erasure reads every file, a query
    opens each) pays per file. Partitions with a null value are left alone (delta-rs cannot
    name them in a filter). Files appended meanwhile stay as they are, beside the compacted one.
    """
    tname = TableName.parse(name)
    dt = catalog.open(tname)
    partition_by = list(dt.metadata().partition_columns)
    groups: dict[tuple[tuple[str, str | None], ...], list[int]] = {}
    for a in _live(dt).values():
        key = tuple(_partition_values(a, partition_by).items())
        groups.setdefault(key, []).append(int(a["size_bytes"]))  # type: ignore[call-overload]
    done: list[Compaction] = []
    for key, sizes in sorted(groups.items(), key=lambda kv: [(c, v or "") for c, v in kv[0]]):
        if len(sizes) < min_files or sum(sizes) / len(sizes) >= COMPACT_MAX_MEAN_BYTES:
            continue
        if any(v is None for _, v in key):
            continue
        partition = dict(key)
        if dry_run:
            done.append(Compaction(partition, len(sizes), None))
            continue
        metrics = dt.optimize.compact(
            partition_filters=[(c, "=", v) for c, v in key] or None,  # type: ignore[misc]
            commit_properties=CommitProperties(custom_metadata={OPERATION_KEY: "compact"}),
        )
        after = len(sizes) - int(metrics.get("numFilesRemoved", 0)) + int(metrics.get("numFilesAdded", 0))
        done.append(Compaction(partition, len(sizes), after))
    return done


def purge_files(catalog: LakeCatalog, name: str | TableName, rel_paths: Iterable[str]) -> list[str]:
    """Delete exactly these data files, refusing any the latest version still references."""
    tname = TableName.parse(name)
    root = catalog.path(tname)
    rels = sorted(set(rel_paths))
    still = [r for r in rels if r in _live(catalog.open(tname))]
    if still:
        raise RuntimeError(f"{tname}: refusing to purge files the latest version references: {still[:3]}")
    deleted = []
    for rel in rels:
        p = root / rel
        if p.is_file():
            p.unlink()
            deleted.append(rel)
        crc = p.with_name(f".{p.name}.crc")  # Spark's local checksum file, if one was left
        crc.unlink(missing_ok=True)
    return deleted


def log_files(catalog: LakeCatalog, name: str | TableName) -> list[Path]:
    return sorted(p for p in (catalog.path(name) / LOG_DIR).rglob("*") if p.is_file())


def log_mentions(catalog: LakeCatalog, name: str | TableName, needles: Iterable[bytes]) -> list[str]:
    """The log files (commits, checkpoints, checksums) whose bytes contain any needle."""
    wanted = [n for n in needles if n]
    hits = []
    for p in log_files(catalog, name):
        data = p.read_bytes()
        if any(n in data for n in wanted):
            hits.append(p.name)
    return hits


def purge_log(catalog: LakeCatalog, name: str | TableName) -> list[str]:
    """Checkpoint the latest version, then delete every log file of an earlier version.

    What delta-rs ``cleanup_metadata`` does once the log retention has passed, done now:
    the table's history starts again at this checkpoint, and no commit or checkpoint
    holding statistics of a removed file is left.
    """
    dt = catalog.open(name)
    dt.create_checkpoint()
    current = dt.version()
    deleted = []
    for p in log_files(catalog, name):
        m = _VERSIONED.match(p.name)
        if m and int(m.group(1)) < current:
            p.unlink()
            deleted.append(p.name)
    return deleted
