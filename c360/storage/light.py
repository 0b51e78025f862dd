"""Small writes without Spark: create a declared table and append rows with delta-rs alone.

The serving process has no JVM, yet it records API keys and its audit trail in ops tables.
Those rows are few and arrive in batches, so a delta-rs append (one commit per batch) is
the right tool; the big tables keep going through :mod:`c360.storage.delta`.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pyarrow as pa
from deltalake import DeltaTable, write_deltalake
from deltalake.transaction import CommitProperties

from c360.storage.catalog import OPERATION_KEY, ROWS_KEY, LakeCatalog, TableInfo

if TYPE_CHECKING:
    from c360.registry import Table


def ensure(table: Table, lake_root: Path) -> TableInfo:
    """``Table.ensure`` for a process without Spark: the storage layer's ensure_table is pure
    delta-rs (it never touches the session), so it runs with none."""
    from c360.storage.delta import DeltaStorage

    return table.ensure(DeltaStorage(None, lake_root))  # type: ignore[arg-type]


def append_rows(lake_root: Path, name: str, rows: Sequence[Mapping[str, Any]], *, operation: str) -> int:
    """Append ``rows`` to the existing table ``name`` as one commit; returns the new version."""
    path = LakeCatalog(lake_root).path(name)
    dt = DeltaTable(str(path))
    schema = pa.schema(dt.schema().to_arrow())
    data = pa.Table.from_pylist([dict(r) for r in rows], schema=schema)
    props = CommitProperties(custom_metadata={OPERATION_KEY: operation, ROWS_KEY: str(len(rows))})
    write_deltalake(dt, data, mode="append", commit_properties=props)
    dt.update_incremental()
    return dt.version()
