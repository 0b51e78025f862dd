"""``c360 lineage TABLE``: where a table comes from and what it feeds, as text and a picture."""

from __future__ import annotations

from pathlib import Path

import typer

from c360.cli.state import make_console, state

console = make_console()


def lineage(
    table: str = typer.Argument(..., help="tier.domain.table"),
    upstream: bool = typer.Option(False, "--upstream", help="Only what the table is built from."),
    downstream: bool = typer.Option(False, "--downstream", help="Only what is built from the table."),
    run: str | None = typer.Option(None, "--run", help="The graph one past run observed (its OpenLineage events)."),
    columns: bool = typer.Option(False, "--columns", help="Also show where each column comes from."),
    files: bool = typer.Option(
        False, "--files", help="Every source file on its own (default: a table's files as one group)."
    ),
    output: Path | None = typer.Option(
        None, "--output", help="Picture to write: .dot (graphviz text) or .png (default lineage-<table>.png + .dot)."
    ),
) -> None:
    """Print the lineage graph of a table (declared + observed, or one run's) and draw it."""
    from c360.lineage import column_sources, draw_png, grouped_files, lineage_graph, to_dot
    from c360.registry import registry
    from c360.storage import LakeCatalog

    if upstream and downstream:
        raise typer.BadParameter("give --upstream or --downstream, or neither for both")
    if output is not None and output.suffix not in (".dot", ".png"):  # '-' or x.svg wrote '-.dot', 'x.dot'
        raise typer.BadParameter(f"--output {output}: give a .dot (graphviz text) or .png file")
    if table not in registry() and not LakeCatalog(state.settings.lake_root).exists(table):
        registry().get(table)  # raises with the closest names
    direction = "upstream" if upstream else "downstream" if downstream else "both"
    graph = lineage_graph(LakeCatalog(state.settings.lake_root), run).restricted(table, direction)
    if not files:
        graph = grouped_files(graph)

    def label(n: str) -> str:
        return n + (f" (v{graph.versions[n]})" if n in graph.versions else "")

    if direction in ("upstream", "both"):
        console.print(f"[bold]{label(table)}[/bold] is built from:")
        _tree(graph, table, "up", label)
    if direction in ("downstream", "both"):
        console.print(f"[bold]{label(table)}[/bold] feeds:")
        _tree(graph, table, "down", label)
    if columns and table in registry():
        for col in registry().get(table).schema.fieldNames():
            src = ", ".join(f"{s}.{c}" for s, c in column_sources(table, col)) or "(computed here)"
            console.print(f"  {col} <- {src}")
    target = output or Path(f"lineage-{table}.png")
    dot = target.with_suffix(".dot")
    dot.write_text(to_dot(graph, table))
    written = [dot]
    if target.suffix == ".png":
        written.append(draw_png(graph, table, target))
    console.print("wrote " + ", ".join(str(p) for p in written))


def _tree(graph, node: str, way: str, label, depth: int = 1, seen: set[str] | None = None) -> None:  # noqa: ANN001
    seen = set() if seen is None else seen
    nxt = (
        sorted(s for s, t in graph.edges if t == node)
        if way == "up"
        else sorted(t for s, t in graph.edges if s == node)
    )
    for n in nxt:
        repeated = n in seen
        console.print("  " * depth + f"{'<-' if way == 'up' else '->'} {label(n)}{' …' if repeated else ''}")
        if not repeated:
            seen.add(n)
            _tree(graph, n, way, label, depth + 1, seen)
