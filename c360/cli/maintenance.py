"""``c360 maintenance``: apply the registry's retention policies (docs/retention.md)."""

from __future__ import annotations

from datetime import UTC, date, datetime
from typing import TYPE_CHECKING

import typer
from rich.table import Table

from c360.cli.state import make_console, state

if TYPE_CHECKING:
    from c360.storage.rewrite import Compaction

console = make_console()


def maintenance(
    today: str | None = typer.Option(None, "--today", help="Apply the policies as of this date (default: today, UTC)."),
    table: list[str] = typer.Option([], "--table", help="Only these tables (repeatable)."),
    dry_run: bool = typer.Option(False, "--dry-run", help="Show what would expire; change nothing."),
    no_vacuum: bool = typer.Option(False, "--no-vacuum", help="Expire rows but keep old versions' files."),
) -> None:
    """Delete expired rows (by partition) and vacuum old versions, per table policy."""
    from c360.maintenance import apply_retention
    from c360.registry import registry
    from c360.serve.exports import prune_exports
    from c360.storage import LakeCatalog
    from c360.storage.locks import PIPELINE_LOCK, lake_locks

    now = datetime.now(UTC).date()
    try:
        day = date.fromisoformat(today) if today else now
    except ValueError:
        raise typer.BadParameter(f"--today {today!r} is not a date (YYYY-MM-DD)") from None
    if day > now and not dry_run:
        # Rows expired as of a future day are deleted now: a mistyped year would expire years of
        # raw evidence. Looking ahead is what --dry-run is for.
        raise typer.BadParameter(f"--today {day} is after today ({now}); add --dry-run to see what would expire then")
    tables = [registry().get(t) for t in table] or None
    lake_root = state.settings.lake_root
    shared = [] if dry_run else [PIPELINE_LOCK]  # a step's lock, as the maintenance DAG's task holds it
    with lake_locks(lake_root, [], f"maintenance {day}", shared=shared):
        catalog = LakeCatalog(lake_root)
        done = apply_retention(catalog, day, tables, vacuum=not no_vacuum, dry_run=dry_run)
        # after the vacuum: the server's exports of versions it made unreadable go with them
        pruned = [] if table else prune_exports(catalog, state.settings.export_dir, dry_run=dry_run)
    out = Table(
        "table",
        "rows kept from",
        "expired files",
        "expired rows",
        "version",
        "compacted files",
        "versions kept (days)",
        "vacuumed",
    )
    for t in done:
        if not (t.files_expired or t.files_vacuumed or t.compacted or table):
            continue
        out.add_row(
            t.table,
            str(t.rows_before or "-"),
            str(len(t.files_expired)),
            str(t.rows_removed),
            "-" if t.version is None else str(t.version),
            _compacted(t.compacted),
            str(t.versions_days),
            str(len(t.files_vacuumed)),
        )
    console.print(out)
    verb = "would expire" if dry_run else "expired"
    compacted = sum(len(t.compacted) for t in done)
    console.print(
        f"{len(done)} table(s) checked as of {day}: {verb} {sum(t.rows_removed for t in done)} row(s), "
        f"{'would compact' if dry_run else 'compacted'} {compacted} partition(s) of many small files, "
        f"vacuumed {sum(len(t.files_vacuumed) for t in done)} file(s), "
        f"{'would delete' if dry_run else 'deleted'} {len(pruned)} export file(s) of versions no longer kept"
    )


def _compacted(parts: list[Compaction]) -> str:
    """``640 -> 1`` per compacted partition (``640 -> ?`` in a dry run), or ``-``."""
    if not parts:
        return "-"
    return ", ".join(f"{c.files_before} -> {'?' if c.files_after is None else c.files_after}" for c in parts)
