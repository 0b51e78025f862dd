"""The table registry: every table of the lake is declared once, as a ``Table`` value in the
module that owns it, and every list of tables is derived from here.

A module declares its table(s) as module-level ``Table`` values; :func:`registry` imports the
table packages (like Dagster's ``load_assets_from_modules``) and collects them, and adds the
raw, sanitized and quarantine tables each source contract yields. The build order of the
model and air-quality steps, the Airflow Assets (``dags/c360_airflow/assets.py``, generated),
the catalog, lineage, access tags and retention all read it; no other list of tables exists.

Column descriptions and tags live in the schema's field metadata (``column(...)``), which the
storage layer writes into the Delta table, so every engine reading the table sees them.
"""

from __future__ import annotations

import difflib
import functools
import importlib
import inspect
import pkgutil
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date
from types import ModuleType
from typing import TYPE_CHECKING, Any, Literal

from pyspark.sql import types as T

from c360.storage.names import TableName
from c360.storage.schema import column_comment, column_metadata, column_tags

if TYPE_CHECKING:
    from c360.quality import TableSuite
    from c360.storage import DeltaStorage, TableInfo

# Column tags. Roles are granted tags (c360.access); a column with a tag a role lacks is
# hidden from it. pii and subject columns get no statistics in the Delta log (erasure).
PII = "pii"  # a direct identifier, or the token of one
SENSITIVE = "sensitive"  # not identifying on its own, but not for every reader (scores, money of a person)
SUBJECT = "subject"  # the id of a data subject (a customer): what erasure searches for
TAGS = (PII, SENSITIVE, SUBJECT)

# Data products: each table belongs to one.
C360 = "customer.analytics.C360"
AIR_QUALITY = "environment.air_quality"
PLATFORM = "platform.operations"  # runs, quality results, audit: written by the framework
RETAIL_SOURCES = "customer.sources"  # raw/sanitized/quarantine of the retail contracts

PRODUCTS: dict[str, str] = {
    C360: "Customer 360: conformed dimensions, facts and the customer profile mart.",
    AIR_QUALITY: "Air-quality readings and daily AQI per station.",
    RETAIL_SOURCES: "The retailer's source extracts: as received (raw), validated (sanitized), rejected (quarantine).",
    PLATFORM: "What the platform records about itself: runs, files, reconciliation, quality, lineage, audit.",
}

# Packages and modules whose module-level Table values are the lake's tables.
TABLE_MODULES = (
    "c360.enhanced",
    "c360.air_quality",
    "c360.pipeline",
    "c360.ops",
    "c360.quality.ops",
    "c360.raw.ingest",
    "c360.pii",
    "c360.access",
    "c360.serve.audit",
    "c360.privacy",
    "c360.catalog",
)


def column(
    name: str, dtype: T.DataType, description: str, nullable: bool = True, *, tags: Iterable[str] = ()
) -> T.StructField:
    """One declared column: its type, its description and its tags."""
    tags = tuple(tags)
    unknown = [t for t in tags if t not in TAGS]
    if unknown:
        raise ValueError(f"column {name}: unknown tags {unknown} (known: {', '.join(TAGS)})")
    return T.StructField(name, dtype, nullable, column_metadata(description, tags))


@dataclass(frozen=True)
class Retention:
    """How long data stays. ``rows_days``: rows whose ``row_date`` partition is older are
    deleted by maintenance (None: kept for ever). ``versions_days``: how long replaced
    files stay for time travel before vacuum removes them."""

    rows_days: int | None = None
    row_date: str | None = None
    versions_days: int = 7

    def __post_init__(self) -> None:
        if (self.rows_days is None) != (self.row_date is None):
            raise ValueError("Retention: rows_days and row_date go together")


PublishMode = Literal["whole", "partitions"]


@dataclass(frozen=True)
class Incremental:
    """A table that need not be rebuilt whole every run (c360.publish, "Build records").

    Declaring it states two things about ``build``: it is a function of its inputs as of the
    run's last date and nothing else (no clock, no run dates), and, when ``key`` is given,
    the rows of one value of ``key`` (a customer, an order, a shipment: its group) depend
    only on

    - the input rows whose latest version has that value: by default the rows with that
      value, or, for an input in ``ids``, every version of the rows (named by ``ids``' column)
      any version of which has it, since a re-delivery can move a row to another group;
    - for an input in ``lookups`` (parameter -> (its natural key, the built column naming
      it)), the rows whose natural key the group's built rows name: a dimension's versions
      of a fact's customer, or its unknown member while there are none.

    A run then builds nothing when no input changed since the stored build, and only the
    groups that changed when the change is input rows delivered since then and lookup rows
    changed since then. A partitioned fact can declare it only with a ``key``.
    """

    key: str | None = None
    ids: Mapping[str, str] = field(default_factory=dict)
    lookups: Mapping[str, tuple[str, str]] = field(default_factory=dict)


@dataclass(frozen=True)
class Table:
    """A table of the lake, declared once.

    ``inputs`` maps the parameters of the pure ``build`` function to the tables they read
    (its ``sources``); other parameters of ``build`` are values of the step's context
    (``spark``, ``run_dates``, ...). ``suite`` is the quality gate a published table passes.
    """

    name: str
    schema: T.StructType
    description: str
    grain: str
    keys: tuple[str, ...]
    product: str
    owner: str
    partition_by: tuple[str, ...] = ()
    sources: tuple[str, ...] = ()
    freshness_hours: int | None = None
    retention: Retention = Retention()
    # Surrogate foreign keys that may point at the unknown member (-1) and are healed later.
    foreign_keys: tuple[str, ...] = ()
    suite: TableSuite | None = field(default=None, compare=False)
    build: Callable[..., Any] | None = field(default=None, compare=False)
    inputs: Mapping[str, str] = field(default_factory=dict)
    publish: PublishMode = "whole"
    # Which partitions a run publishes, from the run's context (default: what the data touched).
    partitions: Callable[..., Sequence[date]] | None = field(default=None, compare=False)
    incremental: Incremental | None = None

    def __post_init__(self) -> None:
        TableName.parse(self.name)
        names = self.schema.fieldNames()
        declared = (*self.keys, *self.partition_by, *self.foreign_keys)
        unknown = [c for c in declared if c not in names]
        if unknown:
            raise ValueError(f"{self.name}: key/partition/foreign-key columns not in the schema: {', '.join(unknown)}")
        if self.inputs and not self.sources:
            object.__setattr__(self, "sources", tuple(dict.fromkeys(self.inputs.values())))
        if self.suite is not None and self.suite.table != self.name:
            raise ValueError(f"{self.name}: its suite is declared for {self.suite.table}")
        if self.publish == "partitions" and len(self.partition_by) != 1:
            raise ValueError(f"{self.name}: partition publishing needs exactly one partition column")
        if self.incremental is not None:
            self._check_incremental(self.incremental, names)

    def _check_incremental(self, inc: Incremental, names: list[str]) -> None:
        if self.build is None or (self.publish != "whole" and inc.key is None):
            raise ValueError(f"{self.name}: only a built table, whole-published or with a key, can be incremental")
        declared = [*inc.ids, *inc.lookups]
        if declared and inc.key is None:
            raise ValueError(f"{self.name}: incremental ids and lookups need a key")
        stray = [p for p in declared if p not in self.inputs]
        if stray:
            raise ValueError(f"{self.name}: incremental ids or lookups of no input: {', '.join(stray)}")
        unnamed = [c for _, c in inc.lookups.values() if c not in names]
        if unnamed:
            raise ValueError(f"{self.name}: incremental lookups name no column of the table: {', '.join(unnamed)}")
        context = [p for p in inspect.signature(self.build).parameters if p not in self.inputs and p != "spark"]
        if context:
            raise ValueError(f"{self.name}: an incremental build reads only its inputs, not {context}")
        if inc.key is not None and inc.key not in names:
            raise ValueError(f"{self.name}: incremental key {inc.key} is not a column")

    @property
    def checked_against(self) -> tuple[str, ...]:
        """Tables its quality gate reads (foreign keys): they are published before it."""
        if self.suite is None:
            return ()
        refs = (e.ref for e in self.suite.expectations if isinstance(e.ref, str) and e.ref != self.name)
        return tuple(dict.fromkeys(refs))

    @property
    def tier(self) -> str:
        return self.name.split(".", 1)[0]

    @property
    def published(self) -> bool:
        """Built by a step behind a quality gate and served to consumers."""
        return self.tier == "enhanced"

    @property
    def column_descriptions(self) -> dict[str, str]:
        return {f.name: column_comment(f.metadata) for f in self.schema.fields}

    @property
    def column_tags(self) -> dict[str, tuple[str, ...]]:
        return {f.name: column_tags(f.metadata) for f in self.schema.fields}

    def columns_tagged(self, tag: str) -> list[str]:
        return [c for c, tags in self.column_tags.items() if tag in tags]

    @property
    def pii_columns(self) -> list[str]:
        return self.columns_tagged(PII)

    def ensure(self, storage: DeltaStorage) -> TableInfo:
        """Create the table (or bring its descriptions and tags up to date) in the lake."""
        return storage.ensure_table(self.name, self.schema, self.partition_by, description=self.description)

    def call_build(self, frames: Mapping[str, Any], context: Mapping[str, Any]) -> Any:
        """Call ``build`` with its inputs from ``frames`` (by table name) and the rest from ``context``."""
        if self.build is None:
            raise TypeError(f"{self.name} has no build function")
        return call_with(self.build, {**context, **{p: frames[name] for p, name in self.inputs.items()}})


def call_with(fn: Callable[..., Any], context: Mapping[str, Any]) -> Any:
    """Call ``fn`` with the context values its parameters name (a missing one is a clear error)."""
    params = inspect.signature(fn).parameters
    missing = [p for p in params if p not in context and params[p].default is inspect.Parameter.empty]
    if missing:
        raise TypeError(f"{fn.__qualname__} needs {missing}, not in the step context ({sorted(context)})")
    return fn(**{p: context[p] for p in params if p in context})


class UnknownTableError(LookupError):
    """A name that is not a registered table; the message lists the closest names."""


@dataclass(frozen=True)
class Registry:
    tables: dict[str, Table]

    def __iter__(self) -> Any:
        return iter(self.tables.values())

    def __contains__(self, name: object) -> bool:
        return name in self.tables

    def get(self, name: str) -> Table:
        try:
            return self.tables[name]
        except KeyError:
            raise UnknownTableError(unknown_table_message(name, self.tables)) from None

    def published(self, product: str | None = None) -> list[Table]:
        return [t for t in self.build_order() if t.published and (product is None or t.product == product)]

    def in_tier(self, tier: str) -> list[Table]:
        return [t for t in self.tables.values() if t.tier == tier]

    def build_order(self, tables: Iterable[Table] | None = None) -> list[Table]:
        """Tables in dependency order (sources, and the tables their gates check against,
        first); ties keep declaration order."""
        chosen = list(self.tables.values() if tables is None else tables)
        names = {t.name for t in chosen}
        done: set[str] = set()
        order: list[Table] = []
        pending = list(chosen)
        while pending:
            ready = [t for t in pending if all(s in done or s not in names for s in (*t.sources, *t.checked_against))]
            if not ready:
                raise ValueError("cycle among tables: " + ", ".join(t.name for t in pending))
            for t in ready:
                order.append(t)
                done.add(t.name)
            pending = [t for t in pending if t.name not in done]
        return order

    def upstream(self, name: str) -> list[str]:
        """Every table ``name`` is built from, directly or not (nearest first)."""
        return self._walk(name, lambda n: self.get(n).sources if n in self.tables else ())

    def downstream(self, name: str) -> list[str]:
        """Every table built from ``name``, directly or not (nearest first)."""
        readers: dict[str, list[str]] = {}
        for t in self.tables.values():
            for s in t.sources:
                readers.setdefault(s, []).append(t.name)
        return self._walk(name, lambda n: readers.get(n, ()))

    def _walk(self, name: str, step: Callable[[str], Iterable[str]]) -> list[str]:
        self.get(name)
        seen: list[str] = []
        frontier = [name]
        while frontier:
            nxt = []
            for n in frontier:
                for m in step(n):
                    if m not in seen and m != name:
                        seen.append(m)
                        nxt.append(m)
            frontier = nxt
        return seen


def unknown_table_message(name: str, known: Iterable[str]) -> str:
    known = list(known)
    close = difflib.get_close_matches(name, known, n=3, cutoff=0.5)
    short = [k for k in known if k.rsplit(".", 1)[-1] == name.rsplit(".", 1)[-1] and k not in close]
    hints = close + short
    hint = f"; did you mean {', '.join(hints)}?" if hints else f" ({len(known)} tables; `c360 table list` names them)"
    return f"unknown table {name!r}{hint}"


def _modules(names: Sequence[str]) -> list[ModuleType]:
    mods = []
    for name in names:
        mod = importlib.import_module(name)
        mods.append(mod)
        if hasattr(mod, "__path__"):
            for info in pkgutil.walk_packages(mod.__path__, prefix=f"{name}."):
                mods.append(importlib.import_module(info.name))
    return mods


def collect(modules: Iterable[ModuleType]) -> list[Table]:
    """The Table values declared at module level, in module and declaration order."""
    found: list[Table] = []
    for mod in modules:
        for value in vars(mod).values():
            if isinstance(value, Table) and value not in found and value.name.startswith(_tier_prefixes()):
                found.append(value)
    return found


def _tier_prefixes() -> tuple[str, ...]:
    from c360.storage.names import TIERS

    return tuple(f"{t}." for t in TIERS)


@functools.cache
def registry() -> Registry:
    """Every table of the lake: source tables from the contracts, then the declared ones."""
    from c360.contracts import CONTRACTS
    from c360.contracts.tables import source_tables

    tables: dict[str, Table] = {}
    declared = collect(_modules(TABLE_MODULES))
    for t in [*source_tables(CONTRACTS.values()), *declared]:
        if t.name in tables and tables[t.name] is not t:
            raise ValueError(f"table {t.name} is declared twice")
        tables[t.name] = t
    return Registry(tables)
