"""Spark <-> Arrow (delta-rs) schema conversion and schema comparison.

The table's Delta schema is the contract; Spark frames are checked against it before
any file is committed. Nullability is compared separately (Spark reads every column
back as nullable, so a frame's nullable flags say nothing about its data).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

import pyarrow as pa
from pyspark.sql import DataFrame, SparkSession
from pyspark.sql import types as T


class SchemaMismatchError(ValueError):
    """A write whose columns or types do not match the table; nothing was committed."""


# Column metadata keys, the same in a Spark StructField and in the Delta schema: "comment" is
# where Spark, Databricks and Trino look for a column's description; tags are c360's own.
COMMENT_KEY = "comment"
TAGS_KEY = "c360.tags"
# Tags whose columns never get min/max statistics in the Delta log: a direct identifier (pii),
# or the id of a data subject (subject), must not outlive an erasure in the log's stats.
NO_STATS_TAGS = frozenset({"pii", "subject"})


def column_comment(metadata: dict[str, object] | None) -> str:
    return str((metadata or {}).get(COMMENT_KEY) or "")


def column_tags(metadata: dict[str, object] | None) -> tuple[str, ...]:
    raw = str((metadata or {}).get(TAGS_KEY) or "")
    return tuple(t for t in raw.split(",") if t)


def column_metadata(comment: str, tags: tuple[str, ...] | list[str] = ()) -> dict[str, str]:
    """The metadata of one column: its description and its tags (comma-separated, sorted)."""
    md = {COMMENT_KEY: comment}
    if tags:
        md[TAGS_KEY] = ",".join(sorted(set(tags)))
    return md


def delta_column_metadata(f: T.StructField) -> dict[str, str]:
    """The part of a StructField's metadata that is written into the Delta schema."""
    return column_metadata(column_comment(f.metadata), column_tags(f.metadata)) if f.metadata else {}


def unstatted_columns(schema: T.StructType) -> list[str]:
    """Columns kept out of the Delta log's file statistics (see NO_STATS_TAGS)."""
    return [f.name for f in schema.fields if NO_STATS_TAGS & set(column_tags(f.metadata))]


def spark_to_arrow_type(dtype: T.DataType) -> pa.DataType:
    simple: dict[type[T.DataType], pa.DataType] = {
        T.StringType: pa.string(),
        T.LongType: pa.int64(),
        T.IntegerType: pa.int32(),
        T.ShortType: pa.int16(),
        T.ByteType: pa.int8(),
        T.DoubleType: pa.float64(),
        T.FloatType: pa.float32(),
        T.BooleanType: pa.bool_(),
        T.DateType: pa.date32(),
        T.TimestampType: pa.timestamp("us", tz="UTC"),
        T.BinaryType: pa.binary(),
    }
    if type(dtype) in simple:
        return simple[type(dtype)]
    if isinstance(dtype, T.DecimalType):
        return pa.decimal128(dtype.precision, dtype.scale)
    if isinstance(dtype, T.ArrayType):
        return pa.list_(pa.field("element", spark_to_arrow_type(dtype.elementType), dtype.containsNull))
    if isinstance(dtype, T.MapType):
        return pa.map_(spark_to_arrow_type(dtype.keyType), spark_to_arrow_type(dtype.valueType))
    if isinstance(dtype, T.StructType):
        return pa.struct([spark_to_arrow_field(f) for f in dtype.fields])
    if isinstance(dtype, T.TimestampNTZType):
        raise SchemaMismatchError(
            "TimestampNTZ columns are not allowed (they upgrade the Delta protocol); use UTC timestamps"
        )
    raise SchemaMismatchError(f"unsupported Spark type {dtype.simpleString()}")


def spark_to_arrow_field(f: T.StructField) -> pa.Field:
    return pa.field(
        f.name, spark_to_arrow_type(f.dataType), nullable=f.nullable, metadata=delta_column_metadata(f) or None
    )


def spark_to_arrow_schema(schema: T.StructType) -> pa.Schema:
    return pa.schema([spark_to_arrow_field(f) for f in schema.fields])


def rows_to_arrow(rows: Sequence[Sequence[object]], schema: T.StructType) -> pa.Table:
    """Python rows (tuples in ``schema``'s column order, as ``createDataFrame`` takes them) as
    an Arrow table of ``schema``'s types: what a write takes as ``rows=`` to skip Spark's job.
    Naive datetimes are read as UTC, the session's zone. NOT NULL is left to the write."""
    fields = [f.with_nullable(True) for f in spark_to_arrow_schema(schema)]
    for row in rows:
        if len(row) != len(fields):
            raise SchemaMismatchError(f"a row of {len(row)} values for {len(fields)} columns: {tuple(row)!r}")
    columns = list(zip(*rows, strict=True)) if rows else [() for _ in fields]
    return pa.Table.from_arrays(
        [pa.array(list(c), type=f.type) for c, f in zip(columns, fields, strict=True)], schema=pa.schema(fields)
    )


def local_frame(spark: SparkSession, rows: Sequence[Sequence[object]], schema: T.StructType) -> DataFrame:
    """Rows held by the driver (tuples in ``schema``'s column order) as a DataFrame of ``schema``,
    handed to the JVM as Arrow (``rows_to_arrow``).

    ``createDataFrame`` of Python rows pickles them into a Python RDD, and the first job that
    reads one starts Spark's Python workers: 1.5 s of a mock_data day, in the job of its first
    static dimension, and a worker's round trip in every such job after it."""
    return spark.createDataFrame(rows_to_arrow(rows, schema), schema)


def arrow_to_spark_type(dtype: pa.DataType) -> T.DataType:
    if pa.types.is_string(dtype) or pa.types.is_large_string(dtype) or pa.types.is_string_view(dtype):
        return T.StringType()
    if pa.types.is_binary(dtype) or pa.types.is_large_binary(dtype) or pa.types.is_binary_view(dtype):
        return T.BinaryType()
    mapping = [
        (pa.types.is_int64, T.LongType),
        (pa.types.is_int32, T.IntegerType),
        (pa.types.is_int16, T.ShortType),
        (pa.types.is_int8, T.ByteType),
        (pa.types.is_float64, T.DoubleType),
        (pa.types.is_float32, T.FloatType),
        (pa.types.is_boolean, T.BooleanType),
        (pa.types.is_date32, T.DateType),
    ]
    for check, spark_type in mapping:
        if check(dtype):
            return spark_type()
    if pa.types.is_timestamp(dtype):
        return T.TimestampType() if dtype.tz else T.TimestampNTZType()
    if pa.types.is_decimal(dtype):
        return T.DecimalType(dtype.precision, dtype.scale)
    if pa.types.is_list(dtype) or pa.types.is_large_list(dtype) or pa.types.is_list_view(dtype):
        return T.ArrayType(arrow_to_spark_type(dtype.value_type), dtype.value_field.nullable)
    if pa.types.is_map(dtype):
        return T.MapType(arrow_to_spark_type(dtype.key_type), arrow_to_spark_type(dtype.item_type), True)
    if pa.types.is_struct(dtype):
        return T.StructType([arrow_to_spark_field(dtype.field(i)) for i in range(dtype.num_fields)])
    raise SchemaMismatchError(f"unsupported Arrow type {dtype}")


def arrow_to_spark_field(f: pa.Field) -> T.StructField:
    metadata = {k.decode(): v.decode() for k, v in (f.metadata or {}).items()}
    return T.StructField(f.name, arrow_to_spark_type(f.type), f.nullable, metadata or None)


def arrow_to_spark_schema(schema: pa.Schema) -> T.StructType:
    return T.StructType([arrow_to_spark_field(f) for f in schema])


def _strip_nullability(dtype: T.DataType) -> T.DataType:
    if isinstance(dtype, T.StructType):
        return T.StructType([T.StructField(f.name, _strip_nullability(f.dataType), True) for f in dtype.fields])
    if isinstance(dtype, T.ArrayType):
        return T.ArrayType(_strip_nullability(dtype.elementType), True)
    if isinstance(dtype, T.MapType):
        return T.MapType(_strip_nullability(dtype.keyType), _strip_nullability(dtype.valueType), True)
    return dtype


@dataclass
class SchemaDiff:
    missing: list[str] = field(default_factory=list)  # in the table, not in the frame
    unexpected: list[str] = field(default_factory=list)  # in the frame, not in the table
    type_changes: list[str] = field(default_factory=list)  # "col: table type <- frame type"

    def __bool__(self) -> bool:
        return bool(self.missing or self.unexpected or self.type_changes)

    def describe(self) -> str:
        parts = []
        if self.missing:
            parts.append("missing columns: " + ", ".join(self.missing))
        if self.unexpected:
            parts.append("unexpected columns: " + ", ".join(self.unexpected))
        if self.type_changes:
            parts.append("type mismatches: " + "; ".join(self.type_changes))
        return "; ".join(parts)


def diff_schemas(table: T.StructType, frame: T.StructType) -> SchemaDiff:
    """Compare by column name (order-insensitive) and type (nullability ignored)."""
    table_types = {f.name: f.dataType for f in table.fields}
    frame_types = {f.name: f.dataType for f in frame.fields}
    diff = SchemaDiff(
        missing=[n for n in table_types if n not in frame_types],
        unexpected=[n for n in frame_types if n not in table_types],
    )
    for name, ttype in table_types.items():
        ftype = frame_types.get(name)
        if ftype is not None and _strip_nullability(ftype) != _strip_nullability(ttype):
            diff.type_changes.append(f"{name}: table {ttype.simpleString()}, frame {ftype.simpleString()}")
    return diff
