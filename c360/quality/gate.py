"""Write-audit-publish: validate the computed frame, then (and only then) commit it.

``publish`` caches the frame, runs the suite (GX + c360's Spark checks), computes the
table metrics and the anomaly verdict, and calls the caller's ``write`` only if no
error-level expectation failed (and no anomaly blocks, when the suite says anomalies
block). A refused batch commits nothing, so the published version stays; the full
result is recorded in the ops tables either way, and the caller gets a
:class:`QualityGateError` whose message names the failing expectations and their row
counts, which stops the steps after it.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta
from typing import TYPE_CHECKING, Any

import pyarrow as pa
from deltalake import QueryBuilder
from pyspark.sql import DataFrame
from pyspark.sql import types as T

from c360.quality import anomaly, gx_runner, ops
from c360.quality.gx_runner import GxCheck, get_runner
from c360.quality.results import Anomaly, ExpectationResult, QualityGateError, ValidationReport
from c360.quality.spark_checks import ROW_COUNT, aggregate_pass, foreign_key_results
from c360.quality.suite import AnomalyPolicy, Expectation, Kind, TableSuite

log = logging.getLogger(__name__)

if TYPE_CHECKING:
    from c360.storage.delta import CommitResult, DeltaStorage


@dataclass(frozen=True)
class PublishOutcome:
    report: ValidationReport
    commit: CommitResult


@dataclass
class GateLog:
    """The gate outcomes of one step run, recorded together by :meth:`flush`.

    A step publishing many tables hands this to :func:`publish`: results, metrics and
    anomalies are then written in one commit per ops table, and the Data Docs built once,
    instead of once per table (the fixed cost that made a 4-row table cost seconds). The
    step flushes in a ``finally``, so a refused gate is recorded before its error goes on.
    """

    storage: DeltaStorage
    pending: list[tuple[ValidationReport, int | None, bool]] = field(default_factory=list)

    def add(self, report: ValidationReport, table_version: int | None, published: bool) -> None:
        self.pending.append((report, table_version, published))

    def flush(self) -> None:
        if not self.pending:
            return
        pending, self.pending = self.pending, []
        built = any(report.data_docs is not None for report, _, _ in pending)
        if built:  # GX ran: build its pages
            get_runner(ops.data_docs_dir(self.storage.catalog.lake_root)).build_docs()
        ops.record_many(self.storage, pending)
        if built:  # the index that needs no network, with this run's attempts in it
            from c360.quality.report import write_offline_index

            try:
                write_offline_index(self.storage.catalog.lake_root)
            except Exception:  # noqa: BLE001 - a page of links never fails a run
                log.warning("the offline Data Docs index was not written", exc_info=True)


def validate(
    storage: DeltaStorage,
    df: DataFrame,
    suite: TableSuite,
    *,
    run_id: str,
    run_date: date,
    detector: anomaly.DetectorSettings | None = None,
    build_docs: bool = True,
) -> ValidationReport:
    """Run ``suite`` on ``df`` and judge its metrics against the history; records nothing.

    ``build_docs=False`` leaves the Data Docs page to be built later (``GateLog.flush``)."""
    return _validate(storage, df, suite, run_id=run_id, run_date=run_date, detector=detector, build_docs=build_docs)[0]


def _validate(
    storage: DeltaStorage,
    df: DataFrame,
    suite: TableSuite,
    *,
    run_id: str,
    run_date: date,
    detector: anomaly.DetectorSettings | None,
    build_docs: bool,
) -> tuple[ValidationReport, pa.Table | None]:
    """:func:`validate`, and the frame's rows as Arrow when it was small enough to collect."""
    cfg = detector or anomaly.DetectorSettings()
    validated_at = ops.now_utc()
    history = _history(storage, suite, run_date, cfg)
    # A small frame is collected once: the distinct keys, GX's pandas engine and the foreign
    # keys work on it.
    passed = aggregate_pass(df, suite, collect_max_rows=gx_runner.PANDAS_MAX_ROWS)
    collected = passed.collected

    checks, local = gx_checks(suite, df.schema, run_date, history.get(ROW_COUNT))
    local |= {r.expectation: r for r in passed.invariants}
    runner = get_runner(ops.data_docs_dir(storage.catalog.lake_root))
    gx_results, key, gx_suite_result = runner.validate(df, suite.table, checks, run_id, collected)
    by_name = {r.expectation: r for r in gx_results}
    fks = foreign_key_results(df, suite, passed.row_count, _reader(storage), collected, _key_reader(storage))
    by_name |= local | {r.expectation: r for r in fks}
    results = tuple(by_name[e.name] for e in suite.expectations)
    docs = runner.write_docs(
        key,
        gx_suite_result,
        [r for r in results if r.expectation not in {g.expectation for g in gx_results}],
        build=build_docs,
    )

    anomalies = _anomalies(storage, suite, run_date, passed.metrics, history, cfg)
    report = ValidationReport(
        table=suite.table,
        run_id=run_id,
        run_date=run_date,
        validated_at=validated_at,
        results=results,
        metrics=passed.metrics,
        anomalies=tuple(anomalies),
        anomalies_block=suite.anomaly_policy is AnomalyPolicy.ERROR,
        data_docs=docs,
    )
    return report, collected


def publish(
    storage: DeltaStorage,
    df: DataFrame,
    suite: TableSuite,
    *,
    write: Callable[[DataFrame, pa.Table | None], CommitResult],
    run_id: str,
    run_date: date,
    cache: bool = True,
    detector: anomaly.DetectorSettings | None = None,
    log: GateLog | None = None,
) -> PublishOutcome:
    """Validate ``df``; if the gate passes call ``write(df, rows)``; record everything.

    ``write`` receives the validated (cached) frame and must commit it in one
    transaction. When the frame was small enough for the gate to collect, it also receives
    those rows as Arrow (else None), to pass on as ``rows=`` so that the storage writes them
    with no Spark job: e.g. ``lambda d, rows: storage.replace_partitions(d, SUITE.table,
    partitions=[{"run_date": run_date}], rows=rows)``. Caching means the transform runs once for
    validation and write (``cache=False`` for frames too big to keep). With ``log`` the
    outcome is added to it (the caller flushes it); without, it is recorded at once.
    """
    record = log.add if log is not None else (lambda r, v, p: ops.record(storage, r, v, published=p))
    frame = df.persist() if cache else df
    try:
        report, collected = _validate(
            storage, frame, suite, run_id=run_id, run_date=run_date, detector=detector, build_docs=log is None
        )
        if not report.passed:
            record(report, _current_version(storage, suite.table), False)
            raise QualityGateError(report)
        try:
            commit = write(frame, collected)
        except BaseException:
            record(report, _current_version(storage, suite.table), False)
            raise
        record(report, commit.version, True)
        return PublishOutcome(report, commit)
    finally:
        if cache:
            frame.unpersist()


# ---------------------------------------------------------------- internals
def gx_checks(
    suite: TableSuite,
    schema: T.StructType,
    run_date: date,
    previous_row_counts: dict[date, float] | None,
) -> tuple[list[GxCheck], dict[str, ExpectationResult]]:
    """The suite's GX checks with run-dependent bounds filled in (and results decided early).

    Row-count-vs-previous becomes absolute bounds from the latest earlier run (or passes
    with "no previous run"); freshness becomes a lower bound on ``max(column)``.
    """
    checks: list[GxCheck] = []
    decided: dict[str, ExpectationResult] = {}
    for e in suite.expectations:
        if e.kind is Kind.GX:
            checks.append(GxCheck(e, str(e.gx_type), dict(e.gx_kwargs)))
        elif e.kind is Kind.ROW_COUNT_VS_PREVIOUS:
            check = _row_count_check(e, previous_row_counts)
            if check is None:
                decided[e.name] = ExpectationResult(
                    e.name, e.kind.value, e.severity, True, "no previous run", details=e.description
                )
            else:
                checks.append(check)
        elif e.kind is Kind.FRESHNESS:
            checks.append(_freshness_check(e, schema, run_date))
    return checks, decided


def _current_version(storage: DeltaStorage, table: str) -> int | None:
    return storage.catalog.version(table) if storage.exists(table) else None


def _reader(storage: DeltaStorage) -> Callable[[str], DataFrame | None]:
    def read(name: str) -> DataFrame | None:
        return storage.read(name) if storage.exists(name) else None

    return read


def _key_reader(storage: DeltaStorage) -> Callable[[str, Sequence[str]], pa.Table | None]:
    """The distinct values of a table's key columns at its latest version, read with delta-rs."""

    def read(name: str, columns: Sequence[str]) -> pa.Table | None:
        if not storage.exists(name):
            return None
        names = ", ".join('"' + c.replace('"', '""') + '"' for c in columns)
        query = QueryBuilder().register("t", storage.catalog.open(name)).execute(f"SELECT DISTINCT {names} FROM t")
        return pa.table(query.read_all())

    return read


def _history(
    storage: DeltaStorage, suite: TableSuite, run_date: date, cfg: anomaly.DetectorSettings
) -> dict[str, dict[date, float]]:
    """Published metrics before ``run_date`` within the detector's window, per metric (small)."""
    since = run_date - timedelta(days=cfg.lookback_days + cfg.trend_days)
    out: dict[str, dict[date, float]] = {}
    for row in ops.published_metrics(storage, suite.table, before=run_date, since=since):
        if row["value"] is not None:
            out.setdefault(row["metric"], {})[row["run_date"]] = float(row["value"])
    return out


def _row_count_check(e: Expectation, previous: dict[date, float] | None) -> GxCheck | None:
    if not previous:
        return None
    last = previous[max(previous)]
    lo, hi = e.ratio_bounds
    kwargs: dict[str, Any] = {
        "min_value": None if lo is None else math.ceil(last * lo),
        "max_value": None if hi is None else math.floor(last * hi),
    }
    return GxCheck(e, "expect_table_row_count_to_be_between", kwargs)


def _freshness_check(e: Expectation, schema: T.StructType, run_date: date) -> GxCheck:
    column = e.columns[0]
    end_of_day = datetime.combine(run_date + timedelta(days=1), time(), tzinfo=UTC)
    oldest = end_of_day - (e.max_age or timedelta())
    field_type = schema[column].dataType if column in schema.fieldNames() else None
    # Spark hands GX naive datetimes in the session time zone (UTC in c360)
    bound: date | datetime = oldest.date() if isinstance(field_type, T.DateType) else oldest.replace(tzinfo=None)
    return GxCheck(e, "expect_column_max_to_be_between", {"column": column, "min_value": bound})


def _anomalies(
    storage: DeltaStorage,
    suite: TableSuite,
    run_date: date,
    metrics: dict[str, float],
    history: dict[str, dict[date, float]],
    cfg: anomaly.DetectorSettings,
) -> list[Anomaly]:
    if suite.anomaly_policy is AnomalyPolicy.OFF:
        return []
    watched = suite.anomaly_metrics or tuple(metrics)
    found = []
    for metric in watched:
        if metric not in metrics:
            continue
        series = {**history.get(metric, {}), run_date: metrics[metric]}
        score = anomaly.score_day(series, run_date, cfg)
        if not score.flagged or score.expected is None or score.lower is None or score.upper is None:
            continue
        plot = anomaly.plot_scores(
            [anomaly.score_day(series, d, cfg) for d in sorted(series)],
            f"{suite.table} - {metric} - flagged {run_date.isoformat()} (robust z {score.z:+.1f})",
            ops.plots_dir(storage.catalog.lake_root) / suite.table / metric / f"{run_date.isoformat()}.png",
        )
        found.append(Anomaly(metric, score.value, score.expected, score.lower, score.upper, score.z or 0.0, plot))
    return found
