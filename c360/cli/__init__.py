"""The ``c360`` command line: thin commands over library functions.

Errors print as one clear line (``--debug`` shows the traceback); heavy imports
(pyspark, deltalake) happen inside commands, so ``c360 --help`` stays fast.
"""

from __future__ import annotations

import logging
import sys
import traceback
from pathlib import Path

import typer
from rich.console import Console

from c360.cli import access, aqi, catalog, lineage, maintenance, mock, privacy, quality, registry, run, table
from c360.cli import serve as serve_cli
from c360.cli import sql as sql_cli
from c360.cli.state import state

app = typer.Typer(
    name="c360",
    help="c360: a batch lakehouse on PySpark and Delta Lake.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    add_completion=False,
)
app.add_typer(table.app, name="table")
app.add_typer(aqi.app, name="aqi")
app.add_typer(mock.app, name="mock")
app.add_typer(run.app, name="run")
app.add_typer(quality.app, name="quality")
app.add_typer(registry.app, name="registry")
app.command("sql")(sql_cli.sql)
app.add_typer(access.app, name="access")
app.command("serve")(serve_cli.serve)
app.command("export")(serve_cli.export)
app.add_typer(privacy.app, name="privacy")
app.add_typer(catalog.app, name="catalog")
app.command("maintenance")(maintenance.maintenance)
app.command("lineage")(lineage.lineage)

err_console = Console(stderr=True, soft_wrap=True)


@app.callback()
def _root(
    debug: bool = typer.Option(False, "--debug", help="Show full tracebacks on errors."),
) -> None:
    state.debug = debug


@app.command("demo")
def demo(
    source: Path = typer.Option(Path("mock_data"), "--source", exists=True, file_okay=False, help="Daily extracts."),
) -> None:
    """Run the whole pipeline over the mock data's period and show where everything landed."""
    from c360.cli.run import console, run_pipeline
    from c360.pipeline import extract_dates

    dates = extract_dates(source)
    if not dates:
        raise typer.BadParameter(f"{source} holds no dated extract folders (YYYY-MM-DD)")
    console.print(
        f"c360 demo: {len(dates)} daily extracts {dates[0]}..{dates[-1]} from {source} -> {state.settings.lake_root}"
    )
    # The profile and air quality are built per day; the demo builds the last day of each
    # (a backfill, c360 run --from --to, builds every day).
    run_pipeline(source, dates, last_day_only=True)
    from c360.demo import show_profile_head

    show_profile_head(console, state.spark, state.settings, dates[-1])


def main() -> None:
    """Console-script entry point."""
    # PySpark logs every analysis error as a multi-kilobyte JSON record before raising it;
    # the CLI reports the error itself in one line (the traceback with --debug).
    logging.getLogger("DataFrameQueryContextLogger").setLevel(logging.CRITICAL)
    try:
        # Outside standalone mode click returns a command's exit code (typer.Exit) instead of exiting.
        code = app(standalone_mode=False)
        if code == 130:  # typer answers Ctrl-C (KeyboardInterrupt) with this code, silently
            err_console.print("[red]interrupted[/red]")
        if isinstance(code, int) and code:
            sys.exit(code)
    except SystemExit:
        raise
    except KeyboardInterrupt:
        err_console.print("[red]interrupted[/red]")
        sys.exit(130)
    except Exception as exc:  # noqa: BLE001 - the CLI's single error boundary
        import click

        if isinstance(exc, click.exceptions.Exit):
            sys.exit(exc.exit_code)
        if isinstance(exc, click.ClickException):
            exc.show()
            sys.exit(exc.exit_code)
        if isinstance(exc, click.exceptions.Abort):
            err_console.print("[red]aborted[/red]")
            sys.exit(1)
        if _spark_interrupted():  # a Spark job cancelled by the Ctrl-C failed before the interrupt was raised
            if state.debug:
                traceback.print_exc()
            err_console.print("[red]interrupted[/red]")
            sys.exit(130)
        if state.debug:
            traceback.print_exc()
        err_console.print(f"[red]error:[/red] {type(exc).__name__}: {exc}", highlight=False)
        sys.exit(1)
    finally:
        state.close(exiting=True)


def _spark_interrupted() -> bool:
    """Whether this process's Spark session has had a Ctrl-C (``c360.spark.handle_interrupts``)."""
    spark = sys.modules.get("c360.spark")
    return spark is not None and spark.INTERRUPTED.is_set()
