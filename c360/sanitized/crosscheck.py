"""Cross-table rules between sanitized orders and their lines, reported with exact counts.

A row rule sees one record; these need two tables. They do not quarantine anything (each
row is valid on its own, and which side is wrong cannot be known), so they are reported in
the quality results (``ops.quality.expectation_results``, table
``sanitized.sales.transactions``, severity warn) after every sanitize run. The profile's
money basis follows from them (docs/customer360.md): spend and margin are sums over lines,
and a completed order without lines is not a purchase.

- ``completed_order_without_lines``: completed orders with no line at all.
- ``header_total_vs_lines``: completed orders with lines whose ``subtotal - discount_amount``
  differs from the sum of their net lines (quantity x unit_price - discount_applied, the
  star's ``line_amount``) by more than 0.01 per line plus 0.01 (each figure is rounded to the
  cent once; tax is not part of either side).
- ``line_of_unknown_order``: lines whose order is in no delivered version of the orders.

Both tables are read at their latest delivered version per key, as the star reads them.

The counts are of the whole tier up to the run date: a query over the history of both
tables. It is sized as a step is (``c360.spark.codegen_for_rows``) by the rows it reads, not
by the day's raw rows that size the rest of a sanitize: a day of the 1M-order-line set reads
1.4M rows here, whose expressions pay for compiling. The counts are kept next to the orders'
Delta log (``_c360_crosscheck.json``) with a digest of the two tables' live files up to the
run date. Data files are immutable and uniquely named, so a run whose tables hold the same
files up to its date (a re-run that changed nothing) reuses them without a Spark job. A run
for a later date whose tables still hold the same files up to the recorded one (the next
day) counts only the orders its new rows can have changed, as they were and as they are, and
adds the difference to the recorded counts (:func:`changed_counts`): a day of the 1M-order-line
set no longer sorts the whole history of both tables. A re-sanitized or erased date, a
compaction, an earlier date or other code counts whole again.
"""

from __future__ import annotations

import hashlib
import inspect
import json
import sys
from dataclasses import dataclass
from datetime import date
from pathlib import Path
from typing import TYPE_CHECKING

from pyspark.sql import DataFrame
from pyspark.sql import functions as F

from c360.enhanced import common
from c360.enhanced.common import latest_versions
from c360.quality import ops
from c360.quality.results import ExpectationResult, ValidationReport
from c360.quality.suite import Severity
from c360.settings import Settings
from c360.spark import codegen_for_rows
from c360.storage import DeltaStorage

if TYPE_CHECKING:
    from c360.quality.gate import GateLog

ORDERS = "sanitized.sales.transactions"
LINES = "sanitized.sales.transaction_items"
CENT = 0.01
RULES = ("completed_order_without_lines", "header_total_vs_lines", "line_of_unknown_order")


CODEGEN_MIN_ROWS: int = Settings.model_fields["codegen_min_rows"].default
RECORD_FILE = "_c360_crosscheck.json"  # in the orders' table folder; "_" names are not data to Delta

Counts = dict[str, tuple[int, int]]  # rule -> (rows breaking it, rows it was checked on)


def cross_table_counts(orders: DataFrame, lines: DataFrame) -> Counts:
    """Per rule: (rows breaking it, rows it was checked on), in one Spark job."""
    tagged = (df.withColumn(AS_OF, F.lit(0)) for df in (orders, lines))
    return _counts_per_tag(*tagged).get(0, _no_counts())


def changed_counts(orders: DataFrame, lines: DataFrame, since: date) -> Counts:
    """What the rows delivered after ``since`` changed in the counts: the counts of all of
    ``orders`` and ``lines`` minus those of their rows up to ``since`` (per rule and figure, so
    added to the counts up to ``since`` they give the counts of all): one aggregation, after a
    small Spark job each to find the orders and the lines it counts.

    Every rule is a sum over orders (a transaction id with its latest order and the lines whose
    latest version names it), so only the orders such a row can have changed are counted, as
    they were up to ``since`` and as they are now: those of the orders delivered after it, and
    every order any version of a line delivered after it names (a line re-sent under another
    order leaves the first one). Each is counted with all its lines: every version of every
    line that names one of them in any version."""
    # The new rows' orders and lines are few: each set is computed once (a scan of the lines'
    # history each) and broadcast to the joins that read the history, which is then scanned once
    # more and never shuffled; each row read goes to the rows up to ``since``, to all rows, or to
    # both.
    later = F.col("_extract_date") > F.lit(since)
    moved = F.broadcast(lines.filter(later).select("item_id").distinct())
    groups = (
        orders.filter(later)
        .select("transaction_id")
        .unionByName(lines.join(moved, "item_id", "left_semi").select("transaction_id"))
        .distinct()
        .localCheckpoint()
    )
    members = (
        lines.join(F.broadcast(groups), "transaction_id", "left_semi")
        .select("item_id")
        .unionByName(moved)
        .distinct()
        .localCheckpoint()
    )
    tag = F.explode(F.when(later, F.array(F.lit(1))).otherwise(F.array(F.lit(0), F.lit(1)))).alias(AS_OF)
    o = orders.join(F.broadcast(groups), "transaction_id", "left_semi").select("*", tag)
    li = lines.join(F.broadcast(members), "item_id", "left_semi").select("*", tag)
    per = _counts_per_tag(o, li, F.broadcast(groups))
    now, before = per.get(1, _no_counts()), per.get(0, _no_counts())
    return {rule: (now[rule][0] - before[rule][0], now[rule][1] - before[rule][1]) for rule in RULES}


def _no_counts() -> Counts:
    return dict.fromkeys(RULES, (0, 0))


AS_OF = "__as_of"  # which set of rows a row belongs to (_counts_per_tag)


def _counts_per_tag(orders: DataFrame, lines: DataFrame, groups: DataFrame | None = None) -> dict[int, Counts]:
    """The counts of each set of rows that ``AS_OF`` tags, each read as its own tables (the
    latest version of each key within the set); ``groups``: only the orders whose transaction id
    it holds, and the lines whose latest version names one of them."""
    o = latest_versions(orders, [AS_OF, "transaction_id"])
    latest_lines = latest_versions(lines, [AS_OF, "item_id"])
    if groups is not None:
        o = o.join(groups, "transaction_id", "left_semi")
        latest_lines = latest_lines.join(groups, "transaction_id", "left_semi")
    o = o.select(AS_OF, "transaction_id", "status", "subtotal", "discount_amount")
    net = F.col("quantity") * F.col("unit_price") - F.coalesce(F.col("discount_applied"), F.lit(0))
    per_order = latest_lines.groupBy(AS_OF, "transaction_id").agg(
        F.count(F.lit(1)).alias("_lines"), F.sum(net).alias("_net")
    )
    both = o.withColumn("_order", F.lit(True)).join(per_order, on=[AS_OF, "transaction_id"], how="full")
    is_order = F.col("_order").isNotNull()
    completed = is_order & (F.col("status") == "completed")
    has_lines = F.coalesce(F.col("_lines"), F.lit(0)) > 0
    header = F.col("subtotal") - F.coalesce(F.col("discount_amount"), F.lit(0))
    mismatch = F.abs(header - F.col("_net")) > CENT * (F.col("_lines") + 1)
    rows = (
        both.groupBy(AS_OF)
        .agg(
            F.count(F.when(completed & ~has_lines, 1)).alias("no_lines"),
            F.count(F.when(completed, 1)).alias("completed"),
            F.count(F.when(completed & has_lines & mismatch, 1)).alias("mismatch"),
            F.count(F.when(completed & has_lines, 1)).alias("completed_with_lines"),
            F.coalesce(F.sum(F.when(~is_order, F.col("_lines"))), F.lit(0)).alias("orphans"),
            F.coalesce(F.sum("_lines"), F.lit(0)).alias("lines"),
        )
        .collect()
    )
    return {
        int(row[AS_OF]): {
            RULES[0]: (int(row["no_lines"]), int(row["completed"])),
            RULES[1]: (int(row["mismatch"]), int(row["completed_with_lines"])),
            RULES[2]: (int(row["orphans"]), int(row["lines"])),
        }
        for row in rows
    }


def cross_table_results(orders: DataFrame, lines: DataFrame) -> tuple[ExpectationResult, ...]:
    """The counts as warn-level expectation results (the quality results' shape)."""
    return results_of(cross_table_counts(orders, lines))


def results_of(counts: Counts) -> tuple[ExpectationResult, ...]:
    """``counts`` (:func:`cross_table_counts`) as warn-level expectation results."""
    details = {
        RULES[0]: "completed orders without any line: not purchases in the profile",
        RULES[1]: "completed orders: |subtotal - discount - sum(net lines)| > 0.01 x (lines + 1); lines are the basis",
        RULES[2]: f"lines whose transaction_id is not in {ORDERS}",
    }
    out = []
    for name, (bad, checked) in counts.items():
        out.append(
            ExpectationResult(
                expectation=name,
                kind="cross_table",
                severity=Severity.WARN,
                success=bad == 0,
                observed_value=str(bad),
                unexpected_count=bad,
                element_count=checked,
                unexpected_percent=100.0 * bad / checked if checked else 0.0,
                columns=("transaction_id",),
                details=details[name],
            )
        )
    return tuple(out)


def cross_table_report(counts: Counts, run_id: str, run_date: date) -> ValidationReport:
    """The report the sanitize step records for the orders table."""
    return ValidationReport(
        table=ORDERS,
        run_id=run_id,
        run_date=run_date,
        validated_at=ops.now_utc(),
        results=(results := results_of(counts)),
        # The counts also go to the metrics history, so a rise shows up as a trend.
        metrics={r.expectation: float(r.unexpected_count or 0) for r in results},
    )


def record_cross_table_checks(
    storage: DeltaStorage,
    run_id: str,
    run_date: date,
    run_log: GateLog | None = None,
    codegen_min_rows: int = CODEGEN_MIN_ROWS,
) -> ValidationReport | None:
    """Check what the sanitized tier knows at the end of ``run_date`` and record it (in
    ``run_log``, when the run records its checks together); None if a table is missing."""
    if not (storage.exists(ORDERS) and storage.exists(LINES)):
        return None
    report = cross_table_report(_counts(storage, run_date, codegen_min_rows), run_id, run_date)
    if run_log is not None:
        run_log.add(report, None, False)
    else:
        ops.record(storage, report, table_version=None, published=False)
    return report


@dataclass(frozen=True)
class CountsRecord:
    """The counts of the tier up to ``as_of``, and what they were counted from."""

    as_of: date
    code: str
    inputs: dict[str, str]  # table -> digest of its live files up to as_of
    counts: Counts

    @classmethod
    def read(cls, path: Path) -> CountsRecord | None:
        """The record at ``path``, or None when there is none or it cannot be read (a whole count)."""
        try:
            raw = json.loads(path.read_text())
            counts = {rule: (int(raw["counts"][rule][0]), int(raw["counts"][rule][1])) for rule in RULES}
            return cls(date.fromisoformat(raw["as_of"]), str(raw["code"]), dict(raw["inputs"]), counts)
        except (OSError, ValueError, KeyError, TypeError, IndexError):
            return None

    def write(self, path: Path) -> None:
        from c360.publish import write_record

        write_record(path, {"as_of": self.as_of.isoformat(), "code": self.code, "inputs": self.inputs,
                            "counts": {rule: list(n) for rule, n in self.counts.items()}})  # fmt: skip


def code_digest() -> str:
    """A digest of what decides the counts besides the two tables: this module and the
    latest-version rule it shares with the star."""
    parts = [inspect.getsource(sys.modules[__name__]), inspect.getsource(common.latest_versions)]
    return hashlib.sha256("\0".join(parts).encode()).hexdigest()


def _counts(storage: DeltaStorage, run_date: date, codegen_min_rows: int) -> Counts:
    """The counts of the tier up to ``run_date``: those recorded, when the two tables hold the
    same files up to the date as when they were counted; those recorded plus what the rows
    delivered since changed (:func:`changed_counts`), when the tables still hold the same files
    up to the recorded date and the rows after it are fewer than those before; else counted
    whole. Recorded in each case (module docstring)."""
    catalog, path, code = storage.catalog, storage.path(ORDERS) / RECORD_FILE, code_digest()
    versions = {name: catalog.version(name) for name in (ORDERS, LINES)}
    inputs = {name: catalog.extract_state(name, v, run_date, run_date)[0] for name, v in versions.items()}
    record = CountsRecord.read(path)
    if record is not None and record.code == code and record.inputs == inputs:
        return record.counts
    day = run_date.isoformat()
    rows = sum(
        n
        for name in versions
        for d, n in catalog.row_counts(name, "_extract_date").items()
        if d is not None and d <= day
    )
    known = F.col("_extract_date") <= F.lit(run_date)
    orders, lines = (storage.read(name, version=versions[name]).filter(known) for name in (ORDERS, LINES))
    since = _counted_before(storage, record, code, versions, run_date, rows)
    with codegen_for_rows(storage.spark, rows, codegen_min_rows):
        if record is not None and since is not None:
            changed = changed_counts(orders, lines, since)
            counts = {rule: (n + changed[rule][0], of + changed[rule][1]) for rule, (n, of) in record.counts.items()}
        else:
            counts = cross_table_counts(orders, lines)
    CountsRecord(run_date, code, inputs, counts).write(path)
    return counts


def _counted_before(
    storage: DeltaStorage, record: CountsRecord | None, code: str, versions: dict[str, int], run_date: date, rows: int
) -> date | None:
    """The record's date, when its counts hold for the tables up to that date (its code is
    ``code``, :func:`code_digest`, and they hold the same files up to it) and fewer of the ``rows``
    they hold up to ``run_date`` came after it than up to it: counting only the orders those rows
    can have changed then costs less than a whole count."""
    if record is None or record.code != code or record.as_of >= run_date:
        return None
    later = 0
    for name, version in versions.items():
        digest, after = storage.catalog.extract_state(name, version, record.as_of, run_date)
        if after is None or digest != record.inputs.get(name):
            return None
        later += after
    return record.as_of if 2 * later < rows else None
