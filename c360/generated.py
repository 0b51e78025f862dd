"""Files generated from the table registry and committed, for readers that cannot import c360.

- ``dags/c360_airflow/assets.py``: the tables each Airflow step publishes (DAG files must not
  import c360 at parse time).
- ``docs/tables.md``: every table of the lake with its grain, keys, owner and sources.
- ``docs/catalog.md``: the catalog, every column with its description and tags (c360.catalog).

``c360 registry generate`` rewrites them; a fast test fails when a committed file differs
from what the registry renders, so they never drift.
"""

from __future__ import annotations

from pathlib import Path

from c360.registry import AIR_QUALITY, C360, PRODUCTS, Registry, registry

REPO = Path(__file__).resolve().parents[1]
# The step that publishes each data product's enhanced tables.
STEP_PRODUCTS = {"model": C360, "air_quality": AIR_QUALITY}


def assets_module(reg: Registry) -> str:
    lines = [
        '"""The tables each c360 step publishes, as Airflow Assets consumers schedule on.',
        "",
        "Generated from the c360 table registry by `c360 registry generate`: do not edit.",
        '"""',
        "",
        "PUBLISHES: dict[str, tuple[str, ...]] = {",
    ]
    for step, product in STEP_PRODUCTS.items():
        lines.append(f'    "{step}": (')
        lines += [f'        "{t.name}",' for t in reg.published(product)]
        lines.append("    ),")
    lines.append("}")
    return "\n".join(lines) + "\n"


def _cell(text: str) -> str:
    return text.replace("|", "\\|").replace("\n", " ")


def tables_doc(reg: Registry) -> str:
    out = [
        "# Tables",
        "",
        "Every table of the lake, generated from the table registry (`c360 registry generate`; do not edit).",
        "Columns, their descriptions and tags are in each table's Delta schema and in `c360 table show`.",
        "",
    ]
    for product, about in PRODUCTS.items():
        tables = [t for t in reg.build_order() if t.product == product]
        if not tables:
            continue
        out += [
            f"## `{product}`",
            "",
            about,
            "",
            "| table | grain | keys | owner | sources | tags |",
            "|---|---|---|---|---|---|",
        ]
        for t in tables:
            tags = sorted({tag for tags in t.column_tags.values() for tag in tags})
            out.append(
                f"| `{t.name}` | {_cell(t.grain)} | {', '.join(t.keys)} | {t.owner} | "
                f"{', '.join(f'`{s}`' for s in t.sources) or '–'} | {', '.join(tags) or '–'} |"
            )
        out.append("")
    return "\n".join(out)


def outputs(reg: Registry | None = None) -> dict[Path, str]:
    from c360.catalog import render_markdown

    reg = reg or registry()
    return {
        REPO / "dags" / "c360_airflow" / "assets.py": assets_module(reg),
        REPO / "docs" / "tables.md": tables_doc(reg),
        REPO / "docs" / "catalog.md": render_markdown(),
    }


def stale(reg: Registry | None = None) -> list[Path]:
    """The generated files whose committed content differs from the registry's rendering."""
    return [p for p, text in outputs(reg).items() if not p.exists() or p.read_text() != text]


def write(reg: Registry | None = None) -> list[Path]:
    changed = stale(reg)
    for path, text in outputs(reg).items():
        if path in changed:
            path.write_text(text)
    return changed
