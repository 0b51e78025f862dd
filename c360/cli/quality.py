"""``c360 quality ...``: the quality gate's verdicts, anomalies and where to look further."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated

import typer
from rich.console import Console

from c360.cli.state import iso_date, state

app = typer.Typer(help="Quality gate results, metric anomalies, Data Docs.", no_args_is_help=True)
console = Console(soft_wrap=True)

_COLOURS = {"passed": "green", "warn": "yellow", "failed": "red"}


@app.command("report")
def report(
    table: Annotated[str | None, typer.Option("--table", help="Only this table (tier.domain.table).")] = None,
    run_date: Annotated[
        datetime | None,
        typer.Option(
            "--run-date", parser=iso_date, metavar="YYYY-MM-DD", help="This run date (default: each table's latest)."
        ),
    ] = None,
) -> None:
    """Status per table: passed / warn / failed, failing expectations with row counts, anomalies."""
    from c360.quality.report import data_docs_index, table_status, write_offline_index

    lake_root = state.settings.lake_root
    if table is not None:
        from c360.registry import registry
        from c360.storage import LakeCatalog

        if table not in registry() and not LakeCatalog(lake_root).exists(table):
            registry().get(table)  # a mistyped name: raises with the closest ones
    statuses = table_status(lake_root, table, None if run_date is None else run_date.date())
    if not statuses:
        what = f" for {table}" if table else ""
        when = f" on {run_date.date().isoformat()}" if run_date else ""
        console.print(f"No quality results{what}{when} under {lake_root}")
        return
    for s in statuses:
        colour = _COLOURS.get(s.status, "white")
        published = f"published as version {s.table_version}" if s.published else "not published"
        console.print(
            f"[bold]{s.table}[/bold]  {s.run_date.isoformat()}  [{colour}]{s.status}[/{colour}]  "
            f"({published}; run {s.run_id}; {s.expectations} expectations, "
            f"{len(s.failures)} failed)",
            highlight=False,
        )
        for f in s.failures:
            label = "FAILED" if f.severity == "error" else "warn  "
            if f.unexpected_count is not None:
                what = f"{f.unexpected_count} unexpected row(s) of {f.element_count}"
            else:
                what = f"observed {f.observed_value}"
            extra = f"  - {f.details}" if f.details else ""
            console.print(f"    {label} {f.expectation}: {what}{extra}", highlight=False)
        for a in s.anomalies:
            label = "ANOMALY (blocks)" if a.blocks else "anomaly"
            console.print(
                f"    {label} {a.metric} = {a.value:.6g}, expected {a.expected:.6g} (robust z {a.z_score:+.1f})",
                highlight=False,
            )
            if a.plot:
                console.print(f"        plot: {a.plot}", highlight=False)
        if s.data_docs:
            console.print(f"    data docs: {s.data_docs}", highlight=False)
    offline = write_offline_index(lake_root)
    console.print(f"Data Docs index: {data_docs_index(lake_root)}", highlight=False)
    if offline is not None:
        console.print(f"  the same without network (GX's index loads scripts from CDNs): {offline}", highlight=False)
