"""``c360 aqi compute INPUT``: AQI for a JSON file or folder, as JSON Lines.

One output line per input record, in input order: the record's fields plus the result
fields. Counts go to stderr so stdout stays a clean JSON Lines stream.
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console

from c360.cli.state import state

app = typer.Typer(help="Air Quality Index calculator (see docs/aqi.md).", no_args_is_help=True)
err_console = Console(stderr=True)


InputArg = Annotated[
    Path,
    typer.Argument(
        help="JSON Lines or JSON array file, a folder of them, a FIFO or character device; - for stdin. "
        "Binary input is refused."
    ),
]
OutputOpt = Annotated[Path | None, typer.Option("--output", "-o", help="Write JSON Lines here (default: stdout).")]
StandardOpt = Annotated[str, typer.Option("--standard", help="Standard id or path to a standard's JSON file.")]


@app.command("compute")
def compute(
    input: InputArg,
    output: OutputOpt = None,
    standard: StandardOpt = "us-epa-2024",
) -> None:
    """Compute the AQI of every record in INPUT and write one JSON line per record."""
    from c360.aqi import calculate

    # stdin as bytes, so binary input is recognised and refused like a binary file.
    source: object = getattr(sys.stdin, "buffer", sys.stdin) if str(input) == "-" else input
    run = calculate(source, standard, settings=state.settings)
    if output is None:
        counts = run.write_jsonl(sys.stdout)
        sys.stdout.flush()
    else:
        output.parent.mkdir(parents=True, exist_ok=True)
        tmp = output.with_name(output.name + ".partial")
        try:
            with tmp.open("w", encoding="utf-8") as fp:
                counts = run.write_jsonl(fp)
        except BaseException:
            tmp.unlink(missing_ok=True)
            raise
        tmp.replace(output)  # a crash never leaves a half-written OUT behind
    err_console.print(
        f"records: {counts.total}  ok: {counts.ok}  invalid: {counts.invalid}  failed: {counts.failed}",
        highlight=False,
    )
