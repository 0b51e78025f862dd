"""``c360 mock generate``: write a source data set (extracts, sensor readings, manifest)."""

from __future__ import annotations

import time
from datetime import date, datetime
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console

from c360.cli.state import iso_date

app = typer.Typer(help="Generate source extracts with known defects.", no_args_is_help=True)
console = Console(soft_wrap=True)  # paths and counts stay on one line


@app.command("generate")
def generate_cmd(
    out: Annotated[Path, typer.Option("--out", help="Folder to write the extracts into.")],
    customers: Annotated[int, typer.Option("--customers", min=1, help="Customers.")] = 200,
    days: Annotated[int, typer.Option("--days", min=1, help="Daily extracts.")] = 90,
    start: Annotated[
        datetime, typer.Option("--start", parser=iso_date, metavar="YYYY-MM-DD", help="First extract date.")
    ] = datetime(2024, 1, 1),
    seed: Annotated[int, typer.Option("--seed", help="Random seed (same seed, same bytes).")] = 42,
    defect_rate: Annotated[
        float,
        typer.Option("--defect-rate", min=0.0, max=0.2, help="Probability per record and kind."),
    ] = 0.02,
    layout: Annotated[
        str, typer.Option("--layout", help="daily: a folder per extract date; dump: one folder.")
    ] = "daily",
    stations: Annotated[int, typer.Option("--stations", min=1, max=50, help="Air-quality stations.")] = 50,
) -> None:
    """Generate the retailer's extracts and air-quality readings into OUT.

    Replaces what an earlier run left in OUT (date folders, dump/, manifest.json); any
    other file there (a README) stays.
    """
    from c360.mock import generate  # numpy import kept out of `c360 --help`

    if layout not in ("daily", "dump"):
        raise typer.BadParameter("--layout must be 'daily' or 'dump'")
    began = time.perf_counter()
    summary = generate(
        out,
        customers=customers,
        days=days,
        start=date(start.year, start.month, start.day),
        seed=seed,
        defect_rate=defect_rate,
        layout=layout,  # type: ignore[arg-type]
        stations=stations,
    )
    seconds = time.perf_counter() - began
    defects = {k: v for k, v in summary.defects.items() if v}
    console.print(
        f"{summary.out}: {summary.files} files, {summary.total_rows:,} rows/readings, "
        f"{sum(defects.values()):,} defects in {seconds:.1f} s"
    )
    for file, rows in summary.rows.items():
        console.print(f"  {file:<36} {rows:>10,}")
    if defects:
        console.print("  defects: " + ", ".join(f"{k}={v}" for k, v in defects.items()))
    console.print(f"  manifest: {summary.out / 'manifest.json'}")
