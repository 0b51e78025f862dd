"""``c360 catalog ...``: find tables, see what they hold and how they are doing, annotate them."""

from __future__ import annotations

import getpass
import json
from datetime import UTC, datetime
from pathlib import Path

import typer
from rich.table import Table

from c360.cli.state import make_console, state

app = typer.Typer(help="Search and describe the lake's tables (registry + live Delta facts).", no_args_is_help=True)
console = make_console()
DOCS = Path(__file__).resolve().parents[2] / "docs" / "catalog.md"


def _catalog():  # noqa: ANN202 - lazily imported
    from c360.storage import LakeCatalog

    return LakeCatalog(state.settings.lake_root)


def _overview(found: list) -> Table:  # type: ignore[type-arg]
    now = datetime.now(UTC)
    out = Table("table", "product", "owner", "version", "rows", "last update (UTC)", "freshness", "last gate")
    for e in found:
        out.add_row(
            e.name,
            e.product,
            e.owner,
            "-" if e.version is None else str(e.version),
            "-" if e.rows is None else str(e.rows),
            e.last_update.strftime("%Y-%m-%d %H:%M") if e.last_update else "-",
            e.freshness(now),
            e.gate or "-",
        )
    return out


@app.command("list")
def list_tables(
    product: str | None = typer.Option(None, "--product", help="Only this data product."),
    tier: str | None = typer.Option(None, "--tier", help="Only this tier (raw, sanitized, enhanced, ...)."),
) -> None:
    """Every table: product, owner, version, rows, last update, freshness and last gate."""
    from c360.catalog import entries
    from c360.registry import PRODUCTS
    from c360.storage.names import TIERS

    if product is not None and product not in PRODUCTS:
        raise typer.BadParameter(f"unknown data product {product!r} (one of {', '.join(PRODUCTS)})")
    if tier is not None and tier not in TIERS:
        raise typer.BadParameter(f"unknown tier {tier!r} (one of {', '.join(TIERS)})")
    found = [
        e
        for e in entries(_catalog())
        if (product is None or e.product == product) and (tier is None or e.name.split(".")[0] == tier)
    ]
    console.print(_overview(found))


@app.command("search")
def search(
    text: str = typer.Argument(
        ..., help="Words to find (all of them) in names, descriptions, columns, tags, owners, products, notes."
    ),
) -> None:
    """Find tables by name, description, column, tag, owner, data product or note."""
    from c360.catalog import search as find

    found = find(_catalog(), text)
    if not found:
        console.print(f"nothing matches {text!r}")
        raise typer.Exit(1)
    console.print(_overview(found))
    words = text.lower().split()
    for e in found:
        cols = [
            c.name for c in e.columns if all(w in f"{c.name} {c.description} {' '.join(c.tags)}".lower() for w in words)
        ]
        if cols:
            console.print(f"  {e.name}: columns {', '.join(cols)}")


@app.command("show")
def show(name: str = typer.Argument(..., help="tier.domain.table")) -> None:
    """Everything the catalog knows about one table."""
    from c360.catalog import get

    e = get(_catalog(), name)
    now = datetime.now(UTC)
    console.print(f"[bold]{e.name}[/bold]  ({e.product}, owner {e.owner})")
    console.print(e.description)
    console.print(f"grain: {e.grain}; keys: {', '.join(e.keys) or '-'}")
    console.print(f"built from: {', '.join(e.sources) or '-'}")
    if e.last_update is None:
        console.print("not in this lake yet")
    else:
        console.print(
            f"version {e.version}; rows {e.rows}; last update {e.last_update:%Y-%m-%d %H:%M} UTC; "
            f"freshness {e.freshness(now)}"
        )
    console.print(f"last quality gate: {e.gate or '-'}; retention: {e.retention or '-'}")
    if e.checks:
        console.print("checks: " + "; ".join(e.checks))
    cols = Table("column", "type", "tags", "description", "notes")
    for c in e.columns:
        notes = [f"{a.kind}: {a.text} ({a.author})" for a in e.annotations if a.column == c.name]
        cols.add_row(c.name, c.type, ", ".join(c.tags), c.description, "; ".join(notes))
    console.print(cols)
    for a in e.annotations:
        if a.column is None:
            console.print(f"{a.kind}: {a.text}  — {a.author}, {a.created_at:%Y-%m-%d %H:%M} UTC")


def _annotate(kind: str, name: str, text: str, column: str | None, author: str | None) -> None:
    from c360.catalog import annotate

    started = datetime.now(UTC)
    note = annotate(state.settings.lake_root, name, kind, text, author or getpass.getuser(), column)
    where = f"{note.table}.{note.column}" if note.column else note.table
    if note.created_at < started:
        console.print(f"{where} already has the {kind} {note.text!r} (added by {note.author}): nothing added")
        return
    console.print(f"{kind} added to {where} by {note.author}")


@app.command("tag")
def tag(
    name: str = typer.Argument(..., help="tier.domain.table"),
    text: str = typer.Argument(..., help="The tag."),
    column: str | None = typer.Option(None, "--column", help="Tag this column rather than the table."),
    author: str | None = typer.Option(None, "--author", help="Who adds it (default: your user name)."),
) -> None:
    """Add your own tag to a table or a column (kept in ops.catalog.annotations)."""
    _annotate("tag", name, text, column, author)


@app.command("note")
def note(
    name: str = typer.Argument(..., help="tier.domain.table"),
    text: str = typer.Argument(..., help="The note."),
    column: str | None = typer.Option(None, "--column", help="Note on this column rather than the table."),
    author: str | None = typer.Option(None, "--author", help="Who writes it (default: your user name)."),
) -> None:
    """Add a note to a table or a column (kept in ops.catalog.annotations, searchable)."""
    _annotate("note", name, text, column, author)


@app.command("product")
def product(
    name: str = typer.Argument(..., help="A data product, e.g. customer.analytics.C360."),
    output: Path | None = typer.Option(None, "--output", help="Write the descriptor (YAML) here ('-': stdout)."),
) -> None:
    """The data product's descriptor (Open Data Contract Standard shape), from the registry."""
    import yaml

    from c360.catalog import product_descriptor

    text = yaml.safe_dump(json.loads(json.dumps(product_descriptor(name))), sort_keys=False)
    if output and str(output) != "-":  # '-' wrote a file named '-'
        output.write_text(text)
        console.print(f"wrote {output}")
    else:
        print(text)


@app.command("docs")
def docs(
    write: bool = typer.Option(False, "--write", help="Rewrite docs/catalog.md."),
) -> None:
    """Check (or with --write, regenerate) docs/catalog.md from the registry."""
    from c360.catalog import render_markdown

    text = render_markdown()
    if write:
        DOCS.write_text(text)
        console.print(f"wrote {DOCS}")
    elif not DOCS.exists() or DOCS.read_text() != text:
        console.print(f"{DOCS} is stale: run `c360 catalog docs --write`")
        raise typer.Exit(1)
    else:
        console.print(f"{DOCS} is up to date")
