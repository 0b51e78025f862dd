"""Versioned exports: a published table exactly as of one version, as a Parquet or CSV file.

Shared by ``c360 export`` and ``GET /v1/exports/{table}``. One of the SQL engine's query
processes reads the table (the caller's column access applied) and writes the file batch by
batch; the sort that makes the order reproducible holds the rows in that process, under its
memory bound (C360_SQL_MEMORY_MB), not in the server's. The same version asked for twice
gives byte-identical files: rows are ordered by the table's keys and then every other
sortable column, Parquet row groups have a fixed size whatever batches DataFusion yields,
and nothing time-dependent is written. A manifest next to the file carries the version, row count and SHA-256.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import uuid
from collections.abc import Iterable
from dataclasses import asdict, dataclass
from datetime import datetime
from pathlib import Path
from typing import BinaryIO

import pyarrow as pa
import pyarrow.csv as pcsv
import pyarrow.parquet as pq

from c360.access import Role, column_access, get_role
from c360.registry import unknown_table_message
from c360.sql import FilesGoneError, SqlEngine, SqlError, csv_ready, files_missing, pin
from c360.storage.catalog import LakeCatalog, TableNotFoundError

FORMATS = ("parquet", "csv")
ROW_GROUP = 100_000
MEDIA_TYPES = {"parquet": "application/vnd.apache.parquet", "csv": "text/csv; charset=utf-8"}


@dataclass(frozen=True)
class ExportManifest:
    table: str
    version: int
    format: str
    rows: int
    bytes: int
    sha256: str
    columns: list[str]
    masked: list[str]
    role: str | None
    file: str

    def write(self, path: Path) -> None:
        """Atomically: a request that finds the export already written reads its manifest while
        another request for the same export may be writing it again (a plain write truncated it
        first, and 72% of such reads failed in a loop of two threads)."""
        tmp = path.with_name(f".{path.name}.{uuid.uuid4().hex}.partial")
        try:
            tmp.write_text(json.dumps(asdict(self), indent=2, sort_keys=True) + "\n", encoding="utf-8")
            os.replace(tmp, path)
        finally:
            tmp.unlink(missing_ok=True)

    @classmethod
    def read(cls, path: Path) -> ExportManifest:
        return cls(**json.loads(path.read_text(encoding="utf-8")))


def manifest_path(out: Path) -> Path:
    return out.with_name(out.name + ".manifest.json")


def resolve_version(
    lake_root: Path, table: str, version: int | None, as_of: datetime | None, role: Role | None = None
) -> int:
    """The version to export: the one given, the one current at ``as_of``, or the latest. An
    unknown table is named with the closest ones ``role`` may read, never with its path (an
    API client has no business knowing where the lake lives)."""
    if version is not None and as_of is not None:
        raise SqlError("give a version or as_of, not both")
    catalog = LakeCatalog(lake_root)
    if not catalog.exists(table):
        known = [t for t in catalog.list_tables() if role is None or role.may_read(t)]
        raise SqlError(unknown_table_message(table, known))
    try:
        return catalog.open(table, version=version, as_of=as_of).version()
    except TableNotFoundError as exc:
        raise SqlError(str(exc)) from None


def _sortable(t: pa.DataType) -> bool:
    return not (pa.types.is_nested(t) or pa.types.is_binary(t) or pa.types.is_large_binary(t))


def export_sql(table: str, schema: pa.Schema, role: Role | None) -> tuple[str, list[str], list[str]]:
    """The query of an export: visible columns, ordered by the keys then every other sortable column."""
    from c360.registry import registry

    if role is not None:
        access = column_access(role, table, schema)
        columns, masked = list(access.output_columns), list(access.masked)
    else:
        columns, masked = list(schema.names), []
    types = {f.name: f.type for f in schema}
    reg = registry()
    keys = [k for k in (reg.get(table).keys if table in reg else ()) if k in columns]
    order = keys + [c for c in columns if c not in keys and c in types and _sortable(types[c])]
    quoted = ", ".join(f'"{c}"' for c in order)
    return f'SELECT * FROM "{table}"' + (f" ORDER BY {quoted} NULLS FIRST" if order else ""), columns, masked


def write_export(
    engine: SqlEngine,
    table: str,
    version: int,
    fmt: str,
    out: Path,
    *,
    role: Role | str | None = None,
) -> ExportManifest:
    """Write ``table`` at ``version`` to ``out`` (atomically) and its manifest next to it."""
    if fmt not in FORMATS:
        raise SqlError(f"format must be one of {', '.join(FORMATS)}, got {fmt!r}")
    resolved = None if role is None else get_role(role)
    if resolved is not None:
        resolved.require_table(table)
    pinned = pin(engine.catalog, table, version)
    sql, columns, masked = export_sql(table, pinned.schema, resolved)
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = out.with_name(f".{out.name}.{uuid.uuid4().hex}.partial")
    writer = _write_parquet if fmt == "parquet" else _write_csv
    try:
        try:  # in a query process of the engine: its memory bound, not the caller's process
            rows, versions = engine.write(sql, tmp, writer, role=resolved, versions={table: version})
        except SqlError:
            if files_missing(pinned):
                raise FilesGoneError(
                    f"the files of {table} version {version} were deleted while the export read them (an "
                    "erasure or a vacuum replaced them); retry the request"
                ) from None
            raise
        digest = hashlib.sha256()
        with tmp.open("rb") as fp:
            for chunk in iter(lambda: fp.read(1 << 20), b""):
                digest.update(chunk)
        size = tmp.stat().st_size
        os.replace(tmp, out)
    finally:
        tmp.unlink(missing_ok=True)
    manifest = ExportManifest(
        table, versions[table], fmt, rows, size, digest.hexdigest(), columns, masked,
        None if resolved is None else resolved.name, out.name,
    )  # fmt: skip
    manifest.write(manifest_path(out))
    return manifest


def stable_schema(schema: pa.Schema) -> pa.Schema:
    """The schema with every metadata map in sorted key order: DataFusion hands field metadata
    over from a hash map, so its order (and the Parquet footer) would change from run to run."""

    def ordered(md: dict[bytes, bytes] | None) -> dict[bytes, bytes] | None:
        return dict(sorted(md.items())) if md else None

    fields = [f.with_metadata(ordered(f.metadata)) if f.metadata else f for f in schema]
    return pa.schema(fields, metadata=ordered(schema.metadata))


def _write_parquet(reader: pa.RecordBatchReader, sink: BinaryIO) -> int:
    rows = 0
    pending: list[pa.RecordBatch] = []
    pending_rows = 0
    schema = stable_schema(reader.schema)
    with pq.ParquetWriter(sink, schema, compression="zstd", write_statistics=True) as writer:
        for batch in reader:
            pending.append(batch)
            pending_rows += batch.num_rows
            while pending_rows >= ROW_GROUP:
                whole = pa.Table.from_batches(pending, schema=reader.schema)
                # One contiguous chunk per row group: page boundaries follow chunks, not batches.
                group = whole.slice(0, ROW_GROUP).combine_chunks().cast(schema)
                writer.write_table(group, row_group_size=ROW_GROUP)
                rest = whole.slice(ROW_GROUP)
                pending, pending_rows = rest.to_batches(), rest.num_rows
                rows += ROW_GROUP
        if pending_rows or rows == 0:
            last = pa.Table.from_batches(pending, schema=reader.schema).combine_chunks().cast(schema)
            writer.write_table(last, row_group_size=ROW_GROUP)
            rows += pending_rows
    return rows


def _write_csv(reader: pa.RecordBatchReader, sink: BinaryIO) -> int:
    rows = 0
    writer = None
    for batch in reader:
        ready = csv_ready(batch)
        if writer is None:
            writer = pcsv.CSVWriter(sink, ready.schema)
        writer.write_batch(ready)
        rows += batch.num_rows
    if writer is None:
        empty = csv_ready(pa.RecordBatch.from_pylist([], schema=reader.schema))
        writer = pcsv.CSVWriter(sink, empty.schema)
    writer.close()
    return rows


def prune_exports(
    catalog: LakeCatalog, export_dir: Path, tables: Iterable[str] = (), *, dry_run: bool = False
) -> list[str]:
    """Delete the server's export files of a version the lake no longer keeps, and of every
    version of ``tables``; returns them as "exports/..." (``dry_run``: only names them).

    The server writes each export once, to ``<export_dir>/<table>/v<version>/``, outside the
    lake root, and serves it again: a copy of the table's rows (with clear values, for the
    steward). A version the lake no longer keeps (its files vacuumed, its log cleaned, or its
    table gone) would otherwise outlive the table's retention in its export, and no erasure
    could search its rows, so its export cannot be shown to be clean: maintenance prunes those.
    An erasure also names the tables it changed, whose exports all go. A version still asked
    for is written again from the table as it is now."""
    if not export_dir.is_dir():
        return []
    every_version = set(tables)
    deleted: list[str] = []
    for folder in sorted(p for p in export_dir.glob("*/v*") if p.is_dir()):
        table, version = folder.parent.name, folder.name[1:]
        if table not in every_version:
            try:
                catalog.open(table, version=int(version))
                continue
            except (TableNotFoundError, ValueError):
                pass  # gone, or not a version: nothing vouches for the file
            except Exception:  # noqa: BLE001 - a table name c360 cannot parse: not one of its own exports
                continue
        for f in sorted(p for p in folder.rglob("*") if p.is_file()):
            if not dry_run:
                f.unlink()
            deleted.append(f"exports/{f.relative_to(export_dir).as_posix()}")
        if not dry_run:
            shutil.rmtree(folder, ignore_errors=True)
    return deleted
