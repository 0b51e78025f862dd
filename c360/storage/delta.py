"""The Spark <-> Delta bridge: the only code that writes table folders.

Spark writes Parquet files in parallel into a private staging folder of the table (or,
for rows a caller already holds on the driver as Arrow, pyarrow writes them there with no
Spark job); the driver moves exactly those files into the table's partition folders and
commits them as one Delta transaction with delta-rs. A crash before the commit leaves only
unreferenced files, which ``vacuum`` removes; readers never see a partial write.
Executors never need delta-rs. Staging and moving rely on a POSIX file system
(a local disk, or a shared mount on a cluster).
"""

from __future__ import annotations

import os
import shutil
import time
import uuid
from collections.abc import Collection, Iterable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum
from pathlib import Path
from urllib.parse import unquote

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq
from deltalake import DeltaTable
from deltalake.exceptions import CommitFailedError
from deltalake.schema import Field as DeltaField
from deltalake.transaction import AddAction, CommitProperties, RemoveAction, Transaction
from pyspark.sql import Column, DataFrame, SparkSession
from pyspark.sql import functions as F
from pyspark.sql import types as T

from c360.storage.catalog import (
    DETAILS_KEY,
    OPERATION_KEY,
    ROWS_KEY,
    STAGING_DIR,
    LakeCatalog,
    TableInfo,
)
from c360.storage.names import TableName
from c360.storage.schema import (
    SchemaMismatchError,
    arrow_to_spark_schema,
    delta_column_metadata,
    diff_schemas,
    spark_to_arrow_field,
    spark_to_arrow_schema,
    unstatted_columns,
)
from c360.storage.stats import file_stats, files_without

HIVE_NULL = "__HIVE_DEFAULT_PARTITION__"
# Partition column types whose folder names pyarrow's writes spell as Spark does (dates ISO,
# booleans lower-case); a table partitioned by another type has its rows written by Spark.
_ARROW_PARTITION_TYPES = (T.DateType, T.StringType, T.BooleanType, T.IntegralType)
STATS_COLUMNS_KEY = "delta.dataSkippingStatsColumns"
# The most rows of one write a step collects to the driver to write them without a Spark job
# (``DeltaStorage.write``'s ``rows``): every day of the 1M-order-line set is under it, a year's
# backfill far over it.
COLLECT_MAX_ROWS = 50_000


class CommitConflictError(RuntimeError):
    """Another writer changed what this write depends on; nothing was committed."""


class WriteMode(StrEnum):
    APPEND = "append"
    OVERWRITE = "overwrite"
    REPLACE_PARTITIONS = "replace_partitions"


@dataclass(frozen=True)
class CommitResult:
    table: str
    version: int
    committed: bool
    rows_added: int
    files_added: int
    files_removed: int
    operation: str


@dataclass(frozen=True)
class _WrittenFile:
    action: AddAction
    rows: int
    nulls: dict[str, int]


class DeltaStorage:
    """Read and write lake tables (``tier.domain.table``) with Spark, commit with delta-rs."""

    def __init__(self, spark: SparkSession, lake_root: Path) -> None:
        self.spark = spark
        self.catalog = LakeCatalog(lake_root)

    # ------------------------------------------------------------------ tables
    def path(self, name: str | TableName) -> Path:
        return self.catalog.path(name)

    def exists(self, name: str | TableName) -> bool:
        return self.catalog.exists(name)

    def ensure_table(
        self,
        name: str | TableName,
        schema: T.StructType,
        partition_by: Sequence[str] = (),
        *,
        description: str | None = None,
    ) -> TableInfo:
        """Create the table if it does not exist; if it does, check it has this schema.

        The column descriptions and tags in ``schema``'s field metadata and the description
        are written into the Delta table itself, so every engine sees them; on an existing
        table they are brought up to date (commits only when they differ). delta-rs refuses
        table properties outside ``delta.*``: owner, grain and keys live in the registry.
        Columns tagged pii or subject get no min/max statistics
        (``delta.dataSkippingStatsColumns`` lists the others), so identifiers never leak
        into the Delta log.
        """
        tname = TableName.parse(name)
        unknown = [c for c in partition_by if c not in schema.fieldNames()]
        if unknown:
            raise SchemaMismatchError(f"{tname}: partition columns not in the schema: {', '.join(unknown)}")
        configuration: dict[str, str] = {}
        hidden = unstatted_columns(schema)
        if hidden:
            stats_cols = [c for c in schema.fieldNames() if c not in hidden and c not in partition_by]
            configuration[STATS_COLUMNS_KEY] = ",".join(stats_cols)
        if self.exists(tname):
            info = self.catalog.describe(tname)
            existing = arrow_to_spark_schema(info.schema)
            diff = diff_schemas(existing, schema)
            if diff or info.partition_by != list(partition_by):
                detail = diff.describe() or f"partitioned by {info.partition_by}, declared {list(partition_by)}"
                raise SchemaMismatchError(f"{tname} exists with a different layout: {detail}")
            if self._sync_metadata(tname, existing, schema, info, description, configuration):
                info = self.catalog.describe(tname)
            return info
        path = self.path(tname)
        path.mkdir(parents=True, exist_ok=True)
        DeltaTable.create(
            str(path),
            spark_to_arrow_schema(schema),
            mode="ignore",  # a concurrent creator may have won; the check below still holds
            partition_by=list(partition_by) or None,
            name=str(tname),
            description=description,
            configuration=dict(configuration) or None,
        )
        return self.catalog.describe(tname)

    def _sync_metadata(
        self,
        tname: TableName,
        existing: T.StructType,
        declared: T.StructType,
        info: TableInfo,
        description: str | None,
        configuration: Mapping[str, str],
    ) -> bool:
        """Bring an existing table's descriptions, tags and properties up to the declaration."""
        dt = DeltaTable(str(self.path(tname)))
        props = CommitProperties(custom_metadata={OPERATION_KEY: "set_metadata"})
        changed = False
        current = {f.name: delta_column_metadata(f) for f in existing.fields}
        for f in declared.fields:
            wanted = delta_column_metadata(f)
            if wanted and wanted != current.get(f.name):
                dt.alter.set_column_metadata(f.name, wanted, commit_properties=props)
                changed = True
        if description and description != info.description:
            dt.alter.set_table_description(description, commit_properties=props)
            changed = True
        stale = {k: v for k, v in configuration.items() if info.configuration.get(k) != v}
        if stale:
            dt.alter.set_table_properties(stale, commit_properties=props)
            changed = True
        return changed

    @contextmanager
    def scratch(self, name: str | TableName, purpose: str) -> Iterator[Path]:
        """A private work folder in the table's staging area, removed on exit (also on failure).

        For a step whose Spark tasks write intermediate files that the driver then commits to
        this table (and others): the folder lies on the lake's file system, so executors reach
        it as they reach the tables. Only its creator may read it (mode 0700). A process killed
        inside the block leaves the folder behind; ``vacuum`` of the table removes it after the
        retention, like any other staging folder.
        """
        folder = self.path(name) / STAGING_DIR / f"{purpose}-{uuid.uuid4().hex}"
        folder.parent.mkdir(parents=True, exist_ok=True)
        folder.mkdir(mode=0o700)
        try:
            yield folder
        finally:
            shutil.rmtree(folder, ignore_errors=True)

    def table_schema(self, name: str | TableName) -> T.StructType:
        return arrow_to_spark_schema(self.catalog.describe(name).schema)

    # ------------------------------------------------------------------ reads
    def read(
        self,
        name: str | TableName,
        *,
        version: int | None = None,
        as_of: datetime | None = None,
        partitions: Mapping[str, object] | None = None,
        holding: Mapping[str, Collection[object]] | None = None,
    ) -> DataFrame:
        """A snapshot (latest, a version, or as of a time) as a DataFrame with the table's schema.

        ``partitions`` ({column: value or list of values}) prunes files from the Delta log
        before Spark lists anything, so reading one day of a long history stays cheap.

        ``holding`` ({column: values}) leaves out the files whose statistics prove that none
        of their rows has one of the values in that column (data skipping: a day's few keys
        in a history whose files each hold a range of them). Whole files are left out, so the
        frame still holds the other rows of the files it reads: join or filter on the values
        as well. A NULL value matches nothing, as in a join.
        """
        dt = self.catalog.open(name, version=version, as_of=as_of)
        schema = arrow_to_spark_schema(pa.schema(dt.schema().to_arrow()))
        filters = None
        if partitions:
            unknown = set(partitions) - set(dt.metadata().partition_columns)
            if unknown:
                raise ValueError(f"{name}: not partition columns: {', '.join(sorted(unknown))}")
            filters = []
            for col, value in partitions.items():
                values = value if isinstance(value, list | tuple | set | frozenset) else [value]
                filters.append((col, "in", sorted({str(_partition_string(v)) for v in values})))
        files = dt.file_uris(partition_filters=filters) if filters else dt.file_uris()
        if holding is not None:
            skipped = set(files_without(dt, holding))
            depth = len(dt.metadata().partition_columns) + 1  # a file's path in the table: its folders and name
            files = [f for f in files if "/".join(unquote(f).split("/")[-depth:]) not in skipped]
        if not files:
            return self.spark.createDataFrame([], schema)
        df = self.spark.read.schema(schema).option("basePath", str(self.path(name))).parquet(*files)
        return df.select(*schema.fieldNames())

    # ------------------------------------------------------------------ writes
    def append(self, df: DataFrame | T.StructType, name: str | TableName, **kw: object) -> CommitResult:
        return self.write(df, name, WriteMode.APPEND, **kw)  # type: ignore[arg-type]

    def overwrite(self, df: DataFrame | T.StructType, name: str | TableName, **kw: object) -> CommitResult:
        return self.write(df, name, WriteMode.OVERWRITE, **kw)  # type: ignore[arg-type]

    def replace_partitions(
        self,
        df: DataFrame,
        name: str | TableName,
        partitions: Iterable[Mapping[str, object]] | None = None,
        **kw: object,
    ) -> CommitResult:
        """Replace the partitions present in ``df`` (plus any listed in ``partitions``).

        Listing the partitions makes a re-run whose result became empty still clear
        the old rows of that partition.
        """
        return self.write(df, name, WriteMode.REPLACE_PARTITIONS, partitions=partitions, **kw)  # type: ignore[arg-type]

    def append_idempotent(
        self, df: DataFrame, name: str | TableName, app_id: str, app_version: int, **kw: object
    ) -> CommitResult:
        """Append once per (app id, version): a retried job with the same pair adds nothing."""
        return self.write(df, name, WriteMode.APPEND, app_id=app_id, app_version=app_version, **kw)  # type: ignore[arg-type]

    def write(
        self,
        df: DataFrame | T.StructType,
        name: str | TableName,
        mode: WriteMode,
        *,
        partition_by: Sequence[str] | None = None,
        partitions: Iterable[Mapping[str, object]] | None = None,
        app_id: str | None = None,
        app_version: int | None = None,
        record_transactions: Sequence[tuple[str, int]] = (),
        allow_evolution: bool = False,
        metadata: Mapping[str, str] | None = None,
        unchanged_check: bool = True,
        rows: pa.Table | None = None,
        files: Path | None = None,
    ) -> CommitResult:
        """Write ``df`` to the table in one commit. Creates the table on first write.

        ``app_id``/``app_version`` make the write a no-op when that pair (or a later
        version) is already committed. ``record_transactions`` records further
        (app id, version) pairs in the same commit, e.g. one per ingested source file,
        so "was this file ingested?" is answered atomically by the table itself.

        An overwrite or partition replace whose rows equal the rows it replaces commits
        nothing; finding that out reads the new and the old files. A caller that has just
        asked :meth:`holds` and heard no passes ``unchanged_check=False`` to skip reading them again.

        ``rows`` are ``df``'s rows already collected on the driver (``df.toArrow()``, as the
        quality gate does for a small frame): their files are then written here by pyarrow,
        with no Spark job, which for a day's few rows costs a fifth of one (docs/storage.md).
        Pass them only for a frame the driver can hold.

        ``files`` is a folder of Parquet files already written as the table's (``table_file``:
        its partition folders, its data columns with their Arrow types): they are moved into
        the table as they are, with no Spark job and no second write, and ``df`` only gives the
        schema. Ingest's tasks write their rows so. The folder is used up.

        With ``rows`` or ``files``, ``df`` may be just the schema (a ``StructType``): such a
        write then makes no call to Spark at all.
        """
        tname = TableName.parse(name)
        if (app_id is None) != (app_version is None):
            raise ValueError("app_id and app_version go together")
        schema = df if isinstance(df, T.StructType) else df.schema
        if isinstance(df, T.StructType) and rows is None and files is None:
            raise ValueError(f"{tname}: a schema alone can only be written with rows= or files=")
        if not self.exists(tname):
            self.ensure_table(tname, schema, partition_by or ())
        dt = DeltaTable(str(self.path(tname)))
        table_partitions = list(dt.metadata().partition_columns)
        if partition_by is not None and list(partition_by) != table_partitions:
            raise SchemaMismatchError(
                f"{tname} is partitioned by {table_partitions or 'nothing'}, write asked for {list(partition_by)}"
            )
        if app_id is not None:
            done = dt.transaction_version(app_id)
            if done is not None and app_version is not None and done >= app_version:
                return CommitResult(
                    str(tname), dt.version(), False, 0, 0, 0, f"skipped: {app_id} v{done} already committed"
                )

        table_schema = arrow_to_spark_schema(pa.schema(dt.schema().to_arrow()))
        table_schema = self._check_schema(tname, dt, table_schema, schema, allow_evolution)

        spelled = all(isinstance(table_schema[c].dataType, _ARROW_PARTITION_TYPES) for c in table_partitions)
        if rows is not None and not spelled:
            # A partition value Python would spell differently from Spark: Spark writes.
            df = self.spark.createDataFrame(rows, schema) if isinstance(df, T.StructType) else df
            rows = None
        if files is not None and not spelled:
            raise SchemaMismatchError(f"{tname}: files= needs partition values Python spells as Spark does")
        selected = None if isinstance(df, T.StructType) else df.select(*table_schema.fieldNames())
        written = self._write_files(selected, tname, dt, table_schema, table_partitions, rows, files)
        try:
            self._check_not_null(tname, table_schema, table_partitions, written)
            txns = [
                *([(app_id, app_version)] if app_id is not None and app_version is not None else []),
                *record_transactions,
            ]
            return self._commit(tname, dt, mode, written, table_partitions, partitions, txns, metadata, unchanged_check)
        except BaseException:
            # Nothing references these files; removing them now spares vacuum the work.
            for w in written:
                (self.path(tname) / w.action.path).unlink(missing_ok=True)
            raise

    def holds(
        self,
        df: DataFrame,
        name: str | TableName,
        partitions: Iterable[Mapping[str, object]] | None = None,
        *,
        row_count: int | None = None,
    ) -> bool:
        """Whether the table already holds exactly ``df``'s rows: in the listed partitions
        (``{column: value}`` each), or as its whole content when none are listed.

        The same test a write makes before committing (row count and order-independent row
        hash), asked before the work around a write: a caller can then skip validating and
        writing what would commit nothing. The rows held are counted from the Delta log, so
        with ``row_count`` (``df``'s, when the caller knows it) a different count, or rows
        where none are held, is answered without a Spark job; otherwise one job hashes both
        sides.
        """
        tname = TableName.parse(name)
        if not self.exists(tname):
            return False
        dt = DeltaTable(str(self.path(tname)))
        table_schema = arrow_to_spark_schema(pa.schema(dt.schema().to_arrow()))
        if diff_schemas(table_schema, df.schema):
            return False
        actions = pa.table(dt.get_add_actions(flatten=True)).to_pylist()
        if partitions is not None:
            partition_by = list(dt.metadata().partition_columns)
            targets = set()
            for spec in partitions:
                if sorted(spec) != sorted(partition_by):
                    raise ValueError(f"{tname}: partition spec {dict(spec)} must name exactly {partition_by}")
                targets.add(tuple(_partition_string(spec[c]) for c in partition_by))
            actions = [a for a in actions if _action_partition(a, partition_by) in targets]
        counted = all(a.get("num_records") is not None for a in actions)
        if row_count is not None and counted and row_count != sum(int(a["num_records"]) for a in actions):
            return False
        if not actions:
            return row_count == 0 if row_count is not None else df.isEmpty()
        old = self._files_frame(tname, table_schema, [unquote(str(a["path"])) for a in actions])
        return _same_rows(df.select(*table_schema.fieldNames()), old, table_schema)

    def transaction_version(self, name: str | TableName, app_id: str) -> int | None:
        """The last committed version of an application transaction, or None."""
        if not self.exists(name):
            return None
        return self.catalog.open(name).transaction_version(app_id)

    def compact(self, name: str | TableName, target_size: int = 128 * 1024 * 1024) -> dict[str, object]:
        """Bin-pack small files into larger ones (delta-rs optimize; rows and version history kept)."""
        dt = self.catalog.open(name)
        metrics = dt.optimize.compact(
            target_size=target_size,
            commit_properties=CommitProperties(custom_metadata={OPERATION_KEY: "compact"}),
        )
        return {k: metrics[k] for k in ("numFilesAdded", "numFilesRemoved") if k in metrics}

    # ------------------------------------------------------------------ internals
    def _check_schema(
        self,
        tname: TableName,
        dt: DeltaTable,
        table_schema: T.StructType,
        frame_schema: T.StructType,
        allow_evolution: bool,
    ) -> T.StructType:
        diff = diff_schemas(table_schema, frame_schema)
        if not diff:
            return table_schema
        if allow_evolution and diff.unexpected and not diff.missing and not diff.type_changes:
            new_fields = [frame_schema[c] for c in diff.unexpected]
            dt.alter.add_columns(
                [
                    DeltaField.from_arrow(spark_to_arrow_field(T.StructField(f.name, f.dataType, True)))
                    for f in new_fields
                ],
                commit_properties=CommitProperties(custom_metadata={OPERATION_KEY: "evolve_schema"}),
            )
            dt.update_incremental()
            return arrow_to_spark_schema(pa.schema(dt.schema().to_arrow()))
        hint = " (pass allow_evolution=True to add new nullable columns)" if diff.unexpected else ""
        raise SchemaMismatchError(
            f"{tname}: write does not match the table schema: {diff.describe()}{hint}; nothing was committed"
        )

    def _write_files(
        self,
        df: DataFrame | None,  # None: rows or files are given
        tname: TableName,
        dt: DeltaTable,
        table_schema: T.StructType,
        partition_by: list[str],
        rows: pa.Table | None = None,
        files: Path | None = None,
    ) -> list[_WrittenFile]:
        table_path = self.path(tname)
        staging = files if files is not None else table_path / STAGING_DIR / uuid.uuid4().hex
        data_columns = [c for c in table_schema.fieldNames() if c not in partition_by]
        configured = dt.metadata().configuration.get(STATS_COLUMNS_KEY)
        bounded = set(configured.split(",")) if configured else set(data_columns)
        try:
            if files is not None:
                _check_table_files(files, table_schema, partition_by)
            elif rows is not None:
                _write_arrow_files(rows, staging, table_schema, partition_by)
            else:
                assert df is not None  # noqa: S101 - write() passes a frame when it has no rows or files
                writer = df.write.mode("errorifexists")
                if partition_by:
                    writer = writer.partitionBy(*partition_by)
                writer.parquet(str(staging))
            staged = sorted(staging.rglob("*.parquet"))
            # A file the log may name is never replaced in place (checked before any is moved).
            clash = [f.relative_to(staging) for f in staged if (table_path / f.relative_to(staging)).exists()]
            if clash:
                raise FileExistsError(f"{tname}: {clash[0]} exists already; nothing was committed")
            written: list[_WrittenFile] = []
            for f in staged:
                rel = f.relative_to(staging)
                n, stats, nulls = file_stats(f, data_columns, bounded)
                if n == 0:
                    continue
                target = table_path / rel
                target.parent.mkdir(parents=True, exist_ok=True)
                os.replace(f, target)
                written.append(
                    _WrittenFile(
                        AddAction(
                            path=rel.as_posix(),
                            size=target.stat().st_size,
                            partition_values=_partition_values(rel, partition_by),
                            modification_time=int(target.stat().st_mtime * 1000),
                            data_change=True,
                            stats=stats,
                        ),
                        n,
                        nulls,
                    )
                )
        finally:
            shutil.rmtree(staging, ignore_errors=True)
        return written

    def _files_frame(self, tname: TableName, schema: T.StructType, rel_paths: list[str]) -> DataFrame:
        """Some data files of the table, named by their paths on disk relative to its folder."""
        root = self.path(tname)
        files = [str(root / p) for p in rel_paths]
        return self.spark.read.schema(schema).option("basePath", str(root)).parquet(*files)

    def _check_not_null(
        self, tname: TableName, schema: T.StructType, partition_by: list[str], written: list[_WrittenFile]
    ) -> None:
        bad: dict[str, int] = {}
        for f in schema.fields:
            if f.nullable:
                continue
            if f.name in partition_by:
                n = sum(w.rows for w in written if w.action.partition_values.get(f.name) is None)
            else:
                n = sum(w.nulls.get(f.name, 0) for w in written)
            if n:
                bad[f.name] = n
        if bad:
            detail = ", ".join(f"{c} ({n} null rows)" for c, n in sorted(bad.items()))
            raise SchemaMismatchError(f"{tname}: nulls in NOT NULL columns: {detail}; nothing was committed")

    def _commit(
        self,
        tname: TableName,
        dt: DeltaTable,
        mode: WriteMode,
        written: list[_WrittenFile],
        partition_by: list[str],
        partitions: Iterable[Mapping[str, object]] | None,
        txns: list[tuple[str, int]],
        metadata: Mapping[str, str] | None,
        unchanged_check: bool = True,
    ) -> CommitResult:
        rows = sum(w.rows for w in written)
        adds: list[AddAction | RemoveAction] = [w.action for w in written]
        removes: list[AddAction | RemoveAction] = []
        details = ""
        if mode is WriteMode.REPLACE_PARTITIONS:
            if not partition_by:
                raise SchemaMismatchError(f"{tname} is not partitioned; use overwrite")
            targets = {tuple(w.action.partition_values.get(c) for c in partition_by) for w in written}
            for spec in partitions or ():
                missing = [c for c in partition_by if c not in spec]
                if missing or set(spec) - set(partition_by):
                    raise ValueError(f"{tname}: partition spec {dict(spec)} must name exactly {partition_by}")
                targets.add(tuple(_partition_string(spec[c]) for c in partition_by))
            removes = _remove_actions(dt, partition_by, targets)
            details = "partitions " + "; ".join(
                ",".join(f"{c}={v}" for c, v in zip(partition_by, t, strict=True)) for t in sorted(targets, key=str)
            )
        elif mode is WriteMode.APPEND and not adds and not txns:
            return CommitResult(str(tname), dt.version(), False, 0, 0, 0, "append: no rows")
        if mode is WriteMode.REPLACE_PARTITIONS and not adds and not removes:
            return CommitResult(str(tname), dt.version(), False, 0, 0, 0, "replace_partitions: nothing to replace")
        if mode is not WriteMode.APPEND and not txns and unchanged_check:
            old = [a.path for a in removes] if mode is WriteMode.REPLACE_PARTITIONS else _live_paths(dt)  # type: ignore[union-attr]
            new = [w.action.path for w in written]
            # No rows replacing no rows (an empty result over an empty table or partition) is
            # unchanged; otherwise only rows replacing rows can be, which the hashes decide.
            schema = arrow_to_spark_schema(pa.schema(dt.schema().to_arrow()))
            if rows == 0:
                unchanged = not old or self._files_frame(tname, schema, old).isEmpty()
            else:
                unchanged = bool(old) and _same_rows(
                    self._files_frame(tname, schema, new), self._files_frame(tname, schema, old), schema
                )
            if unchanged:
                for w in written:
                    (self.path(tname) / w.action.path).unlink(missing_ok=True)
                return CommitResult(str(tname), dt.version(), False, 0, 0, 0, f"{mode.value}: content unchanged")
        custom = {OPERATION_KEY: mode.value, ROWS_KEY: rows, **(metadata or {})}
        if details:
            custom[DETAILS_KEY] = details
        if txns:
            shown = ", ".join(f"{a} v{v}" for a, v in txns[:3]) + (f" (+{len(txns) - 3} more)" if len(txns) > 3 else "")
            custom[DETAILS_KEY] = f"app {shown}"
        files_removed = len(removes) if mode is not WriteMode.OVERWRITE else len(dt.file_uris())
        try:
            dt.create_write_transaction(
                adds + removes,
                mode="overwrite" if mode is WriteMode.OVERWRITE else "append",
                schema=dt.schema(),
                partition_by=partition_by or None,
                commit_properties=CommitProperties(
                    custom_metadata=custom,
                    app_transactions=[Transaction(a, v) for a, v in txns] or None,
                ),
            )
        except CommitFailedError as exc:
            reason = " ".join(str(exc).split())
            raise CommitConflictError(
                f"{tname}: a concurrent commit conflicts with this {mode.value} ({reason}); "
                "nothing was committed - re-run the step"
            ) from exc
        dt.update_incremental()
        return CommitResult(str(tname), dt.version(), True, rows, len(adds), files_removed, mode.value)


def _same_rows(new: DataFrame, old: DataFrame, schema: T.StructType) -> bool:
    """Whether two frames hold the same rows (``schema``'s columns), as a multiset: their row
    counts and order-independent sums of each row's xxhash64, both sides in one Spark job."""
    row_hash = F.xxhash64(*[_hashable(f) for f in schema.fields]).cast("decimal(38,0)").alias("h")
    hashed = [frame.select(F.lit(side).alias("side"), row_hash) for side, frame in ((0, new), (1, old))]
    sums = hashed[0].unionByName(hashed[1]).groupBy("side").agg(F.count(F.lit(1)).alias("n"), F.sum("h").alias("h"))
    got = {r["side"]: (int(r["n"]), int(r["h"] or 0)) for r in sums.collect()}
    return got.get(0, (0, 0)) == got.get(1, (0, 0))


def _hashable(f: T.StructField) -> Column:
    """A column xxhash64 accepts: Spark refuses maps (their order is not canonical), so
    a map is hashed as its entries sorted by key."""
    if isinstance(f.dataType, T.MapType):
        return F.array_sort(F.map_entries(F.col(f.name)))
    return F.col(f.name)


def _write_arrow_files(rows: pa.Table, folder: Path, schema: T.StructType, partition_by: list[str]) -> None:
    """Write ``rows`` (a frame's Arrow collect) as Spark would lay them out: one Parquet file
    per partition value in its ``col=value`` folder (``table_file``), with the table's Arrow types."""
    missing = [c for c in schema.fieldNames() if c not in rows.column_names]
    if missing:
        raise SchemaMismatchError(f"the collected rows lack columns {', '.join(missing)}")
    data = data_file_schema(schema, partition_by)
    for values, chosen in _by_partition(rows, partition_by):
        path = folder / table_file(values, f"part-00000-{uuid.uuid4()}.c000.snappy.parquet")
        path.parent.mkdir(parents=True, exist_ok=True)
        pq.write_table(chosen.select(data.names).cast(data), path, compression="snappy")


def data_file_schema(schema: T.StructType, partition_by: Sequence[str]) -> pa.Schema:
    """The Arrow schema of a table's data files: its columns but the partition columns (their
    values are in the folder names), every one nullable: nullability is the table's to check
    (from the written files' null counts)."""
    data = spark_to_arrow_schema(T.StructType([f for f in schema.fields if f.name not in partition_by]))
    return pa.schema([f.with_nullable(True) for f in data])


def table_file(partition: Mapping[str, object], name: str) -> Path:
    """A data file's path relative to its table: the partition's ``col=value`` folders (names and
    values escaped as Spark escapes them, null and the empty string as Hive's default
    partition), then ``name``."""
    folders = []
    for column, value in partition.items():
        v = _partition_string(value)
        folders.append(f"{_escape_path_name(column)}={HIVE_NULL if not v else _escape_path_name(v)}")
    return Path(*folders, name)


def _check_table_files(folder: Path, schema: T.StructType, partition_by: list[str]) -> None:
    """Files handed to a write as the table's (``write``'s ``files``) must have its data schema."""
    data = data_file_schema(schema, partition_by)
    for f in sorted(folder.rglob("*.parquet")):
        found = pq.read_schema(f)
        if not found.remove_metadata().equals(data):
            raise SchemaMismatchError(f"{f.name} does not have the table's data schema: {found} is not {data}")


# The characters Spark escapes in partition folder names (ExternalCatalogUtils.charToEscape, as
# on POSIX): its reader decodes %XX as one character, so nothing else may be escaped.
_SPARK_ESCAPED = frozenset([*map(chr, range(1, 32)), *"\"#%'*/:=?\\\x7f{[]^"])


def _escape_path_name(text: str) -> str:
    return "".join(f"%{ord(ch):02X}" if ch in _SPARK_ESCAPED else ch for ch in text)


def _by_partition(rows: pa.Table, partition_by: list[str]) -> Iterator[tuple[dict[str, str | None], pa.Table]]:
    """``rows`` split by their values of ``partition_by`` (each with its Delta spelling)."""
    if not partition_by:
        yield {}, rows
        return
    for key in rows.group_by(partition_by, use_threads=False).aggregate([]).to_pylist():
        mask = None
        for c in partition_by:
            column = rows.column(c)
            match = pc.is_null(column) if key[c] is None else pc.equal(column, pa.scalar(key[c], column.type))
            mask = match if mask is None else pc.and_(mask, match)
        assert mask is not None
        yield {c: _partition_string(key[c]) for c in partition_by}, rows.filter(mask)


def _live_paths(dt: DeltaTable) -> list[str]:
    """The live files' paths on disk relative to the table (the log holds them URI-encoded)."""
    return [unquote(str(p)) for p in pa.table(dt.get_add_actions(flatten=True)).column("path").to_pylist()]


def _partition_values(rel: Path, partition_by: list[str]) -> dict[str, str | None]:
    """Decoded partition values from Spark's ``col=value`` folders (on-disk names stay encoded)."""
    values: dict[str, str | None] = {}
    for part in rel.parts[:-1]:
        key, _, raw = part.partition("=")
        value = unquote(raw)
        values[unquote(key)] = None if value == HIVE_NULL else value
    if sorted(values) != sorted(partition_by):
        raise RuntimeError(f"unexpected partition folders in {rel} for partitions {partition_by}")
    return values


def _partition_string(value: object) -> str | None:
    """How Delta spells a partition value (dates ISO, booleans lower-case)."""
    if value is None:
        return None
    if isinstance(value, bool):
        return str(value).lower()
    if hasattr(value, "isoformat"):
        return value.isoformat()  # type: ignore[no-any-return]
    return str(value)


def _action_partition(action: Mapping[str, object], partition_by: list[str]) -> tuple[str | None, ...]:
    """An add action's (``get_add_actions(flatten=True)``) partition values, spelled as Delta does."""
    return tuple(_partition_string(action.get(f"partition.{c}")) for c in partition_by)


def _remove_actions(
    dt: DeltaTable, partition_by: list[str], targets: set[tuple[str | None, ...]]
) -> list[AddAction | RemoveAction]:
    actions = pa.table(dt.get_add_actions(flatten=True)).to_pylist()
    now = int(time.time() * 1000)
    removes: list[AddAction | RemoveAction] = []
    for a in actions:
        key = _action_partition(a, partition_by)
        if key in targets:
            removes.append(
                RemoveAction(
                    # The log's paths are URI-encoded; delta-rs encodes what it is given.
                    path=unquote(a["path"]),
                    data_change=True,
                    deletion_timestamp=now,
                    size=a["size_bytes"],
                    partition_values={c: v for c, v in zip(partition_by, key, strict=True)},
                )
            )
    return removes
