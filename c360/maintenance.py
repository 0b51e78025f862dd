"""Retention: the per-table policies of the registry (``Table.retention``), applied.

* Rows: a table with ``rows_days`` loses, in one commit, every partition of its
  ``row_date`` column older than ``today - rows_days`` (whole files, no rewrite).
* Small files: a partition holding many small files (``COMPACT_MIN_FILES``; the serving
  audit appends one every few seconds) is compacted, rows unchanged.
* Versions: every table is vacuumed with its own ``versions_days``: files replaced longer
  ago than that (and files no commit ever took) are deleted, so time travel reaches back
  ``versions_days`` and no further.

Run by ``c360 maintenance`` and the ``c360_maintenance`` DAG (``c360/jobs/maintenance.py``);
delta-rs only, no Spark job. ``today`` is a parameter, never the clock inside the logic, so a
run for a past date removes what that date's policy removed.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import date, timedelta

from c360.registry import Table, registry
from c360.storage import LakeCatalog
from c360.storage import rewrite as rw


@dataclass
class TableMaintenance:
    table: str
    rows_before: date | None = None  # partitions before this date were expired
    rows_removed: int = 0
    files_expired: list[str] = field(default_factory=list)
    version: int | None = None  # the retention commit
    versions_days: int = 0
    compacted: list[rw.Compaction] = field(default_factory=list)  # partitions of many small files
    files_vacuumed: list[str] = field(default_factory=list)


def expiry_date(table: Table, today: date) -> date | None:
    """The first ``row_date`` still kept on ``today`` (None: rows are kept for ever)."""
    days = table.retention.rows_days
    return None if days is None else today - timedelta(days=days)


def apply_retention(
    catalog: LakeCatalog,
    today: date,
    tables: Iterable[Table] | None = None,
    *,
    vacuum: bool = True,
    dry_run: bool = False,
) -> list[TableMaintenance]:
    """Apply every policy to the tables of the lake (default: every registered table there)."""
    done = []
    for t in registry() if tables is None else tables:
        if not catalog.exists(t.name):
            continue
        out = TableMaintenance(t.name, versions_days=t.retention.versions_days)
        cutoff = expiry_date(t, today)
        if cutoff is not None and t.retention.row_date is not None:
            out.rows_before = cutoff
            out.version, out.files_expired, out.rows_removed = rw.drop_partitions(
                catalog,
                t.name,
                t.retention.row_date,
                cutoff,
                operation="retention",
                details=f"rows with {t.retention.row_date} < {cutoff} ({t.retention.rows_days} days before {today})",
                dry_run=dry_run,
            )
        out.compacted = rw.compact_crowded(catalog, t.name, dry_run=dry_run)
        if vacuum and not dry_run:
            out.files_vacuumed = catalog.vacuum(t.name, retention_hours=t.retention.versions_days * 24)
        done.append(out)
    return done
