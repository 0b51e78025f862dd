"""Building blocks of the enhanced tier: versions, surrogate keys, SCD2, late members.

Everything here is a pure DataFrame -> DataFrame function; the model step reads the
sanitized tier and writes the results through the storage layer.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import date, datetime

from pyspark.sql import Column, DataFrame, SparkSession, Window
from pyspark.sql import functions as F
from pyspark.sql import types as T

from c360.storage.schema import local_frame

UNKNOWN_KEY = -1
VERSION_ORDER = ("_extract_date", "_ingest_time", "_line_number")


def conform(df: DataFrame, schema: T.StructType) -> DataFrame:
    """The explicit final select of a table: exactly its contract's columns and types."""
    return df.select(*[F.col(f.name).cast(f.dataType).alias(f.name) for f in schema.fields])


def as_of(sanitized: DataFrame, run_date: date) -> DataFrame:
    """What the sanitized tier knew at the end of ``run_date``'s extract."""
    return sanitized.filter(F.col("_extract_date") <= F.lit(run_date))


def latest_versions(df: DataFrame, key: Sequence[str]) -> DataFrame:
    """The latest delivered version of each key (latest extract, then ingest, then line)."""
    w = Window.partitionBy(*key).orderBy(*[F.col(c).desc() for c in VERSION_ORDER])
    return df.withColumn("__rn", F.row_number().over(w)).filter("__rn = 1").drop("__rn")


def surrogate_key(*cols: Column | str) -> Column:
    """A deterministic bigint key: the same version always gets the same key on every rebuild."""
    return F.xxhash64(*[F.col(c) if isinstance(c, str) else c for c in cols])


def date_key(col: Column) -> Column:
    return F.date_format(col, "yyyyMMdd").cast("int")


def unknown_member(spark: SparkSession, schema: T.StructType, **values: object) -> DataFrame:
    """The "unknown" row facts point at when their dimension row is missing (Kimball's -1)."""
    row: dict[str, object] = {f.name: None for f in schema.fields}
    row.update(values)
    if "valid_from" in row:
        row["valid_from"] = datetime(1900, 1, 1)
    return local_frame(spark, [tuple(row[f.name] for f in schema.fields)], schema)


def scd2(
    versions: DataFrame,
    key: str,
    change_ts: str,
    tracked: Sequence[str],
    sk_name: str,
) -> DataFrame:
    """Type-2 history from dated versions of a record.

    A new row starts whenever a tracked attribute changes (re-sends that change nothing
    else are collapsed); ``valid_to`` is the next row's ``valid_from`` (NULL = current).
    Columns not in ``tracked`` are type 1: every row shows the latest value.
    """
    ordered = Window.partitionBy(key).orderBy(change_ts)
    # Type-1 values are taken before re-sends are collapsed: the latest delivery may change
    # nothing but a type-1 attribute, and it still carries the latest value.
    type1 = [c for c in versions.columns if c not in (*tracked, key, change_ts)]
    whole = Window.partitionBy(key).orderBy(change_ts).rowsBetween(Window.unboundedPreceding, Window.unboundedFollowing)
    df = versions
    for c in type1:
        df = df.withColumn(c, F.last(c).over(whole))
    fingerprint = F.sha2(F.to_json(F.struct(*[F.col(c) for c in tracked])), 256)
    df = df.withColumn("__fp", fingerprint).withColumn("__prev_fp", F.lag("__fp").over(ordered))
    df = df.filter(F.col("__prev_fp").isNull() | (F.col("__fp") != F.col("__prev_fp")))
    return (
        df.withColumn("valid_from", F.col(change_ts))
        .withColumn("valid_to", F.lead(change_ts).over(ordered))
        .withColumn("is_current", F.col("valid_to").isNull())
        .withColumn("version", F.row_number().over(ordered))
        .withColumn(sk_name, surrogate_key(key, "valid_from"))
        .drop("__fp", "__prev_fp")
    )


def lookup_scd(
    fact: DataFrame,
    dim: DataFrame,
    fact_key: str,
    dim_key: str,
    event_ts: str,
    sk_name: str,
) -> DataFrame:
    """Add ``sk_name``: the dimension row valid at the event time, else the unknown member."""
    d = dim.select(
        F.col(dim_key).alias("__dk"),
        F.col("valid_from").alias("__vf"),
        F.col("valid_to").alias("__vt"),
        F.col(sk_name).alias("__sk"),
    )
    cond = (
        (fact[fact_key] == d["__dk"])
        & (fact[event_ts] >= d["__vf"])
        & (d["__vt"].isNull() | (fact[event_ts] < d["__vt"]))
    )
    joined = fact.join(d, on=cond, how="left")
    return joined.withColumn(sk_name, F.coalesce(F.col("__sk"), F.lit(UNKNOWN_KEY).cast("bigint"))).drop(
        "__dk", "__vf", "__vt", "__sk"
    )


def lookup_key(fact: DataFrame, dim: DataFrame, fact_col: str, dim_col: str, key_name: str) -> DataFrame:
    """Add ``key_name`` from a type-1 dimension by natural key, else the unknown member."""
    d = dim.select(F.col(dim_col).alias("__nk"), F.col(key_name).alias("__key"))
    joined = fact.join(d, on=fact[fact_col] == d["__nk"], how="left")
    return joined.withColumn(key_name, F.coalesce(F.col("__key"), F.lit(UNKNOWN_KEY).cast("bigint"))).drop(
        "__nk", "__key"
    )


def affected_dates(fact: DataFrame, partition: str, run_dates: Sequence[date]) -> list[date]:
    """Partitions a run must rewrite: those holding rows whose inputs arrived in the run dates'
    extracts (a late arrival re-opens its date), plus the run dates themselves.

    Building a range of run dates in one pass rewrites the same partitions, with the same
    latest versions, as building them one by one in order.
    """
    return partition_census(fact, partition, run_dates)[0]


def partition_census(
    fact: DataFrame, partition: str, run_dates: Sequence[date]
) -> tuple[list[date], dict[date | None, int]]:
    """:func:`affected_dates`, and the fact's rows per partition value, in one Spark job."""
    arrived = F.col("source_extract_date").isin(*run_dates).cast("int")
    rows = fact.groupBy(partition).agg(F.count(F.lit(1)).alias("n"), F.max(arrived).alias("arrived")).collect()
    last = max(run_dates)
    touched = {r[0] for r in rows if r["arrived"] and r[0] is not None and r[0] <= last}
    return sorted(touched | set(run_dates)), {r[0]: int(r["n"]) for r in rows}


def stale_dates(
    fact: DataFrame,
    published: DataFrame,
    keys: Sequence[str],
    partition: str,
    last: date,
    foreign_keys: Sequence[str] = (),
) -> list[date]:
    """Published partitions (up to ``last``) whose rows the build would now write differently.

    Two things make a partition stale outside the run dates' own extracts:

    - a row moved: a re-delivery placed its key in another partition (a line whose order
      arrives later moves from its extract date to the order's date, a pending shipment
      to its ship date). Rewriting the partition it left keeps the key unique.
    - a late-arriving member: a published row points at the unknown member (-1) in one of
      ``foreign_keys`` and the build now resolves it (the customer or product arrived in a
      later extract). Rewriting its partition corrects the key.
    """
    unknown = F.lit(False)
    for fk in foreign_keys:
        unknown = unknown | (F.col(f"__old_{fk}") == UNKNOWN_KEY) & (F.col(fk) != UNKNOWN_KEY)
    old = published.select(
        *keys, F.col(partition).alias("__old"), *[F.col(fk).alias(f"__old_{fk}") for fk in foreign_keys]
    )
    stale = (
        fact.select(*keys, partition, *foreign_keys)
        .join(old, on=list(keys), how="inner")
        .filter((~F.col(partition).eqNullSafe(F.col("__old")) | unknown) & (F.col("__old") <= F.lit(last)))
    )
    return sorted(r[0] for r in stale.select("__old").distinct().collect())
