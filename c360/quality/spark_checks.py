"""Checks GX cannot express on a Spark DataFrame, computed with our own Spark aggregates.

Row-level invariants and the table metrics share one aggregate pass over the frame, and
the distinct keys are counted in a job of their own (see :func:`aggregate_pass`); the
foreign keys' anti-joins are counted in one more. Only counts come back to the driver.
A small frame is collected as Arrow once, after the pass: its distinct keys are counted
from that, and its foreign keys against the referenced tables' keys read with delta-rs.
Neither costs a Spark job then.
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import pyarrow as pa
import pyarrow.compute as pc
from pyspark.errors import AnalysisException
from pyspark.sql import Column, DataFrame
from pyspark.sql import functions as F

from c360.quality.results import ExpectationResult
from c360.quality.suite import Expectation, Kind, TableSuite

ROW_COUNT = "row_count"


def metric_names(suite: TableSuite, columns: Sequence[str]) -> list[str]:
    """The metrics recorded for this suite on a frame with ``columns``, in a stable order."""
    null_cols = columns if suite.null_rate_columns is None else suite.null_rate_columns
    names = [ROW_COUNT]
    names += [f"null_rate.{c}" for c in null_cols]
    if suite.key:
        names.append(f"distinct.{','.join(suite.key)}")
    names += [f"sum.{m}" for m in suite.measures]
    return names


@dataclass(frozen=True)
class PassOutcome:
    """What the single aggregate pass produced."""

    row_count: int
    metrics: dict[str, float]
    invariants: list[ExpectationResult]
    collected: pa.Table | None = None  # the frame as Arrow, when it had at most collect_max_rows


def aggregate_pass(df: DataFrame, suite: TableSuite, collect_max_rows: int = -1) -> PassOutcome:
    """Row count, metrics and every invariant's failing-row count in one Spark job, and the
    distinct keys in a second one.

    A frame of at most ``collect_max_rows`` rows is then collected as Arrow (returned for the
    gate's other checks) and its distinct keys are counted from that collect, with no
    Spark job of their own: Arrow's grouping equals Spark's for every key type but floats
    (Spark equates -0.0 with 0.0 and groups NaNs), which stay with Spark.

    Two jobs cost less than one here: with a distinct count among its aggregates, Spark
    groups the whole frame by the key and carries every other aggregate's buffer per key
    (how it plans one distinct aggregate), where alone the other aggregates are one partial
    pass per task and the distinct count shuffles the key columns only. On 430,000 fact rows
    and on a 50-column mart the gate's pass went from 2.3 to 1.3 s (docs/benchmarks.md)."""
    exprs: list[Column] = [F.count(F.lit(1)).alias("m0")]
    names = metric_names(suite, df.columns)
    for i, name in enumerate(names[1:], start=1):
        kind, _, target = name.partition(".")
        if kind == "null_rate":
            exprs.append(F.sum(F.col(target).isNull().cast("long")).alias(f"m{i}"))
        elif kind != "distinct":  # counted below
            exprs.append(F.sum(F.col(target)).cast("double").alias(f"m{i}"))
    invalid: dict[str, str] = {}
    invariants = [e for e in suite.expectations if e.kind is Kind.INVARIANT]
    for j, inv in enumerate(invariants):
        try:
            # analysis only (no job): a typo becomes a failed result, not a crashed run
            _ = df.select(F.expr(str(inv.predicate))).schema
        except AnalysisException as exc:
            invalid[inv.name] = str(exc).splitlines()[0]
            continue
        # false or null both fail: an invariant that cannot be evaluated is not satisfied
        exprs.append(F.sum(F.when(F.coalesce(F.expr(str(inv.predicate)), F.lit(False)), 0).otherwise(1)).alias(f"i{j}"))
    row = df.agg(*exprs).collect()[0]
    n = int(row["m0"])
    # After the pass above, which has read the frame (and filled its cache, when it has one).
    collected = df.toArrow() if n <= collect_max_rows else None
    distinct = _distinct_keys(df, suite.key, collected)
    metrics: dict[str, float] = {ROW_COUNT: float(n)}
    for i, name in enumerate(names[1:], start=1):
        value = distinct if name.startswith("distinct.") else row[f"m{i}"]
        if name.startswith("null_rate."):
            metrics[name] = (value or 0) / n if n else 0.0
        else:
            metrics[name] = float(value or 0)
    results = []
    for j, inv in enumerate(invariants):
        if inv.name in invalid:
            results.append(_failed_to_evaluate(inv, f"invalid predicate {inv.predicate!r}: {invalid[inv.name]}"))
            continue
        bad = int(row[f"i{j}"] or 0)
        results.append(_row_result(inv, bad, n, _invariant_details(inv)))
    return PassOutcome(row_count=n, metrics=metrics, invariants=results, collected=collected)


def _distinct_keys(df: DataFrame, key: Sequence[str], collected: pa.Table | None) -> float:
    """COUNT(DISTINCT key...): a row with a NULL in any key column is left out."""
    if not key:
        return 0.0
    if collected is not None and not any(pa.types.is_floating(collected.schema.field(c).type) for c in key):
        keys = collected.select(list(key)).drop_null()
        return float(keys.group_by(list(key), use_threads=False).aggregate([]).num_rows)
    # Not dropna: it drops NaN too, which COUNT(DISTINCT) counts.
    complete = functools.reduce(lambda a, b: a & b, [F.col(c).isNotNull() for c in key])
    return float(df.select(*key).where(complete).distinct().count())


def foreign_key_results(
    df: DataFrame,
    suite: TableSuite,
    row_count: int,
    resolve: Callable[[str], DataFrame | None],
    collected: pa.Table | None = None,
    read_keys: Callable[[str, Sequence[str]], pa.Table | None] | None = None,
) -> list[ExpectationResult]:
    """Rows whose non-null key has no match in the referenced keys.

    One anti-join per foreign key, all counted in ONE Spark job (a union of the orphans,
    grouped by key): a fact with five foreign keys pays one job's fixed cost, not five.
    With ``collected`` (``df`` as Arrow) and ``read_keys`` (a table's distinct key values),
    they are counted with Arrow instead, when every reference is a table whose key columns
    have the frame's types (:func:`arrow_orphans`); otherwise by the Spark job."""
    checks = [e for e in suite.expectations if e.kind is Kind.FOREIGN_KEY]
    if collected is not None and read_keys is not None and checks:
        counted = arrow_orphans(collected, checks, read_keys)
        if counted is not None:
            return [
                _failed_to_evaluate(fk, f"reference table {fk.ref} does not exist")
                if n is None
                else _row_result(fk, n, row_count, fk.description)
                for fk, n in zip(checks, counted, strict=True)
            ]
    orphans: list[DataFrame] = []
    missing: dict[str, str] = {}
    for i, fk in enumerate(checks):
        ref = resolve(fk.ref) if isinstance(fk.ref, str) else fk.ref
        if ref is None:
            missing[fk.name] = f"reference table {fk.ref} does not exist"
            continue
        keys = ref.select(*[F.col(r).alias(c) for r, c in zip(fk.ref_columns, fk.columns, strict=True)]).distinct()
        present = df.select(*fk.columns).where(F.expr(" AND ".join(f"`{c}` IS NOT NULL" for c in fk.columns)))
        orphans.append(present.join(keys, on=list(fk.columns), how="left_anti").select(F.lit(i).alias("fk")))
    counts: dict[int, int] = {}
    if orphans:
        union = orphans[0]
        for more in orphans[1:]:
            union = union.unionAll(more)
        counts = {int(r["fk"]): int(r["n"]) for r in union.groupBy("fk").agg(F.count(F.lit(1)).alias("n")).collect()}
    return [
        _failed_to_evaluate(fk, missing[fk.name])
        if fk.name in missing
        else _row_result(fk, counts.get(i, 0), row_count, fk.description)
        for i, fk in enumerate(checks)
    ]


def arrow_orphans(
    collected: pa.Table, checks: Sequence[Expectation], read_keys: Callable[[str, Sequence[str]], pa.Table | None]
) -> list[int | None] | None:
    """Each foreign key's orphan rows in ``collected`` (None: its table does not exist), or
    None when Arrow cannot count them as Spark's join would: a reference that is a DataFrame,
    key columns whose types differ from the frame's (Spark would cast one side; Arrow
    compares only equal types, so those stay Spark's), or float key columns."""
    if any(not isinstance(fk.ref, str) for fk in checks):
        return None
    counts: list[int | None] = []
    for fk in checks:
        keys = read_keys(str(fk.ref), fk.ref_columns)
        if keys is None:
            counts.append(None)
            continue
        cols = list(fk.columns)
        present = collected.select(cols)
        mask = functools.reduce(pc.and_, [pc.is_valid(present[c]) for c in cols])
        present = _plain_strings(present.filter(mask))
        keys = _plain_strings(keys.rename_columns(cols))
        if present.schema.types != keys.schema.types or any(pa.types.is_floating(t) for t in keys.schema.types):
            return None  # float keys too: Spark's join equates NaN with NaN and -0.0 with 0.0
        try:
            counts.append(present.join(keys, keys=cols, join_type="left anti").num_rows)
        except (pa.ArrowNotImplementedError, pa.ArrowInvalid):  # a key type Arrow's join does not take
            return None
    return counts


def _plain_strings(table: pa.Table) -> pa.Table:
    """String columns as ``large_string`` whatever their Arrow layout (Spark collects large
    strings, DataFusion reads string views): the same values, comparable."""
    stringy = (pa.types.is_string, pa.types.is_large_string, pa.types.is_string_view)
    fields = [pa.field(f.name, pa.large_string()) if any(t(f.type) for t in stringy) else f for f in table.schema]
    return table.cast(pa.schema(fields))


def _invariant_details(e: Expectation) -> str:
    """What a row must satisfy, and why when the suite says: a failed ``NOT degenerate``
    alone reads as if the rows were not degenerate."""
    rule = f"rows must satisfy {e.predicate}"
    return rule if e.description in ("", str(e.predicate)) else f"{rule}: {e.description}"


def _row_result(e: Expectation, unexpected: int, rows: int, details: str) -> ExpectationResult:
    return ExpectationResult(
        expectation=e.name,
        kind=e.kind.value,
        severity=e.severity,
        success=unexpected == 0,
        observed_value=str(unexpected),
        unexpected_count=unexpected,
        element_count=rows,
        unexpected_percent=100.0 * unexpected / rows if rows else 0.0,
        columns=e.columns,
        details=details,
    )


def _failed_to_evaluate(e: Expectation, reason: str) -> ExpectationResult:
    return ExpectationResult(
        expectation=e.name,
        kind=e.kind.value,
        severity=e.severity,
        success=False,
        columns=e.columns,
        details=reason,
    )
