"""Inline sanitized frames for the star's tests: a row names only the values that matter.

Every sanitized column of the source's contract is present (NULL unless given), and the
lineage columns get neutral values derived from the extract date, so a frame always has
exactly the shape the model reads from the sanitized tier.
"""

from __future__ import annotations

from datetime import date, datetime, time
from typing import Any

from pyspark.sql import DataFrame, SparkSession, Window
from pyspark.sql import functions as F
from pyspark.sql import types as T

from c360.contracts import CONTRACTS

D1, D2, D3, D4 = date(2024, 1, 10), date(2024, 1, 11), date(2024, 1, 12), date(2024, 1, 13)


def at(d: date, hour: int = 0, minute: int = 0) -> datetime:
    return datetime.combine(d, time(hour, minute))


def sanitized(spark: SparkSession, source: str, rows: list[dict[str, Any]]) -> DataFrame:
    """A sanitized-tier frame of ``source`` (e.g. ``"customer.customers"``); each row needs ``_extract_date``."""
    # Nullable, as Spark reads the tier back: a test leaves out the required columns it does not need.
    contract = CONTRACTS[source].sanitized_schema()
    schema = T.StructType([T.StructField(f.name, f.dataType, True, f.metadata) for f in contract.fields])
    out = []
    for i, given in enumerate(rows, start=1):
        extract: date = given["_extract_date"]
        row: dict[str, Any] = {
            "_record_hash": f"hash-{i}",
            "_ingest_id": f"ingest-{extract}",
            "_ingest_time": at(extract, 6),
            "_source_file": f"{extract}/{source}.csv",
            "_line_number": i,
        }
        row.update(given)
        unknown = set(row) - set(schema.fieldNames())
        if unknown:
            raise KeyError(f"{source} has no columns {sorted(unknown)}")
        out.append(tuple(row.get(f.name) for f in schema.fields))
    return spark.createDataFrame(out, schema)


def keys_by_version(dim: DataFrame, natural_key: str, surrogate: str) -> dict[tuple[str, datetime], int]:
    """{(natural key, valid_from): surrogate key} of an SCD2 dimension."""
    return {(r[0], r[1]): r[2] for r in dim.select(natural_key, "valid_from", surrogate).collect()}


def scd2_violations(dim: DataFrame, natural_key: str) -> list[tuple[Any, ...]]:
    """Rows breaking the SCD2 invariants: not exactly one current row, a gap or an overlap
    between consecutive versions, an empty interval, or is_current disagreeing with valid_to."""
    w = Window.partitionBy(natural_key).orderBy("valid_from")
    checked = (
        dim.withColumn("next_from", F.lead("valid_from").over(w))
        .withColumn("currents", F.sum(F.col("is_current").cast("int")).over(Window.partitionBy(natural_key)))
        .withColumn("versions_at_instant", F.count("*").over(Window.partitionBy(natural_key, "valid_from")))
    )
    bad = checked.filter(
        (F.col("currents") != 1)
        | (F.col("versions_at_instant") != 1)
        | (F.col("is_current") != F.col("valid_to").isNull())
        | (F.col("valid_to").isNotNull() & (F.col("valid_to") <= F.col("valid_from")))
        | ~F.col("next_from").eqNullSafe(F.col("valid_to"))
    )
    return [tuple(r) for r in bad.select(natural_key, "valid_from", "valid_to", "is_current", "currents").collect()]
