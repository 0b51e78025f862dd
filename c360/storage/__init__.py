"""The storage layer: the only code that touches table folders (see docs/storage.md)."""

from typing import TYPE_CHECKING

from c360.storage.catalog import HistoryEntry, LakeCatalog, TableInfo, TableNotFoundError, VersionNotKeptError
from c360.storage.names import TIERS, TableName, TableNameError
from c360.storage.schema import SchemaMismatchError

if TYPE_CHECKING:  # what __getattr__ loads on first use, as the type checker must see it
    from c360.storage.delta import CommitConflictError, CommitResult, DeltaStorage, WriteMode

__all__ = [
    "TIERS",
    "CommitConflictError",
    "CommitResult",
    "DeltaStorage",
    "HistoryEntry",
    "LakeCatalog",
    "SchemaMismatchError",
    "TableInfo",
    "TableName",
    "TableNameError",
    "TableNotFoundError",
    "VersionNotKeptError",
    "WriteMode",
]


def __getattr__(name: str) -> object:
    # DeltaStorage pulls in pyspark: load it only when asked, so catalog users stay light.
    if name in {"DeltaStorage", "WriteMode", "CommitResult", "CommitConflictError"}:
        from c360.storage import delta

        return getattr(delta, name)
    raise AttributeError(name)
