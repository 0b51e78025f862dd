"""``c360 aqi compute INPUT``: AQI for a JSON, JSON Lines, Parquet or CSV file, in any of them.

Formats come from the file extensions (``.jsonl``/``.ndjson``, ``.json``, ``.parquet``,
``.csv``) or ``--format``/``--output-format``. One output record per input record, in input
order: the record's fields plus the result fields. Counts go to stderr so stdout stays a
clean stream.
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.console import Console

from c360.cli.state import state

app = typer.Typer(help="Air Quality Index calculator (see docs/aqi.md).", no_args_is_help=True)
err_console = Console(stderr=True)


InputArg = Annotated[
    Path,
    typer.Argument(
        help="JSON Lines, JSON array, Parquet or CSV file; a folder of JSON files, a FIFO or character "
        "device; - for stdin. Other binary input is refused."
    ),
]
OutputOpt = Annotated[
    Path | None,
    typer.Option("--output", "-o", help="Write the results here, in the format its extension names ('-': stdout)."),
]
StandardOpt = Annotated[str, typer.Option("--standard", help="Standard id or path to a standard's JSON file.")]
FormatOpt = Annotated[
    str | None, typer.Option("--format", help="Input format: jsonl, json, parquet or csv (default: by extension).")
]
OutputFormatOpt = Annotated[
    str | None,
    typer.Option(
        "--output-format",
        help="Output format: jsonl, parquet or csv (default: by the output's extension; jsonl without one).",
    ),
]


@app.command("compute")
def compute(
    input: InputArg,
    output: OutputOpt = None,
    standard: StandardOpt = "us-epa-2024",
    input_format: FormatOpt = None,
    output_format: OutputFormatOpt = None,
) -> None:
    """Compute the AQI of every record in INPUT and write one record per input record."""
    from c360.aqi import calculate, frames
    from c360.aqi.kernel import use_system_allocator

    use_system_allocator()
    if output is not None and str(output) == "-":  # stdout, as INPUT '-' is stdin (it wrote a file named '-')
        output = None
    try:
        in_fmt = frames.format_of(input, input_format) if str(input) != "-" else (input_format or "jsonl")
        out_fmt = frames.format_of(output or "-", output_format or ("jsonl" if output is None else None), output=True)
    except ValueError as exc:
        raise typer.BadParameter(str(exc)) from exc
    if out_fmt == "json":
        out_fmt = "jsonl"  # results are a stream: one JSON object per line
    if out_fmt != "jsonl" and output is None:
        raise typer.BadParameter(f"{out_fmt} output needs --output FILE (stdout takes jsonl)")
    if in_fmt in ("parquet", "csv"):
        if not input.is_file():
            raise typer.BadParameter(f"no such file: {input}")
        run: Any = calculate(frames.read_file(input, in_fmt), standard)
    else:
        # stdin as bytes, so binary input is recognised and refused like a binary file.
        source: object = getattr(sys.stdin, "buffer", sys.stdin) if str(input) == "-" else input
        run = calculate(source, standard, settings=state.settings)
    if output is None:
        counts = _write(run, sys.stdout, "jsonl")
        sys.stdout.flush()
    else:
        output.parent.mkdir(parents=True, exist_ok=True)
        tmp = output.with_name(output.name + ".partial")
        try:
            if out_fmt == "jsonl":
                with tmp.open("w", encoding="utf-8") as fp:
                    counts = _write(run, fp, out_fmt)
            else:
                counts = _write(run, tmp, out_fmt)
        except BaseException:
            tmp.unlink(missing_ok=True)
            raise
        tmp.replace(output)  # a crash never leaves a half-written OUT behind
    err_console.print(
        f"records: {counts.total}  ok: {counts.ok}  invalid: {counts.invalid}  failed: {counts.failed}",
        highlight=False,
    )


def _write(run: Any, out: Any, fmt: str) -> Any:
    """Results (an AqiRun or an Arrow stream) -> ``out`` in ``fmt``; returns the counts."""
    import pyarrow as pa

    from c360.aqi import Counts, frames

    if isinstance(run, pa.RecordBatchReader):
        counts = Counts()

        def counted(reader: pa.RecordBatchReader) -> Any:
            for batch in reader:
                statuses = batch.column("status").to_pylist()
                counts.ok += statuses.count("ok")
                counts.invalid += statuses.count("invalid")
                yield batch

        stream = pa.RecordBatchReader.from_batches(run.schema, counted(run))
        if fmt == "jsonl":
            for batch in stream:
                for line in frames.json_lines(batch):
                    out.write(line)
                    out.write("\n")
        else:
            frames.write_file(stream, out, fmt)
        return counts
    if fmt == "jsonl":
        return run.write_jsonl(out)
    # JSON records into a table: every input field as text (its digits), results typed.
    frames.write_file(frames.records_reader(run), out, fmt)
    return run.counts
