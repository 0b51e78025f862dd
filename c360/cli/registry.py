"""``c360 registry``: the files generated from the table registry."""

from __future__ import annotations

import typer
from rich.console import Console

app = typer.Typer(help="The table registry: generated files.", no_args_is_help=True)
console = Console()


@app.command("generate")
def generate(check: bool = typer.Option(False, "--check", help="Only report stale files; exit 1 if any.")) -> None:
    """Rewrite dags/c360_airflow/assets.py, docs/tables.md and docs/catalog.md from the registry."""
    from c360 import generated

    if check:
        stale = generated.stale()
        for p in stale:
            console.print(f"stale: {p}")
        raise typer.Exit(1 if stale else 0)
    for p in generated.write():
        console.print(f"wrote {p}")
