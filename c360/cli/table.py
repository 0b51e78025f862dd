"""``c360 table ...``: look at the lake's tables (list, show, history, vacuum, compact)."""

from __future__ import annotations

import json
import sys
from datetime import datetime
from enum import StrEnum

import typer
from rich.table import Table

from c360.cli.state import make_console, state

app = typer.Typer(help="Inspect and maintain lake tables (names are tier.domain.table).", no_args_is_help=True)
console = make_console()


def _storage():  # noqa: ANN202 - imported lazily to keep `c360 --help` fast
    from c360.storage import DeltaStorage

    return DeltaStorage(state.spark, state.settings.lake_root)


def _catalog():  # noqa: ANN202
    from c360.storage import LakeCatalog

    return LakeCatalog(state.settings.lake_root)


@app.command("list")
def list_tables() -> None:
    """List every table in the lake with its current version."""
    catalog = _catalog()
    names = catalog.list_tables()
    if not names:
        console.print(f"No tables under {state.settings.lake_root}")
        return
    out = Table("table", "version", "partitioned by", "files")
    for name in names:
        info = catalog.describe(name)
        out.add_row(name, str(info.version), ", ".join(info.partition_by) or "-", str(info.files))
    console.print(out)


class Format(StrEnum):
    TABLE = "table"
    CSV = "csv"
    JSON = "json"


@app.command("show")
def show(
    name: str = typer.Argument(..., help="tier.domain.table"),
    version: int | None = typer.Option(None, "--version", help="Read this table version."),
    as_of: datetime | None = typer.Option(None, "--as-of", help="Read the version current at this UTC time."),
    limit: int = typer.Option(20, "--limit", min=1, help="Rows to show."),
    fmt: Format | None = typer.Option(
        None,
        "--format",
        help="table, csv or json (JSON Lines). Default: table on a terminal, csv when piped or redirected "
        "(whole column names and values, nothing cut to fit a width).",
    ),
) -> None:
    """Show the first rows of a table (latest, a version, or as of a time); read by delta-rs, no Spark.

    CSV renders nested values as every c360 CSV does (``c360.sql.csv_ready``: lists joined by
    '|', maps and structs as JSON), so a table shown, exported or queried reads the same."""
    if version is not None and as_of is not None:
        raise typer.BadParameter("give --version or --as-of, not both")
    from c360.lake import Lake

    _catalog().open(name, version=version, as_of=as_of)  # a missing table named with the lake's close names
    rows = Lake(settings=state.settings).arrow(name, version=version, as_of=as_of, limit=limit)
    fmt = fmt or (Format.TABLE if console.is_terminal else Format.CSV)
    if fmt is Format.CSV:
        from c360.sql import write_result

        sys.stdout.flush()
        write_result(rows, "csv", sys.stdout.buffer)
        sys.stdout.buffer.flush()
        return
    if fmt is Format.JSON:
        from c360.sql import json_records

        for record in json_records(rows):
            sys.stdout.write(json.dumps(record, ensure_ascii=False) + "\n")
    else:
        out = Table(*rows.column_names, title=name)
        for record in rows.to_pylist(maps_as_pydicts="lossy"):
            out.add_row(*("∅" if v is None else str(v) for v in record.values()))
        console.print(out)
    sys.stdout.flush()


@app.command("history")
def history(name: str = typer.Argument(..., help="tier.domain.table")) -> None:
    """Show the commit history of a table, newest first."""
    out = Table("version", "timestamp (UTC)", "operation", "c360 operation", "rows added", "details")
    for entry in _catalog().history(name):
        out.add_row(
            str(entry.version),
            entry.timestamp.strftime("%Y-%m-%d %H:%M:%S"),
            entry.operation,
            entry.c360_operation or "",
            "" if entry.rows_added is None else str(entry.rows_added),
            entry.details,
        )
    console.print(out)


@app.command("vacuum")
def vacuum(
    name: str = typer.Argument(..., help="tier.domain.table"),
    retention_hours: int | None = typer.Option(
        None, "--retention-hours", min=0, help="Keep files removed less than this long ago (default from settings)."
    ),
) -> None:
    """Delete files no longer referenced by the table (older than the retention)."""
    hours = state.settings.vacuum_retention_hours if retention_hours is None else retention_hours
    deleted = _catalog().vacuum(name, retention_hours=hours)
    console.print(f"{name}: deleted {len(deleted)} file(s) (retention {hours} h)")


@app.command("compact")
def compact(name: str = typer.Argument(..., help="tier.domain.table")) -> None:
    """Rewrite small files into larger ones (one commit; rows unchanged)."""
    result = _storage().compact(name)
    console.print(f"{name}: {result}")
