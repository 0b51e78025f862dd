"""Building blocks of the enhanced tier: versions, surrogate keys, SCD2, late members.

Everything here is a pure DataFrame -> DataFrame function; the model step reads the
sanitized tier and writes the results through the storage layer.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
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
    return partitions_to_write(fact, (), partition, run_dates).dates


Digest = tuple[int, int]  # a partition's rows, and the sum of their key digests (partitions_to_write)


@dataclass(frozen=True)
class PartitionPlan:
    """What a run writes of a partitioned fact (:func:`partitions_to_write`)."""

    dates: list[date]  # the partitions to replace
    counts: dict[date | None, int]  # the build's rows per partition value
    # Each partition's digest once ``dates`` hold the build's rows: what the table then holds
    # (no entry: no rows).
    held: dict[date, Digest]


def partitions_to_write(
    fact: DataFrame,
    keys: Sequence[str],
    partition: str,
    run_dates: Sequence[date],
    foreign_keys: Sequence[str] = (),
    *,
    published: DataFrame | None = None,
    held: Mapping[date, Digest] | None = None,
) -> PartitionPlan:
    """The partitions a run must rewrite, and the fact's rows per partition value, in one
    Spark job.

    - :func:`affected_dates`: those holding rows whose inputs arrived in the run dates'
      extracts, and the run dates themselves;
    - up to the last run date, every partition the table holds whose stored rows differ from
      the build's in the keys they hold or in which of them point at the unknown member (-1)
      of one of ``foreign_keys``. So a partition is stale when a re-delivery moved one of its
      keys to another partition (a line whose order arrives later moves from its extract date
      to the order's date, a pending shipment to its ship date), when a late-arriving member
      resolves one of its rows (the customer or product arrived in a later extract), or when
      the build no longer holds one of its keys there (a past date rebuilt: a key delivered
      later).

    Each side of a partition is compared as its digest: its row count and the
    order-independent sum of the xxhash64 of each row's keys and unknown flags. The stored
    side is ``held`` (the digests the table kept when it was last written, c360.publish)
    when given, else computed from ``published`` in the same job, grouped by partition: a
    partial aggregation per task, where joining the two sides by key shuffled both. With
    neither, only the first kind is found.
    """
    digest = row_digest(keys, foreign_keys)
    has_arrivals = "source_extract_date" in fact.columns
    arrived = F.col("source_extract_date").isin(*run_dates).cast("int") if has_arrivals else F.lit(0)
    sides = fact.select(F.col(partition).alias("p"), F.lit(1).alias("built"), arrived.alias("a"), digest.alias("h"))
    if held is None and published is not None:
        stored = published.select(F.col(partition), F.lit(0), F.lit(0), digest)
        sides = sides.unionByName(stored.toDF("p", "built", "a", "h"))
    is_built = F.col("built") == 1
    rows = (
        sides.groupBy("p")
        .agg(
            F.sum("built").alias("n"),
            F.count(F.when(~is_built, 1)).alias("n_held"),
            F.max("a").alias("arrived"),
            F.sum(F.when(is_built, F.col("h"))).alias("h"),
            F.sum(F.when(~is_built, F.col("h"))).alias("h_held"),
        )
        .collect()
    )
    dated = [r for r in rows if r["p"] is not None]
    built: dict[date, Digest] = {r["p"]: (int(r["n"]), int(r["h"] or 0)) for r in dated if r["n"]}
    if held is not None:
        stored_digests = dict(held)
    elif published is not None:
        stored_digests = {r["p"]: (int(r["n_held"]), int(r["h_held"] or 0)) for r in dated if r["n_held"]}
    else:
        stored_digests = built  # nothing to compare with: no partition is stale
    arrivals = {r["p"] for r in dated if r["arrived"]}
    return _plan(built, stored_digests, arrivals, run_dates, {r["p"]: int(r["n"]) for r in rows if r["n"]})


def partitions_to_write_groups(
    leaving: DataFrame,
    rebuilt: DataFrame,
    keys: Sequence[str],
    partition: str,
    run_dates: Sequence[date],
    foreign_keys: Sequence[str],
    held: Mapping[date, Digest],
) -> PartitionPlan | None:
    """:func:`partitions_to_write` of a fact whose build is its stored rows with some groups
    replaced (c360.publish, "Build records"): ``leaving`` the stored rows of those groups,
    ``rebuilt`` their new rows, ``held`` the digests of the stored partitions. Each partition's
    digest after the change is its held digest less ``leaving``'s plus ``rebuilt``'s, so only
    the changed groups' rows are read, in one Spark job. The stored rows must hold no arrival
    of the run dates (a build recorded before them). None: a row without a partition value.
    """
    digest = row_digest(keys, foreign_keys)
    arrived = F.col("source_extract_date").isin(*run_dates).cast("int")
    new = rebuilt.select(F.col(partition).alias("p"), F.lit(1).alias("sign"), arrived.alias("a"), digest.alias("h"))
    old = leaving.select(F.col(partition), F.lit(-1), F.lit(0), digest).toDF("p", "sign", "a", "h")
    rows = (
        new.unionByName(old)
        .groupBy("p")
        .agg(
            F.sum("sign").alias("dn"),
            F.sum(F.col("sign") * F.col("h")).alias("dh"),
            F.max("a").alias("arrived"),
        )
        .collect()
    )
    if any(r["p"] is None for r in rows):
        return None
    after = dict(held)
    for r in rows:
        n, h = after.get(r["p"], (0, 0))
        after[r["p"]] = (n + int(r["dn"]), h + int(r["dh"]))
    built = {p: d for p, d in after.items() if d[0]}
    counts: dict[date | None, int] = {p: n for p, (n, _) in built.items()}
    return _plan(built, dict(held), {r["p"] for r in rows if r["arrived"]}, run_dates, counts)


def row_digest(keys: Sequence[str], foreign_keys: Sequence[str]) -> Column:
    """A row's digest in a partition's (:func:`partitions_to_write`): the xxhash64 of its keys
    and of which foreign keys point at the unknown member, as a decimal to be summed."""
    unknown = [F.coalesce(F.col(fk) == F.lit(UNKNOWN_KEY), F.lit(False)) for fk in foreign_keys]
    hashed = [*[F.col(k) for k in keys], *unknown]
    return (F.xxhash64(*hashed) if hashed else F.lit(0)).cast("decimal(38,0)")


def _plan(
    built: Mapping[date, Digest],
    stored: Mapping[date, Digest],
    arrivals: set[date],
    run_dates: Sequence[date],
    counts: dict[date | None, int],
) -> PartitionPlan:
    """The partitions to write from each side's digests (:func:`partitions_to_write`)."""
    last = max(run_dates)
    chosen = set(run_dates) | {p for p in arrivals if p <= last}
    # A partition the table holds rows in: a partition it does not hold yet has nothing stale.
    chosen |= {p for p, held_p in stored.items() if p <= last and built.get(p) != held_p}
    after = {p: d for p, d in stored.items() if p not in chosen}
    after |= {p: d for p, d in built.items() if p in chosen}
    return PartitionPlan(sorted(chosen), counts, after)
