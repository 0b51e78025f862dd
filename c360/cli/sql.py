"""``c360 sql "SELECT ..."``: the serving SQL engine on the command line (no Spark).

Same engine, same access and the same refusals as ``POST /v1/sql``. The table versions
read go to stderr, so stdout is only the result.
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.table import Table

from c360.cli.state import make_console, state

err_console = Console(stderr=True, soft_wrap=True)
FORMATS = ("table", "csv", "json", "parquet")
FILE_FORMATS = ("csv", "json", "parquet")


def sql(
    query: Annotated[str, typer.Argument(help="One SELECT over tables named tier.domain.table.")],
    fmt: Annotated[
        str | None,
        typer.Option(
            "--format",
            "-f",
            help="table (on screen), csv, json or parquet (default: table, or --out's extension).",
        ),
    ] = None,
    out: Annotated[Path | None, typer.Option("--out", "-o", help="Write the result here ('-': stdout).")] = None,
    role: Annotated[str, typer.Option("--role", help="Column access of this role.")] = "analyst",
    limit: Annotated[int, typer.Option("--limit", min=1, help="Row limit.")] = 10_000,
    timeout: Annotated[float, typer.Option("--timeout", min=0.1, help="Seconds before the query is stopped.")] = 60.0,
    at: Annotated[list[str] | None, typer.Option("--at", help="Pin a table: TABLE=VERSION (repeatable).")] = None,
) -> None:
    """Run one read-only SELECT over the published tables and print or write the result."""
    from c360.sql import SqlEngine, write_result

    dash = out is not None and str(out) == "-"  # stdout, as Unix tools spell it (it wrote a file named '-')
    if dash:
        out = None
    named = out.suffix.lstrip(".").lower() if out is not None else ""
    if fmt is None:
        fmt = named if named in FILE_FORMATS else "csv" if dash else "table" if out is None else "csv"
    if fmt not in FORMATS:
        raise typer.BadParameter(f"--format must be one of {', '.join(FORMATS)}")
    if fmt == "parquet" and out is None and (not dash or sys.stdout.isatty()):
        raise typer.BadParameter("--format parquet needs --out FILE, or --out - into a pipe")
    if out is not None and fmt == "table":  # it was printed on screen, and --out silently ignored
        raise typer.BadParameter("--format table is for the screen: give --out a .csv, .json or .parquet file")
    if named in FILE_FORMATS and named != fmt:
        raise typer.BadParameter(f"--out {out.name if out else ''} names a {named} file, but --format is {fmt}")
    versions: dict[str, int] = {}
    for item in at or []:
        name, sep, version = item.partition("=")
        if not sep or not version.isdigit():
            raise typer.BadParameter(f"--at {item!r}: expected TABLE=VERSION")
        versions[name] = int(version)
    engine = SqlEngine(state.settings.lake_root, workers=1, memory_bytes=state.settings.sql_memory_bytes(1))
    try:
        result = engine.query(query, role=role, limit=limit, timeout=timeout, versions=versions)
    finally:
        engine.close()
    read = ", ".join(f"{n}@v{v}" for n, v in result.versions.items()) or "no table"
    more = f" (truncated at --limit {limit})" if result.truncated else ""
    err_console.print(f"{result.rows} rows{more}; read {read}", highlight=False)
    if fmt == "table":
        console = make_console()
        screen = Table(*result.table.column_names)
        for row in zip(*(column.to_pylist() for column in result.table.columns), strict=True):
            screen.add_row(*("∅" if v is None else str(v) for v in row))
        console.print(screen)
        return
    if out is None:
        write_result(result.table, fmt, sys.stdout.buffer)
        sys.stdout.flush()
        return
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = out.with_name(out.name + ".partial")
    with tmp.open("wb") as sink:
        write_result(result.table, fmt, sink)
    tmp.replace(out)
