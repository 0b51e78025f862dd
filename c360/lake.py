"""One way to open the lake from a notebook or any Python session.

    from c360 import lake

    lake.tables()                                            # what the lake holds (pandas)
    lake.frame("enhanced.customer.customer360_profile")      # pandas via delta-rs: no Spark, no JVM
    lake.table("enhanced.sales.fct_order", version=3)        # a Spark DataFrame (Spark starts once, here)
    lake.history("enhanced.sales.fct_order")                 # the table's commits (pandas)
    lake.sql("SELECT rfm_segment, count(*) FROM enhanced.customer.customer360_profile GROUP BY 1")

Nothing here reads files itself: Spark frames come from :meth:`DeltaStorage.read`, pandas
frames and history from the :class:`LakeCatalog` (delta-rs), SQL from :mod:`c360.sql`, the
engine the serving API (``POST /v1/sql``) and ``c360 sql`` run, with the same column access.
The lake root comes from the settings (``C360_LAKE_ROOT``) unless given; a Spark session is
built by :func:`c360.spark.get_spark` only when a Spark frame is asked for, so pandas and SQL
exploration never pays for a JVM.

A name that is not a table of the lake raises :class:`UnknownTableError` listing the close
names, whether it was misspelt or given without its tier and domain.
"""

from __future__ import annotations

import dataclasses
import functools
import warnings
import weakref
from collections.abc import Mapping, Sequence
from datetime import date, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

import pyarrow as pa

from c360.registry import UnknownTableError, registry, unknown_table_message
from c360.settings import Settings, load_settings
from c360.storage import HistoryEntry, LakeCatalog
from c360.storage.schema import column_comment, column_tags

if TYPE_CHECKING:
    import pandas as pd
    from pyspark.sql import DataFrame, SparkSession

__all__ = [
    "Lake",
    "UnknownTableError",
    "columns",
    "connect",
    "frame",
    "history",
    "spark",
    "spark_views",
    "sql",
    "table",
    "tables",
]

Engine = Literal["spark", "pandas"]
AsOf = datetime | str | None


def _close_engine(ref: weakref.ref[Any]) -> None:
    engine = ref()
    if engine is not None:
        engine.close()


class Lake:
    """The lake at one root: tables by name, as Spark or pandas frames, their history, SQL."""

    def __init__(
        self,
        root: Path | str | None = None,
        *,
        settings: Settings | None = None,
        spark: SparkSession | None = None,
    ) -> None:
        if settings is None:
            settings = load_settings() if root is None else load_settings(lake_root=Path(root))
        elif root is not None:
            settings = settings.model_copy(update={"lake_root": Path(root).expanduser().resolve()})
        self.settings = settings
        self.root: Path = settings.lake_root
        self.catalog = LakeCatalog(self.root)
        self._spark = spark
        self._storage: Any = None
        self._sql: Any = None

    def __repr__(self) -> str:
        return f"Lake({str(self.root)!r})"

    # ------------------------------------------------------------------ names
    def names(self) -> list[str]:
        """Every table name that exists in the lake: registered ones first, then the others."""
        present = set(self.catalog.list_tables())
        declared = [n for n in registry().tables if n in present]
        return declared + sorted(present - set(declared))

    def resolve(self, name: str) -> str:
        """``name`` if it is a table of the lake, else :class:`UnknownTableError` naming the close ones.

        Registered tables not built yet still count as known names (their error says they do
        not exist yet); a table in the lake the registry does not declare is readable too.
        """
        known = set(registry().tables) | set(self.catalog.list_tables())
        if name not in known:
            raise UnknownTableError(
                unknown_table_message(name, [*registry().tables, *sorted(known - set(registry().tables))])
            )
        return name

    # ------------------------------------------------------------------ reads
    def tables(self, tier: str | None = None) -> pd.DataFrame:
        """One row per table in the lake: name, product, grain, description, current version, files."""
        import pandas as pd

        reg = registry()
        rows = []
        for name in self.names():
            if tier is not None and not name.startswith(f"{tier}."):
                continue
            info = self.catalog.describe(name)
            declared = reg.tables.get(name)
            rows.append(
                {
                    "name": name,
                    "tier": name.split(".", 1)[0],
                    "product": declared.product if declared else None,
                    "grain": declared.grain if declared else None,
                    "description": (declared.description if declared else None) or info.description,
                    "version": info.version,
                    "files": info.files,
                    "partition_by": ",".join(info.partition_by),
                }
            )
        columns = ["name", "tier", "product", "grain", "description", "version", "files", "partition_by"]
        return pd.DataFrame(rows, columns=columns)

    def columns(self, name: str) -> pd.DataFrame:
        """The table's columns as stored in its Delta schema: type, description and tags."""
        import pandas as pd

        schema = self.catalog.describe(self.resolve(name)).schema
        rows = []
        for f in schema:
            metadata = {k.decode(): v.decode() for k, v in (f.metadata or {}).items()}
            rows.append(
                {
                    "column": f.name,
                    "type": str(f.type),
                    "nullable": f.nullable,
                    "description": column_comment(metadata),
                    "tags": ",".join(column_tags(metadata)),
                }
            )
        return pd.DataFrame(rows, columns=["column", "type", "nullable", "description", "tags"])

    def table(
        self,
        name: str,
        version: int | None = None,
        as_of: AsOf = None,
        *,
        engine: Engine = "spark",
        partitions: Mapping[str, object] | None = None,
    ) -> Any:
        """A snapshot of ``name`` (latest, ``version``, or as of a time) as a Spark DataFrame.

        ``engine="pandas"`` returns it as pandas through delta-rs instead (see :meth:`frame`).
        ``partitions`` ({column: value or list}) keeps only those partitions, pruned from the
        Delta log before anything is read.
        """
        if engine == "pandas":
            return self.frame(name, version, as_of, partitions=partitions)
        if engine != "spark":
            raise ValueError(f"engine must be 'spark' or 'pandas', not {engine!r}")
        return self.storage().read(self.resolve(name), version=version, as_of=_when(as_of), partitions=partitions)

    def frame(
        self,
        name: str,
        version: int | None = None,
        as_of: AsOf = None,
        *,
        partitions: Mapping[str, object] | None = None,
        columns: Sequence[str] | None = None,
        limit: int | None = None,
    ) -> pd.DataFrame:
        """A snapshot of ``name`` as pandas, read by delta-rs (no Spark): for small tables and slices.

        Read through deltalake's QueryBuilder (DataFusion, the engine under :func:`sql`) over
        the catalog's snapshot, never ``DeltaTable.to_pyarrow_table`` (it can abort the process
        at exit, docs/storage.md). Any tier can be read, with every column (as with Spark);
        ``partitions`` and ``columns`` are pushed into the query, so only the files and columns
        asked for are read; ``limit`` keeps the first rows the scan finds (in no promised order),
        and stops reading there.
        """
        return self.arrow(name, version, as_of, partitions=partitions, columns=columns, limit=limit).to_pandas()

    def arrow(
        self,
        name: str,
        version: int | None = None,
        as_of: AsOf = None,
        *,
        partitions: Mapping[str, object] | None = None,
        columns: Sequence[str] | None = None,
        limit: int | None = None,
    ) -> pa.Table:
        """Like :meth:`frame`, as an Arrow table."""
        from deltalake import QueryBuilder

        if limit is not None and (isinstance(limit, bool) or not isinstance(limit, int) or limit < 1):
            raise ValueError(f"limit must be a whole number of rows, 1 or more (or None for all), got {limit!r}")

        dt = self.catalog.open(self.resolve(name), version=version, as_of=_when(as_of))
        schema = pa.schema(dt.schema().to_arrow())
        wanted = list(columns) if columns is not None else schema.names
        unknown = [c for c in [*wanted, *(partitions or {})] if c not in schema.names]
        if unknown:
            raise KeyError(f"{name} has no column(s) {', '.join(unknown)} (columns: {', '.join(schema.names)})")
        partition_columns = set(dt.metadata().partition_columns)
        not_partitions = [c for c in partitions or {} if c not in partition_columns]
        if not_partitions:
            raise ValueError(f"{name}: not partition columns: {', '.join(not_partitions)}")
        for c, v in (partitions or {}).items():
            _check_partition_values(name, schema.field(c), v)
        query = f"SELECT {', '.join(_ident(c) for c in wanted)} FROM snapshot"
        if partitions:
            query += " WHERE " + " AND ".join(_partition_predicate(c, v) for c, v in partitions.items())
        if limit is not None:
            query += f" LIMIT {limit}"
        result = pa.table(QueryBuilder().register("snapshot", dt).execute(query).read_all())
        # DataFusion may widen nullability or drop field metadata; give back the table's own schema.
        return result.cast(pa.schema([schema.field(c) for c in wanted]))

    def history(self, name: str, limit: int | None = None) -> pd.DataFrame:
        """The table's commits, newest first: version, time, operation, mode, rows added."""
        import pandas as pd

        entries = self.catalog.history(self.resolve(name), limit)
        fields = [f.name for f in dataclasses.fields(HistoryEntry)]
        return pd.DataFrame([dataclasses.asdict(e) for e in entries], columns=fields)

    def sql(
        self,
        query: str,
        *,
        role: str | None = "analyst",
        limit: int | None = None,
        timeout: float | None = None,
        versions: Mapping[str, int] | None = None,
    ) -> pd.DataFrame:
        """Run one read-only SELECT over the published tables by name, as pandas (no Spark).

        The engine is :class:`c360.sql.SqlEngine`, the one behind ``POST /v1/sql`` and ``c360 sql``:
        same refusals, same column access (``role``, ``analyst`` by default like ``c360 sql``;
        None reads every column), ``versions`` pins tables ({name: version}). The rows are
        not capped at the API's page size: up to the engine's maximum, with a warning past
        it. ``frame.attrs["versions"]`` names the table versions the answer read.
        """
        engine = self.sql_engine()
        limit = engine.max_limit if limit is None else limit  # 0 is refused by the engine, not read as "all"
        result = engine.query(query, role=role, limit=limit, timeout=timeout, versions=versions)
        if result.truncated:
            warnings.warn(f"the result was cut at {result.rows} rows (pass limit=)", stacklevel=2)
        frame = result.table.to_pandas()
        frame.attrs["versions"] = dict(result.versions)
        return frame

    def sql_engine(self) -> Any:
        """The SQL engine on this lake (:class:`c360.sql.SqlEngine`), built on first use."""
        if self._sql is None:
            from c360.jupyter import at_kernel_shutdown
            from c360.sql import SqlEngine

            self._sql = engine = SqlEngine(self.root, workers=1, memory_bytes=self.settings.sql_memory_bytes(1))
            # In a notebook its query process ends with the kernel. Held weakly: a lake the
            # notebook drops (``connect`` in a loop) still ends its engine when collected.
            at_kernel_shutdown(functools.partial(_close_engine, weakref.ref(engine)))
        return self._sql

    # ------------------------------------------------------------------ Spark
    def spark(self) -> SparkSession:
        """The process's Spark session, built from the settings on first use."""
        if self._spark is None:
            from c360.spark import get_spark

            self._spark = get_spark(self.settings)
        return self._spark

    def spark_views(self, versions: Mapping[str, int] | None = None, role: str | None = None) -> dict[str, int]:
        """Register every published table as a Spark temp view named after it (query it with
        backticks: ``spark.sql("SELECT * FROM `enhanced.sales.fct_order`")``); returns the
        versions read. The serving module's one call (:func:`c360.sql.register_spark_views`)."""
        from c360.sql import register_spark_views

        return register_spark_views(self.spark(), self.root, versions=versions, role=role)

    def storage(self) -> Any:
        """The storage layer (:class:`c360.storage.DeltaStorage`) on this lake; starts Spark."""
        if self._storage is None:
            from c360.storage.delta import DeltaStorage

            self._storage = DeltaStorage(self.spark(), self.root)
        return self._storage


def _when(as_of: AsOf) -> datetime | None:
    if as_of is None or isinstance(as_of, datetime):
        return as_of
    try:
        return datetime.fromisoformat(as_of)
    except ValueError:
        raise ValueError(f"as_of must be a datetime or an ISO 8601 text, not {as_of!r}") from None


def _ident(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


def _literal(value: object) -> str:
    if value is None:
        raise ValueError("a partition value of None is not supported here; use lake.sql with IS NULL")
    if isinstance(value, bool):
        return "TRUE" if value else "FALSE"
    if isinstance(value, int | float):
        return repr(value)
    if isinstance(value, datetime):
        return f"TIMESTAMP '{value.isoformat()}'"
    if isinstance(value, date):
        return f"DATE '{value.isoformat()}'"
    return "'" + str(value).replace("'", "''") + "'"


def _check_partition_values(name: str, field: pa.Field, value: object) -> None:
    """Each value must be one of the partition column's type, said by name (DataFusion's own
    error names an optimizer rule and an Arrow cast)."""
    values = list(value) if isinstance(value, list | tuple | set | frozenset) else [value]
    for v in values:
        if v is None:
            continue
        try:
            pa.array([v if isinstance(v, str) else str(v)]).cast(field.type)
        except (pa.ArrowInvalid, pa.ArrowNotImplementedError):
            raise ValueError(f"{name}: {v!r} is not a value of partition column {field.name} ({field.type})") from None


def _partition_predicate(column: str, value: object) -> str:
    if isinstance(value, list | tuple | set | frozenset):
        values = sorted(value, key=str)
        if not values:
            return "FALSE"
        return f"{_ident(column)} IN ({', '.join(_literal(v) for v in values)})"
    return f"{_ident(column)} = {_literal(value)}"


# ---------------------------------------------------------------------- the default lake
_default: Lake | None = None


def connect(root: Path | str | None = None, *, settings: Settings | None = None) -> Lake:
    """Point the module-level functions at a lake (default: the settings' ``C360_LAKE_ROOT``)."""
    global _default
    _default = Lake(root, settings=settings)
    return _default


def _lake() -> Lake:
    return _default if _default is not None else connect()


def tables(tier: str | None = None) -> pd.DataFrame:
    return _lake().tables(tier)


def columns(name: str) -> pd.DataFrame:
    return _lake().columns(name)


def table(
    name: str,
    version: int | None = None,
    as_of: AsOf = None,
    *,
    engine: Engine = "spark",
    partitions: Mapping[str, object] | None = None,
) -> DataFrame | pd.DataFrame:
    return _lake().table(name, version, as_of, engine=engine, partitions=partitions)


def frame(
    name: str,
    version: int | None = None,
    as_of: AsOf = None,
    *,
    partitions: Mapping[str, object] | None = None,
    columns: Sequence[str] | None = None,
    limit: int | None = None,
) -> pd.DataFrame:
    return _lake().frame(name, version, as_of, partitions=partitions, columns=columns, limit=limit)


def history(name: str, limit: int | None = None) -> pd.DataFrame:
    return _lake().history(name, limit)


def sql(
    query: str,
    *,
    role: str | None = "analyst",
    limit: int | None = None,
    timeout: float | None = None,
    versions: Mapping[str, int] | None = None,
) -> pd.DataFrame:
    return _lake().sql(query, role=role, limit=limit, timeout=timeout, versions=versions)


def spark() -> SparkSession:
    return _lake().spark()


def spark_views(versions: Mapping[str, int] | None = None, role: str | None = None) -> dict[str, int]:
    return _lake().spark_views(versions, role)


for _fn in (tables, columns, table, frame, history, sql, spark, spark_views):
    _fn.__doc__ = getattr(Lake, _fn.__name__).__doc__
