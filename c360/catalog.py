"""The catalog: what each table is (from the registry) and how it is doing (from the lake).

Declared facts come from the registry (description, grain, keys, owner, product, column
descriptions and tags, freshness expectation, retention, quality suite); observed facts
come from delta-rs (version, rows from the log's statistics, last update) and from
``ops.quality.expectation_results`` (the last gate's status). A table in the lake that the
registry does not declare still shows, with what its Delta metadata says. People's own tags
and notes live in ``ops.catalog.annotations`` (author and time kept) and are searched too.

Spark-free except for writing an annotation (one small commit through the bridge).
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq
from pyspark.sql import types as T

from c360.registry import PLATFORM, PRODUCTS, Table, column, registry
from c360.storage import LakeCatalog
from c360.storage.schema import column_comment, column_tags

RESULTS_TABLE = "ops.quality.expectation_results"  # written by c360.quality.ops
ANNOTATIONS_TABLE = "ops.catalog.annotations"

ANNOTATIONS = Table(
    name=ANNOTATIONS_TABLE,
    schema=T.StructType(
        [
            column("table_name", T.StringType(), "the annotated table", nullable=False),
            column("column_name", T.StringType(), "the annotated column (null: the table itself)"),
            column("kind", T.StringType(), "'tag' or 'note'", nullable=False),
            column("text", T.StringType(), "the tag or the note", nullable=False),
            column("author", T.StringType(), "who added it", nullable=False),
            column("created_at", T.TimestampType(), "when (UTC)", nullable=False),
        ]
    ),
    description="People's own tags and notes on tables and columns, with author and time.",
    grain="one row per tag or note added",
    keys=("table_name", "column_name", "kind", "text", "created_at"),
    product=PLATFORM,
    owner="data-platform",
)


@dataclass(frozen=True)
class ColumnEntry:
    name: str
    type: str
    description: str
    tags: tuple[str, ...]


@dataclass(frozen=True)
class Annotation:
    table: str
    column: str | None
    kind: str
    text: str
    author: str
    created_at: datetime


@dataclass
class Entry:
    name: str
    description: str
    product: str
    owner: str
    grain: str
    keys: tuple[str, ...]
    columns: list[ColumnEntry]
    sources: tuple[str, ...] = ()
    declared: bool = True  # in the registry (False: found in the lake only)
    freshness_hours: int | None = None
    retention: str = ""
    checks: list[str] = field(default_factory=list)
    version: int | None = None  # None: declared but not in this lake yet
    rows: int | None = None
    last_update: datetime | None = None
    gate: str | None = None  # the last quality gate's status
    annotations: list[Annotation] = field(default_factory=list)

    @property
    def tags(self) -> set[str]:
        return {t for c in self.columns for t in c.tags} | {a.text for a in self.annotations if a.kind == "tag"}

    def freshness(self, now: datetime) -> str:
        """'fresh', 'stale (N h)', 'unknown' (no expectation) or 'missing' (not in the lake)."""
        if self.last_update is None:
            return "missing"
        if self.freshness_hours is None:
            return "unknown"
        age = (now - self.last_update).total_seconds() / 3600
        return "fresh" if age <= self.freshness_hours else f"stale ({age:.0f} h > {self.freshness_hours} h)"

    def haystack(self) -> str:
        parts = [self.name, self.description, self.product, self.owner, self.grain, *self.keys]
        for c in self.columns:
            parts += [c.name, c.description, *c.tags]
        for a in self.annotations:
            parts += [a.text, a.column or ""]
        return " ".join(parts).lower()


def _columns_of_schema(schema: pa.Schema) -> list[ColumnEntry]:
    out = []
    for f in schema:
        md = {k.decode(): v.decode() for k, v in (f.metadata or {}).items()}
        out.append(ColumnEntry(f.name, str(f.type), column_comment(md), column_tags(md)))
    return out


def _declared(t: Table) -> Entry:
    r = t.retention
    retention = (f"rows {r.rows_days} days by {r.row_date}; " if r.rows_days else "rows kept; ") + (
        f"versions {r.versions_days} days"
    )
    return Entry(
        name=t.name,
        description=t.description,
        product=t.product,
        owner=t.owner,
        grain=t.grain,
        keys=t.keys,
        columns=[
            ColumnEntry(f.name, f.dataType.simpleString(), t.column_descriptions[f.name], t.column_tags[f.name])
            for f in t.schema.fields
        ],
        sources=t.sources,
        freshness_hours=t.freshness_hours,
        retention=retention,
        checks=suite_checks(t),
    )


def suite_checks(t: Table) -> list[str]:
    """The quality checks of a table's gate, as 'name (severity)'."""
    if t.suite is None:
        return []
    checks = [f"unique key {', '.join(t.suite.key)} (error)"] if t.suite.key else []
    return checks + [f"{e.name} ({e.severity})" for e in t.suite.expectations]


def _read_all(catalog: LakeCatalog, name: str, columns: Sequence[str] | None = None) -> pa.Table | None:
    if not catalog.exists(name):
        return None
    files = catalog.open(name).file_uris()
    if not files:
        return None
    return pa.concat_tables([pq.read_table(f, columns=list(columns) if columns else None) for f in files])


def last_gates(catalog: LakeCatalog) -> dict[str, str]:
    """The status of each table's latest quality-gate attempt."""
    rows = _read_all(catalog, RESULTS_TABLE, ["table_name", "status", "validated_at"])
    if rows is None:
        return {}
    latest: dict[str, tuple[datetime, str]] = {}
    for r in rows.to_pylist():
        seen = latest.get(r["table_name"])
        if seen is None or r["validated_at"] >= seen[0]:
            latest[r["table_name"]] = (r["validated_at"], r["status"])
    return {t: s for t, (_, s) in latest.items()}


def load_annotations(catalog: LakeCatalog) -> list[Annotation]:
    rows = _read_all(catalog, ANNOTATIONS_TABLE)
    if rows is None:
        return []
    return [
        Annotation(r["table_name"], r["column_name"], r["kind"], r["text"], r["author"], r["created_at"])
        for r in sorted(rows.to_pylist(), key=lambda r: r["created_at"])
    ]


def entries(catalog: LakeCatalog, names: Iterable[str] | None = None) -> list[Entry]:
    """Every declared table, and every table of the lake the registry does not declare."""
    reg = registry()
    wanted = set(names) if names is not None else None
    in_lake = set(catalog.list_tables())
    gates = last_gates(catalog)
    notes = load_annotations(catalog)
    out: list[Entry] = []
    for name in sorted(set(reg.tables) | in_lake):
        if wanted is not None and name not in wanted:
            continue
        entry = _declared(reg.tables[name]) if name in reg.tables else None
        if name in in_lake:
            info = catalog.describe(name)
            if entry is None:
                entry = Entry(
                    name, info.description or "", "-", "-", "-", (), _columns_of_schema(info.schema), declared=False
                )
            entry.version = info.version
            entry.rows = sum(catalog.row_counts(name).values())
            history = catalog.history(name, limit=1)
            entry.last_update = history[0].timestamp if history else None
        assert entry is not None
        entry.gate = gates.get(name)
        entry.annotations = [a for a in notes if a.table == name]
        out.append(entry)
    return out


def search(catalog: LakeCatalog, text: str) -> list[Entry]:
    """Tables whose name, description, columns, tags, owner, product or notes mention every word."""
    words = [w for w in text.lower().split() if w]
    if not words:
        raise ValueError("give something to search for")
    return [e for e in entries(catalog) if all(w in e.haystack() for w in words)]


def get(catalog: LakeCatalog, name: str) -> Entry:
    found = entries(catalog, [name])
    if not found:
        registry().get(name)  # raises UnknownTableError naming close matches
    return found[0]


def annotate(
    lake_root: Path, table: str, kind: str, text: str, author: str, column_name: str | None = None
) -> Annotation:
    """Add a tag or a note to a table (or one of its columns); it is searchable at once. A tag
    the table or column already has is not added again: the one held is returned.

    One row, appended with delta-rs alone (:mod:`c360.storage.light`): a tag costs no JVM."""
    from c360.storage.light import append_rows, ensure

    if kind not in ("tag", "note"):
        raise ValueError(f"kind must be 'tag' or 'note', not {kind!r}")
    text = text.strip()
    if not text:
        raise ValueError(f"an empty {kind} says nothing")
    entry = get(LakeCatalog(lake_root), table)
    if column_name is not None and column_name not in {c.name for c in entry.columns}:
        raise ValueError(f"{table} has no column {column_name!r} (columns: {', '.join(c.name for c in entry.columns)})")
    if kind == "tag":  # a tag is there or not: the same one again adds nothing
        held = [a for a in entry.annotations if (a.kind, a.column, a.text) == (kind, column_name, text)]
        if held:
            return held[0]
    note = Annotation(entry.name, column_name, kind, text, author, datetime.now(UTC))
    ensure(ANNOTATIONS, lake_root)
    row = {"table_name": note.table, "column_name": note.column, "kind": note.kind, "text": note.text,
           "author": note.author, "created_at": note.created_at}  # fmt: skip
    append_rows(lake_root, ANNOTATIONS_TABLE, [row], operation="annotate")
    return note


# ---------------------------------------------------------------- data product descriptors
def product_descriptor(product: str) -> dict[str, Any]:
    """A data product's descriptor in the shape of the Open Data Contract Standard (v3):
    owner, output tables with their columns, keys, SLA (freshness, retention), quality
    checks and access tags, all generated from the registry."""
    if product not in PRODUCTS:
        raise ValueError(f"unknown data product {product!r} (one of {', '.join(PRODUCTS)})")
    tables = [t for t in registry().build_order() if t.product == product]
    owners = sorted({t.owner for t in tables})
    schema = []
    for t in tables:
        schema.append(
            {
                "name": t.name,
                "physicalName": t.name.replace(".", "/"),
                "physicalType": "delta",
                "description": t.description,
                "dataGranularityDescription": t.grain,
                "properties": [
                    {
                        "name": f.name,
                        "logicalType": _logical(f.dataType),
                        "physicalType": f.dataType.simpleString(),
                        "description": t.column_descriptions[f.name],
                        "required": not f.nullable,
                        "primaryKey": f.name in t.keys,
                        "partitioned": f.name in t.partition_by,
                        "classification": _classification(t.column_tags[f.name]),
                        "tags": list(t.column_tags[f.name]),
                    }
                    for f in t.schema.fields
                ],
                "quality": [{"type": "library", "rule": c} for c in suite_checks(t)],
                "authoritativeDefinitions": [{"type": "lineage", "url": s} for s in t.sources],
            }
        )
    sla = []
    for t in tables:
        if t.freshness_hours is not None:
            sla.append({"property": "frequency", "value": t.freshness_hours, "unit": "h", "element": t.name})
        if t.retention.rows_days is not None:
            sla.append({"property": "retention", "value": t.retention.rows_days, "unit": "d", "element": t.name})
    return {
        "apiVersion": "v3.0.0",
        "kind": "DataContract",
        "id": product,
        "name": product,
        "version": "1.0.0",
        "status": "active",
        "domain": product.split(".")[0],
        "dataProduct": product,
        "description": {"purpose": PRODUCTS[product]},
        "team": [{"username": o, "role": "owner"} for o in owners],
        "schema": schema,
        "slaProperties": sla,
        "roles": [
            {"role": f"{tag}-reader", "access": "read", "description": f"may read columns tagged {tag}"}
            for tag in sorted({tag for t in tables for tags in t.column_tags.values() for tag in tags})
        ],
    }


def _logical(dtype: T.DataType) -> str:
    if isinstance(dtype, T.StringType):
        return "string"
    if isinstance(dtype, T.IntegerType | T.LongType | T.ShortType | T.ByteType):
        return "integer"
    if isinstance(dtype, T.DoubleType | T.FloatType | T.DecimalType):
        return "number"
    if isinstance(dtype, T.BooleanType):
        return "boolean"
    if isinstance(dtype, T.DateType | T.TimestampType):
        return "date"
    if isinstance(dtype, T.ArrayType):
        return "array"
    return "object"


def _classification(tags: tuple[str, ...]) -> str:
    if "pii" in tags:
        return "restricted"
    if "sensitive" in tags or "subject" in tags:
        return "confidential"
    return "internal"


# ---------------------------------------------------------------- docs/catalog.md
def render_markdown() -> str:
    """docs/catalog.md: every declared table by data product (regenerate with
    ``c360 catalog docs --write``; a test fails when the file is stale)."""
    reg = registry()
    lines = [
        "# Catalog",
        "",
        "Generated from the table registry (`c360 catalog docs --write`); do not edit by hand.",
        "Live facts (version, rows, freshness, last gate) come from `c360 catalog show NAME`.",
        "",
    ]
    for product, purpose in PRODUCTS.items():
        tables = [t for t in reg.build_order() if t.product == product]
        if not tables:
            continue
        lines += [f"## {product}", "", purpose, ""]
        lines += ["| table | grain | keys | owner | freshness | retention |", "|---|---|---|---|---|---|"]
        for t in tables:
            e = _declared(t)
            fresh = f"{t.freshness_hours} h" if t.freshness_hours is not None else "-"
            lines.append(f"| `{t.name}` | {t.grain} | {', '.join(t.keys)} | {t.owner} | {fresh} | {e.retention} |")
        lines.append("")
        for t in tables:
            lines += [f"### `{t.name}`", "", t.description, ""]
            if t.sources:
                lines += ["Built from: " + ", ".join(f"`{s}`" for s in t.sources), ""]
            lines += ["| column | type | tags | description |", "|---|---|---|---|"]
            for f in t.schema.fields:
                tags = ", ".join(t.column_tags[f.name])
                desc = t.column_descriptions[f.name].replace("|", "\\|")
                lines.append(f"| {f.name} | {f.dataType.simpleString()} | {tags} | {desc} |")
            lines.append("")
    return "\n".join(lines).rstrip() + "\n"
