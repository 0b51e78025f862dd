"""The sanitize step: raw rows of some extract dates -> sanitized + quarantine, reconciled.

Incremental: a run for D reads only raw partition D (late arrivals delivered in D's
extract included) and replaces D's partitions, so re-running D changes nothing and a
backfill of a range in one call equals the same dates run one by one.
"""

from __future__ import annotations

import threading
from collections import Counter
from collections.abc import Callable, Collection, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import date
from typing import TYPE_CHECKING

import pyarrow as pa
from pyspark.sql import DataFrame, SparkSession
from pyspark.sql import functions as F

from c360.contracts import CONTRACTS, Contract
from c360.contracts.retail import RETAIL_CONTRACTS
from c360.inorder import Turn, run_in_order
from c360.ops import RECONCILIATION, RECONCILIATION_SCHEMA, RECONCILIATION_TABLE
from c360.pii import VAULT_TABLE, add_to_vault, vault_schema, vault_values
from c360.sanitized.crosscheck import CODEGEN_MIN_ROWS, LINES, ORDERS, record_cross_table_checks
from c360.sanitized.transform import (
    FATES,
    batch_keys,
    batch_tokens,
    batch_values,
    classify,
    fate_arrow,
    fate_counts,
    fate_rows,
    latest_of_each_key,
    vault_additions,
    vault_of_batch,
)
from c360.storage import DeltaStorage
from c360.storage.delta import COLLECT_MAX_ROWS
from c360.storage.schema import rows_to_arrow, unstatted_columns

if TYPE_CHECKING:
    from c360.quality.gate import GateLog


# A day's classification reads only the history rows of its own keys and the vault rows of its
# own tokens once the table (or the vault) holds more than NARROW_FACTOR times the day's rows
# and more than NARROW_MIN_ROWS: what grows with every day then stops being broadcast and
# shuffled whole each day. Below that the extra read of the day's rows costs what it saves
# (a mock_data day was slower narrowed; docs/benchmarks.md, "A day on mock_data").
NARROW_FACTOR = 4
NARROW_MIN_ROWS = 100_000


class ReconciliationError(RuntimeError):
    """Rows in and rows out of a sanitize run do not add up."""


@dataclass
class TableOutcome:
    table: str
    counts: dict[str, int] = field(default_factory=dict)  # per fate, plus rows_in

    @property
    def balanced(self) -> bool:
        return self.counts.get("rows_in", 0) == sum(self.counts.get(f, 0) for f in FATES)


@dataclass
class SanitizeReport:
    run_id: str
    dates: list[date]
    tables: list[TableOutcome] = field(default_factory=list)


@dataclass
class _Reads:
    """The sanitized tables as one run reads them: each version read once. A parent table is
    read by every child (customers by four) and as its own history, and every read lists its
    files; while its version stays, the same frame serves them all."""

    spark: SparkSession
    storage: DeltaStorage
    frames: dict[tuple[str, int], DataFrame] = field(default_factory=dict)

    lock: threading.Lock = field(default_factory=threading.Lock)  # sources sanitized at the same time

    def latest(self, name: str, schema: object) -> DataFrame:
        """The table's latest version, or no rows of ``schema`` when it was never written."""
        if not self.storage.exists(name):
            return self.spark.createDataFrame([], schema)  # type: ignore[call-overload]
        key = (name, self.storage.catalog.version(name))
        with self.lock:
            if key not in self.frames:
                self.frames[key] = self.storage.read(name, version=key[1])
            return self.frames[key]

    def read_version(self, name: str) -> int:
        """The latest version of ``name`` read so far in this run (the vault's: the one read at
        the start), else the table's latest."""
        with self.lock:
            read = [v for n, v in self.frames if n == name]
        return max(read) if read else self.storage.catalog.version(name)

    def holding(self, name: str, schema: object, values: Mapping[str, Collection[object]]) -> DataFrame:
        """The version :meth:`latest` reads, from only the files that may hold ``values``
        (``DeltaStorage.read``'s ``holding``; one source's, so not kept)."""
        if not self.storage.exists(name):
            return self.spark.createDataFrame([], schema)  # type: ignore[call-overload]
        return self.storage.read(name, version=self.storage.catalog.version(name), holding=values)


@dataclass
class _Sanitized:
    """One source's part of a run, handed over in its turn."""

    outcome: TableOutcome
    reconciliation: list[tuple]
    additions: DataFrame | pa.Table | None = None  # (token, value) rows for the vault; few: collected
    processed: bool = False  # rows were classified (not a source with nothing new)


def sanitize(
    spark: SparkSession,
    storage: DeltaStorage,
    dates: Sequence[date],
    key: bytes,
    run_id: str,
    contracts: Sequence[Contract] = RETAIL_CONTRACTS,
    run_log: GateLog | None = None,
    workers: int = 1,
    codegen_min_rows: int = CODEGEN_MIN_ROWS,
) -> SanitizeReport:
    """Sanitize what raw received for ``dates``; parents before children.

    ``workers``: sources sanitized at the same time (c360.inorder): a source starts once the
    parents it checks its foreign keys against are written, and the sources commit one after
    the other, parents before children, those with the longest chain of children first
    (c360.inorder.critical_first). The report lists them in ``contracts`` order.
    ``run_log``: the run's gate log, where the cross-table checks are added for the run to
    record; without one they are recorded at once. ``codegen_min_rows``: the cross-table
    checks read the orders' and lines' history, and are sized by it (c360.sanitized.crosscheck)."""
    dates = sorted(set(dates))
    reads = _Reads(spark, storage)
    order = _by_depth(contracts)
    vault = reads.latest(VAULT_TABLE, vault_schema()).cache()
    vault_rows = _rows_held(storage, VAULT_TABLE)
    try:
        outcomes = run_in_order(
            order,
            lambda c, turn: _sanitize_contract(reads, vault, vault_rows, c, dates, key, run_id, turn),
            key=lambda c: c.name,
            needs=lambda c: [fk.ref for fk in c.foreign_keys],
            workers=workers,
            thread_name="c360-sanitize",
        )
    finally:
        vault.unpersist()
    by_name = dict(zip([c.name for c in order], outcomes, strict=True))
    done = [d for c in contracts if (d := by_name[c.name]) is not None]  # reported in contract order
    report = SanitizeReport(run_id, dates, [d.outcome for d in done])
    # What is left writes three tables that do not read each other: the vault's additions,
    # the reconciliation and the orders' and lines' cross-table checks. They run at once: a
    # year's took 6.8, 5.6 and 6.8 s one after the other, the reconciliation in the driver's
    # pyarrow while the others' Spark jobs wait for none of it. The checks size the session's
    # expressions for their own rows while they run (c360.spark.codegen_for_rows), so a vault
    # anti-join beside them may run with their choice: the same rows either way.
    tail: list[Callable[[], object]] = []
    additions = [d.additions for d in done if d.additions is not None]
    if additions:
        tail.append(lambda: add_to_vault(storage, *additions))
    reconciliation = [row for d in done for row in d.reconciliation]
    if reconciliation:
        tail.append(lambda: _write_reconciliation(spark, storage, reconciliation))
    if {d.outcome.table for d in done if d.processed} & {ORDERS, LINES}:
        # Orders and lines are valid row by row; whether they agree is recorded, never blocking.
        # Only when this run sanitized either of them: a quiet sales source costs nothing.
        tail.append(lambda: record_cross_table_checks(storage, run_id, dates[-1], run_log, codegen_min_rows))
    if tail:
        with ThreadPoolExecutor(len(tail), thread_name_prefix="c360-sanitize-tail") as pool:
            for done_write in [pool.submit(write) for write in tail]:
                done_write.result()  # the pool waits for every write before an error leaves it
    return report


def _write_reconciliation(spark: SparkSession, storage: DeltaStorage, rows: list[tuple]) -> None:
    RECONCILIATION.ensure(storage)
    storage.replace_partitions(
        spark.createDataFrame(rows, RECONCILIATION_SCHEMA),
        RECONCILIATION_TABLE,
        partitions=[{"table": r[-2], "extract_date": r[-1]} for r in rows],
        rows=rows_to_arrow(rows, RECONCILIATION_SCHEMA),
    )


def _by_depth(contracts: Sequence[Contract]) -> list[Contract]:
    """Sources without parents first, then their children, and so on (stable): still parents
    before children, and the sources that can start at once come first."""
    names = {c.name for c in contracts}
    depth: dict[str, int] = {}
    for c in contracts:  # parents come before children
        depth[c.name] = 1 + max((depth[fk.ref] for fk in c.foreign_keys if fk.ref in names), default=-1)
    return sorted(contracts, key=lambda c: depth[c.name])


def _sanitize_contract(
    reads: _Reads,
    vault: DataFrame,
    vault_rows: int,  # read from its Delta log
    contract: Contract,
    dates: list[date],
    key: bytes,
    run_id: str,
    turn: Turn,
) -> _Sanitized | None:
    """Classify one source's raw rows of ``dates``, then (in its turn) replace its sanitized
    and quarantine partitions of those dates."""
    storage = reads.storage
    if not storage.exists(contract.raw_table):
        return None  # never delivered: nothing to reconcile
    per_partition = storage.catalog.row_counts(contract.raw_table, "_extract_date")
    rows_in = {d: per_partition.get(d.isoformat(), 0) for d in dates}
    if _nothing_new(storage, contract, dates, rows_in):
        # No rows arrived and none are held for these dates: its log said so, and that is
        # all this source costs (no Spark job, no commit); it still reconciles 0 = 0.
        return _Sanitized(*_reconcile(contract, run_id, dates, rows_in, []))
    partitions = [{"_extract_date": d} for d in dates]
    raw = storage.read(contract.raw_table, partitions={"_extract_date": dates})
    san_schema = contract.sanitized_schema()
    # A day against a long history: of the history, its parents and the vault, the day needs
    # what its own keys, foreign keys and tokens select. Finding those reads the day's raw rows
    # once more, which pays only when what is left out outweighs it (the same rows either way).
    batch = sum(rows_in.values())
    large = max(NARROW_FACTOR * batch, NARROW_MIN_ROWS)
    narrow_history = _rows_before(storage, contract.sanitized_table, dates[0]) > large
    previous, parents = _history_and_parents(reads, contract, raw, dates, narrow_history, large)
    lookup = vault
    if contract.pii_columns and vault_rows > max(NARROW_FACTOR * batch * len(contract.pii_columns), NARROW_MIN_ROWS):
        lookup = _vault_of_batch(reads, raw, contract, vault, batch)
    # Materialised once and cut from its lineage: the classify plan (joins, windows, ~100
    # rule expressions) is then analysed and optimised once, not again by every write. A day's
    # few rows are collected instead: their fates are counted and their sanitized and
    # quarantined rows cut from the Arrow in the driver, three Spark jobs fewer per source.
    local: pa.Table | None = None
    try:
        # A whole large vault: one broadcast per PII column (unseal; a history's sanitize).
        by_column = lookup is vault and vault_rows > NARROW_MIN_ROWS
        classified = classify(
            raw, contract, vault=lookup, parents=parents, previous=previous, key=key, vault_by_column=by_column
        )
        if batch <= COLLECT_MAX_ROWS:
            local = classified.toArrow()
            classified = reads.spark.createDataFrame(local, classified.schema)
        else:
            classified = classified.localCheckpoint()
    finally:
        if lookup is not vault:
            lookup.unpersist()
    try:
        if local is not None:
            fates: list = fate_counts(local)
        else:
            fates = classified.groupBy("_extract_date", "_fate").count().collect()
        outcome, reconciliation = _reconcile(contract, run_id, dates, rows_in, fates)
        turn()
        storage.ensure_table(contract.sanitized_table, san_schema, ["_extract_date"], description=contract.description)
        storage.ensure_table(
            contract.quarantine_table,
            contract.quarantine_schema(),
            ["_extract_date"],
            description=f"rows of {contract.name} that failed a rule, with the reasons",
        )
        for table, fate in ((contract.sanitized_table, "sanitized"), (contract.quarantine_table, "quarantined")):
            rows = fate_rows(classified, contract, fate)
            # A re-run's rows are usually what the partitions hold: comparing the frame
            # (in memory) with them costs less than writing files to find that out, and
            # with the rows counted above a new day's partitions need no comparison at all.
            count = sum(r["count"] for r in fates if r["_fate"] == fate)
            if storage.holds(rows, table, partitions, row_count=count):
                continue
            # A day's rows are collected and written from the driver, with no Spark write
            # job; more are written by Spark, one file per extract date, not one per date
            # and shuffle partition (a year's backfill would otherwise leave thousands of
            # small files).
            collected = None
            if local is not None:
                collected = fate_arrow(local, contract, fate)
            elif count <= COLLECT_MAX_ROWS:
                collected = rows.toArrow()
            storage.replace_partitions(
                rows.repartition("_extract_date"), table, partitions, unchanged_check=False, rows=collected
            )
        additions: DataFrame | pa.Table | None = None
        if contract.pii_columns:
            # At most one vault row per sanitized row and PII column: a day's few are collected.
            kept = sum(r["count"] for r in fates if r["_fate"] == "sanitized")
            additions = vault_additions(classified, contract, key)
            small = kept * len(contract.pii_columns) <= COLLECT_MAX_ROWS
            additions = additions.toArrow() if small else additions.localCheckpoint()
    finally:
        classified.unpersist()
    _check_written(storage, contract, dates, fates)
    return _Sanitized(outcome, reconciliation, additions, processed=True)


def _vault_of_batch(reads: _Reads, raw: DataFrame, contract: Contract, vault: DataFrame, batch: int) -> DataFrame:
    """The vault rows the batch's tokens need (all that unsealing reads of a large vault).

    A batch of at most ``COLLECT_MAX_ROWS`` values (a day's) collects its tokens, and their
    rows are read from the vault's files on the driver (``vault_values``), at the version the
    run's ``vault`` frame reads. Through Spark, the first such lookup of a run loaded the run's
    whole cached vault: 6.3-7.5 s of a 1M-order-line day's customers, whose four children wait
    for them (docs/benchmarks.md, "A day's vault lookup on the driver"). A larger batch joins
    the vault in Spark."""
    if batch * len(contract.pii_columns) > COLLECT_MAX_ROWS:
        return vault_of_batch(raw, contract, vault).localCheckpoint()
    tokens = batch_tokens(raw, contract).toArrow().column("token")
    rows = vault_values(reads.storage, tokens, contract.name, reads.read_version(VAULT_TABLE))
    return reads.spark.createDataFrame(rows)


def _history_and_parents(
    reads: _Reads, contract: Contract, raw: DataFrame, dates: list[date], narrow_history: bool, large: int
) -> tuple[DataFrame, dict[str, DataFrame]]:
    """The sanitized rows of extracts before ``dates`` that classify needs (only those of the
    batch's keys when ``narrow_history``), and each parent table by name.

    Of a table larger than ``large`` rows, only the files whose statistics may hold the
    batch's values (its key, or the foreign key a parent is joined on) are read: keys that
    grow with the days, as order and event ids do, leave most of a year's files out. The
    values are collected in one job. A subject id has no statistics
    (c360.storage.schema.NO_STATS_TAGS), so a table keyed by one is read whole."""
    storage = reads.storage
    # A row of a key has each of its columns: a file whose bounds rule out one holds none.
    keys = [k for k in contract.key if _bounded(contract, k)] if narrow_history else []
    refs = Counter(fk.ref for fk in contract.foreign_keys)
    skipping = [
        fk
        for fk in contract.foreign_keys
        if refs[fk.ref] == 1  # a parent joined on two columns is read whole for both
        and _bounded(CONTRACTS[fk.ref], fk.ref_column)
        and _rows_held(storage, CONTRACTS[fk.ref].sanitized_table) > large
    ]
    wanted = list(dict.fromkeys([*keys, *(fk.column for fk in skipping)]))
    values = batch_values(raw, contract, wanted).toArrow() if wanted else pa.table({})
    schema = contract.sanitized_schema()
    if keys:
        history = reads.holding(contract.sanitized_table, schema, {k: values.column(k).to_pylist() for k in keys})
    else:
        history = reads.latest(contract.sanitized_table, schema)
    previous = history.filter(F.col("_extract_date") < dates[0])
    if narrow_history:
        previous = previous.join(batch_keys(raw, contract), list(contract.key), how="left_semi")
        previous = latest_of_each_key(previous, contract)
    parents = {}
    for fk in contract.foreign_keys:
        parent = CONTRACTS[fk.ref]
        if fk in skipping:
            held = {fk.ref_column: values.column(fk.column).to_pylist()}
            parents[fk.ref] = reads.holding(parent.sanitized_table, parent.sanitized_schema(), held)
        else:
            parents[fk.ref] = reads.latest(parent.sanitized_table, parent.sanitized_schema())
    return previous, parents


def _bounded(contract: Contract, column: str) -> bool:
    """Whether the sanitized table's files get statistics of ``column`` (c360.storage.stats)."""
    return column not in unstatted_columns(contract.sanitized_schema())


def _rows_held(storage: DeltaStorage, table: str) -> int:
    """Rows the table holds, from its Delta log (0 if it was never written)."""
    return sum(storage.catalog.row_counts(table).values()) if storage.exists(table) else 0


def _rows_before(storage: DeltaStorage, table: str, day: date) -> int:
    """Rows the table holds for extract dates before ``day``, from its Delta log."""
    if not storage.exists(table):
        return 0
    held = storage.catalog.row_counts(table, "_extract_date")
    return sum(n for d, n in held.items() if d is not None and d < day.isoformat())


def _nothing_new(storage: DeltaStorage, contract: Contract, dates: list[date], rows_in: dict[date, int]) -> bool:
    """Raw received no rows for ``dates`` and the sanitized and quarantine tables hold none for
    them (both read from the Delta logs), so sanitizing would replace nothing with nothing."""
    if any(rows_in.values()):
        return False
    for table in (contract.sanitized_table, contract.quarantine_table):
        if not storage.exists(table):
            return False
        held = storage.catalog.row_counts(table, "_extract_date")
        if any(held.get(d.isoformat(), 0) for d in dates):
            return False
    return True


def _check_written(storage: DeltaStorage, contract: Contract, dates: list[date], fates: list) -> None:
    """The tables now hold, per date, exactly the rows classified sanitized / quarantined.

    Read from the Delta log, not from the write's result: a re-run whose rows did not
    change commits nothing, and the rows already there must still add up.
    """
    for table, fate in ((contract.sanitized_table, "sanitized"), (contract.quarantine_table, "quarantined")):
        held = storage.catalog.row_counts(table, "_extract_date")
        for d in dates:
            expected = sum(r["count"] for r in fates if r["_extract_date"] == d and r["_fate"] == fate)
            if held.get(d.isoformat(), 0) != expected:
                raise ReconciliationError(
                    f"{table}: holds {held.get(d.isoformat(), 0)} rows for {d}, classified {expected} {fate}"
                )


def _reconcile(
    contract: Contract,
    run_id: str,
    dates: list[date],
    rows_in: dict[date, int],
    fates: list,
) -> tuple[TableOutcome, list[tuple]]:
    per_date: dict[date, dict[str, int]] = {d: {"rows_in": rows_in.get(d, 0), **dict.fromkeys(FATES, 0)} for d in dates}
    for r in fates:
        per_date[r["_extract_date"]][r["_fate"]] += r["count"]
    rows = []
    for d, c in per_date.items():
        balanced = c["rows_in"] == sum(c[f] for f in FATES)
        rows.append(
            (run_id, contract.raw_table, c["rows_in"], *(c[f] for f in FATES), balanced, contract.sanitized_table, d)
        )
    total = TableOutcome(
        contract.sanitized_table, {k: sum(c[k] for c in per_date.values()) for k in ("rows_in", *FATES)}
    )
    unbalanced = [d for d, c in per_date.items() if c["rows_in"] != sum(c[f] for f in FATES)]
    if unbalanced:
        raise ReconciliationError(
            f"{contract.sanitized_table}: rows in != rows out for {', '.join(map(str, unbalanced))}: {total.counts}"
        )
    return total, rows
