"""``c360 run ...``: pipeline steps for a run date (or a range), the same functions Airflow calls."""

from __future__ import annotations

from datetime import datetime
from pathlib import Path

import typer
from rich.table import Table

from c360.cli.state import iso_date, make_console, state

app = typer.Typer(
    help="Run the pipeline (ingest -> sanitize -> model) for a date or a range, or one step of it.",
    invoke_without_command=True,
)
console = make_console()

RUN_DATE = typer.Option(
    ..., "--run-date", help="Logical date (extract date) YYYY-MM-DD.", parser=iso_date, metavar="YYYY-MM-DD"
)
# Each product's DAG passes its own group, so two products on one date never write the same table.
SOURCES = typer.Option(None, "--sources", help="Only this source group: retail or air_quality (default: all).")


def _ctx(rows: int | None = None):  # noqa: ANN202 - heavy imports stay inside commands
    """The run's context; its Spark session starts sized for ``rows``, what the command reads."""
    from c360.pipeline import RunContext

    return RunContext.create(state.settings, state.session(rows))


def _step_ctx(step: str, day, source: Path | None = None, sources: str | None = None):  # noqa: ANN001, ANN202
    """The context of one step's command, its session sized for what the step reads."""
    from c360.pipeline import step_rows

    return _ctx(step_rows(step, state.settings.lake_root, day, source, sources))


def _print_ingest(report) -> None:  # noqa: ANN001
    from c360.raw.ingest import shown

    problems = [f for f in report.files if f.problems and f.status != "already_ingested"]
    if problems:
        out = Table("file", "status", "rows", "malformed", "note", title="files needing attention")
        for f in problems:
            out.add_row(shown(f.path), f.status, str(f.rows), str(f.malformed), f.message())
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


@app.callback()
def run_all_cmd(
    ctx: typer.Context,
    source: Path | None = typer.Option(None, "--source", exists=True, file_okay=False, help="Folder of extracts."),
    run_date: datetime | None = typer.Option(
        None, "--run-date", parser=iso_date, metavar="YYYY-MM-DD", help="One logical date."
    ),
    start: datetime | None = typer.Option(
        None, "--from", parser=iso_date, metavar="YYYY-MM-DD", help="First date of a backfill."
    ),
    end: datetime | None = typer.Option(
        None, "--to", parser=iso_date, metavar="YYYY-MM-DD", help="Last date of a backfill."
    ),
) -> None:
    """Without a step: ingest, sanitize, model and air quality for --run-date (or --from..--to) in one session."""
    if ctx.invoked_subcommand is not None:
        return
    if source is None or (run_date is None) == (start is None or end is None):
        raise typer.BadParameter("give --source and either --run-date or both --from and --to")
    from c360.pipeline import date_range

    dates = [run_date.date()] if run_date else date_range(start.date(), end.date())  # type: ignore[union-attr]
    run_pipeline(source, dates)


def run_pipeline(source: Path, dates: list, last_day_only: bool = False) -> None:  # noqa: ANN001
    """The whole pipeline with progress and a summary (shared with ``c360 demo``)."""
    import time

    from c360.pipeline import run_all, run_rows

    run = _ctx(run_rows(state.settings.lake_root, source, dates))
    started = time.perf_counter()
    try:
        with console.status("starting") as status:
            per_day = [dates[-1]] if last_day_only else None
            run_all(run, source, dates, lambda s: status.update(f"[bold]{s}[/bold]"), per_day, per_day)
    except BaseException:
        _print_steps(run, dates)  # what ran before the error or the interrupt, which the CLI prints next
        raise
    _print_steps(run, dates)
    _print_tables()
    console.print(f"done in {time.perf_counter() - started:.0f} s; lake: {state.settings.lake_root}")


def _print_steps(run, dates: list) -> None:  # noqa: ANN001
    """The run's steps in pipeline order, their time, status and summary (a failed step's
    names its error's type: the CLI prints the error under the table; the model and air
    quality may end in either order)."""
    out = Table("step", "seconds", "status", "summary", title=f"run {run.run_id} ({dates[0]}..{dates[-1]})")
    merged: dict[str, list] = {}
    for t in run.timings:
        entry = merged.setdefault(t.step, [0.0, t.status, []])
        entry[0] += t.seconds
        entry[1] = t.status
        entry[2].append(t.summary)
    order = {step: i for i, step in enumerate(("ingest", "sanitize", "model", "air_quality"))}
    for step, (secs, status_, summaries) in sorted(merged.items(), key=lambda kv: order.get(kv[0], len(order))):
        summary = summaries[-1]
        if status_ == "failed":
            summary = summary.split(": ", 1)[0] + " (below)"
        elif status_ == "interrupted":
            summary = ""
        out.add_row(step, f"{secs:.1f}", status_, summary)
    console.print(out)


def _print_tables() -> None:
    from c360.storage import LakeCatalog

    catalog = LakeCatalog(state.settings.lake_root)
    out = Table("table", "rows", "version", title="published and quarantine tables")
    for name in catalog.list_tables():
        if name.startswith(("enhanced.", "quarantine.")):
            rows = sum(catalog.row_counts(name).values())
            out.add_row(name, str(rows), str(catalog.describe(name).version))
    console.print(out)


@app.command("ingest")
def ingest_cmd(
    source: Path = typer.Option(..., "--source", exists=True, file_okay=False, help="Folder of extracts."),
    run_date: datetime = RUN_DATE,
    sources: str | None = SOURCES,
) -> None:
    """Ingest the extract of the date (SOURCE/<date>/, or SOURCE itself for a one-off dump)."""
    from c360.pipeline import ingest_step, ingest_summary

    day = run_date.date()
    ctx = _step_ctx("ingest", day, source, sources)
    report = ctx.step("ingest", day, lambda: ingest_step(ctx, source, day, sources), ingest_summary)
    _print_ingest(report)
    console.print(f"ingest: {ingest_summary(report)} -> {state.settings.lake_root / 'raw'}")


@app.command("model")
def model_cmd(run_date: datetime = RUN_DATE) -> None:
    """Build the star schema and marts for the date; each table is published only if its quality gate passes."""
    from c360.pipeline import model_step, model_summary

    ctx = _step_ctx("model", run_date.date())
    report = ctx.step("model", run_date.date(), lambda: model_step(ctx, [run_date.date()]), model_summary)
    out = Table("table", "rows", "published", "version", "partitions", title="model")
    for t in report.tables:
        out.add_row(t.table, str(t.rows), "yes" if t.committed else "unchanged", str(t.version), str(len(t.partitions)))
    console.print(out)
    console.print(f"model: {model_summary(report)}")


@app.command("sanitize")
def sanitize_cmd(run_date: datetime = RUN_DATE, sources: str | None = SOURCES) -> None:
    """Sanitize what raw received for the date: typed, validated, de-duplicated, pseudonymised."""
    from c360.pipeline import sanitize_step, sanitize_summary

    day = run_date.date()
    ctx = _step_ctx("sanitize", day, sources=sources)
    report = ctx.step("sanitize", day, lambda: sanitize_step(ctx, [day], sources), sanitize_summary)
    _print_sanitize(report)
    console.print(
        f"sanitize: {sanitize_summary(report)}; quarantined rows: c360 table show quarantine.<domain>.<source>"
    )


@app.command("air-quality")
def air_quality_cmd(run_date: datetime = RUN_DATE) -> None:
    """Publish the air-quality star: dimensions as of the date, facts for the local day before it."""
    from c360.pipeline import air_quality_step, air_quality_summary

    day = run_date.date()
    ctx = _step_ctx("air_quality", day)
    report = ctx.step("air_quality", day, lambda: air_quality_step(ctx, [day]), air_quality_summary)
    out = Table("table", "partition", "rows", "committed", title="air quality")
    for w in report.writes:
        out.add_row(
            w.table, "; ".join(w.partitions), str(w.rows) if w.committed else "-", "yes" if w.committed else "unchanged"
        )
    console.print(out)
    console.print(f"air-quality: {air_quality_summary(report)}")
