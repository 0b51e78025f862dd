"""``c360 run ...``: pipeline steps for a run date (or a range), the same functions Airflow calls."""

from __future__ import annotations

from datetime import datetime
from pathlib import Path

import typer
from rich.table import Table

from c360.cli.state import make_console, state

app = typer.Typer(help="Run pipeline steps for a logical date (ingest, sanitize, ...).", no_args_is_help=True)
console = make_console()

RUN_DATE = typer.Option(..., "--run-date", help="Logical date (extract date) YYYY-MM-DD.", formats=["%Y-%m-%d"])


def _ctx():  # noqa: ANN202 - heavy imports stay inside commands
    from c360.pipeline import RunContext

    return RunContext.create(state.settings, state.spark)


def _print_ingest(report) -> None:  # noqa: ANN001
    problems = [f for f in report.files if f.problems and f.status != "already_ingested"]
    if problems:
        out = Table("file", "status", "rows", "malformed", "note", title="files needing attention")
        for f in problems:
            out.add_row(str(f.path), f.status, str(f.rows), str(f.malformed), f.message())
        console.print(out)


def _print_sanitize(report) -> None:  # noqa: ANN001
    out = Table("table", "in", "sanitized", "quarantined", "dup exact", "superseded", "unchanged", title="sanitize")
    for t in report.tables:
        c = t.counts
        out.add_row(
            t.table,
            *(
                str(c.get(k, 0))
                for k in ("rows_in", "sanitized", "quarantined", "duplicate_exact", "superseded", "unchanged_resend")
            ),
        )
    console.print(out)


@app.command("ingest")
def ingest_cmd(
    source: Path = typer.Option(..., "--source", exists=True, file_okay=False, help="Folder of extracts."),
    run_date: datetime = RUN_DATE,
) -> None:
    """Ingest the extract of the date (SOURCE/<date>/, or SOURCE itself for a one-off dump)."""
    from c360.pipeline import ingest_step, ingest_summary

    ctx = _ctx()
    day = run_date.date()
    report = ctx.step("ingest", day, lambda: ingest_step(ctx, source, day), ingest_summary)
    _print_ingest(report)
    console.print(f"ingest: {ingest_summary(report)} -> {state.settings.lake_root / 'raw'}")


@app.command("sanitize")
def sanitize_cmd(run_date: datetime = RUN_DATE) -> None:
    """Sanitize what raw received for the date: typed, validated, de-duplicated, pseudonymised."""
    from c360.pipeline import sanitize_step, sanitize_summary

    ctx = _ctx()
    report = ctx.step("sanitize", run_date.date(), lambda: sanitize_step(ctx, [run_date.date()]), sanitize_summary)
    _print_sanitize(report)
    console.print(
        f"sanitize: {sanitize_summary(report)}; quarantined rows: c360 table show quarantine.<domain>.<source>"
    )
