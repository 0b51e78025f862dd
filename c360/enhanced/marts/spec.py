"""The published shape of a mart: name, column contract, partitioning, catalog metadata.

A spec is a plain value declared next to the transform that produces the table, so the
model step can create the table (``DeltaStorage.ensure_table(spec.name, spec.schema,
spec.partition_by, description=..., pii_columns=...)``) and the catalog can describe it
without running anything.
"""

from __future__ import annotations

from dataclasses import dataclass

from pyspark.sql import types as T


def field(name: str, dtype: T.DataType, description: str, nullable: bool = True) -> T.StructField:
    """A contract column; the description travels as the column comment."""
    return T.StructField(name, dtype, nullable, {"comment": description})


@dataclass(frozen=True)
class MartSpec:
    name: str  # tier.domain.table
    description: str
    grain: str
    keys: tuple[str, ...]
    partition_by: tuple[str, ...]
    schema: T.StructType  # the transform's final select produces exactly these names and types, in order
    pii_columns: tuple[str, ...] = ()  # hidden from callers without the pii grant
    owner: str = "data-platform"

    def __post_init__(self) -> None:
        names = self.schema.fieldNames()
        unknown = [c for c in (*self.keys, *self.partition_by, *self.pii_columns) if c not in names]
        if unknown:
            raise ValueError(f"{self.name}: key/partition/pii columns not in the schema: {', '.join(unknown)}")

    @property
    def column_descriptions(self) -> dict[str, str]:
        return {f.name: f.metadata.get("comment", "") for f in self.schema.fields}

    @property
    def column_tags(self) -> dict[str, tuple[str, ...]]:
        return {f.name: ("pii",) if f.name in self.pii_columns else () for f in self.schema.fields}
