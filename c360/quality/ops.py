"""The quality ops tables and where the gate's files live under the lake.

* ``ops.quality.expectation_results``: one row per expectation per validation attempt
  (appended: a blocked attempt and the fixed re-run are both part of the record).
* ``ops.quality.table_metrics``: one row per metric per table per run date, partitioned
  by (table_name, run_date, published) and written with replace-partitions, so re-running
  a date replaces that date's metrics and never duplicates them. A refused attempt only
  replaces the date's ``published=false`` partition: the metrics of what is actually
  published stay, and stay the baseline of later runs.
* ``ops.quality.anomalies``: the flagged metrics of every attempt (appended, like results).

Several tables' gates write these tables at the same time; a commit that loses a race
(``CommitConflictError``: nothing was committed) is retried, which is safe because
every write here is an append of new rows or a replace of one table's own partitions.

All writes go through :class:`~c360.storage.DeltaStorage`; nothing here touches folders.

Paths of files under the lake (a Data Docs page, an anomaly plot) are stored relative to
the lake root and resolved against the current root when shown (:func:`resolve_in_lake`),
so a lake that is copied or moved keeps its links.
"""

from __future__ import annotations

import random
import time
from collections.abc import Callable, Sequence
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

import pyarrow as pa
from deltalake import QueryBuilder
from pyspark.sql import types as T

from c360.quality.results import ValidationReport
from c360.registry import PLATFORM, Table, column
from c360.storage.delta import CommitConflictError, DeltaStorage
from c360.storage.schema import rows_to_arrow

RESULTS_TABLE = "ops.quality.expectation_results"
METRICS_TABLE = "ops.quality.table_metrics"
ANOMALIES_TABLE = "ops.quality.anomalies"


def data_docs_dir(lake_root: Path) -> Path:
    return Path(lake_root) / "ops" / "data_docs"


def plots_dir(lake_root: Path) -> Path:
    return Path(lake_root) / "ops" / "anomaly_plots"


# The lake's own file folders: an absolute path stored by an older lake is re-rooted from here on.
_LAKE_FILE_FOLDERS = (("ops", "data_docs"), ("ops", "anomaly_plots"))


def lake_relative(lake_root: Path, path: Path | str | None) -> str | None:
    """How a file path is stored in an ops table: relative to the lake root (POSIX), so the
    lake stays valid when copied or moved. A file outside the lake keeps its absolute path."""
    if path is None:
        return None
    p, root = Path(path), Path(lake_root)
    for candidate, base in ((p, root), (p.resolve(), root.resolve())):
        if candidate.is_relative_to(base):
            return candidate.relative_to(base).as_posix()
    return str(p)


def resolve_in_lake(lake_root: Path, stored: str | None) -> Path | None:
    """Where a stored path is under the lake as it is now.

    A relative path is joined to the current root. An absolute one (lakes written before
    paths were stored relative) is re-rooted from its ``ops/data_docs`` or
    ``ops/anomaly_plots`` folder on, so a moved old lake points into itself, not at the
    folder it was built in; any other absolute path is shown as stored.
    """
    if stored is None or stored == "":
        return None
    p = Path(stored)
    if not p.is_absolute():
        return Path(lake_root) / p
    parts = p.parts
    for i in range(len(parts) - 2, -1, -1):
        if parts[i : i + 2] in _LAKE_FILE_FOLDERS:
            return Path(lake_root).joinpath(*parts[i:])
    return p


RESULTS_SCHEMA = T.StructType(
    [
        column("run_id", T.StringType(), "the run whose gate this was", False),
        column("run_date", T.DateType(), "the run's logical date (partition)", False),
        column("table_name", T.StringType(), "table validated", False),
        column("table_version", T.LongType(), "version committed by the write, when it was published"),
        column("published", T.BooleanType(), "whether the gate passed and the write was committed", False),
        column("status", T.StringType(), "the gate's verdict", False),
        column("expectation", T.StringType(), "expectation name (unique in its suite)", False),
        column("kind", T.StringType(), "kind of expectation", False),
        column("columns", T.StringType(), "columns it checks"),
        column("severity", T.StringType(), "error blocks publishing, warn only reports", False),
        column("success", T.BooleanType(), "whether it held", False),
        column("observed_value", T.StringType(), "the value observed"),
        column("unexpected_count", T.LongType(), "rows breaking it"),
        column("element_count", T.LongType(), "rows checked"),
        column("unexpected_percent", T.DoubleType(), "share of rows breaking it"),
        column("details", T.StringType(), "more detail, as JSON"),
        column("data_docs", T.StringType(), "the Data Docs page of the validation, relative to the lake root"),
        column("validated_at", T.TimestampType(), "when it was validated (UTC)", False),
    ]
)

METRICS_SCHEMA = T.StructType(
    [
        column("table_name", T.StringType(), "table measured (partition)", False),
        column("run_date", T.DateType(), "the run's logical date (partition)", False),
        column("metric", T.StringType(), "metric name (row_count, null_rate:<col>, ...)", False),
        column("value", T.DoubleType(), "the metric's value"),
        column("run_id", T.StringType(), "the run that measured it", False),
        column("table_version", T.LongType(), "version committed, when published"),
        column("published", T.BooleanType(), "measured on a published write (partition)", False),
        column("computed_at", T.TimestampType(), "when it was computed (UTC)", False),
    ]
)

ANOMALIES_SCHEMA = T.StructType(
    [
        column("table_name", T.StringType(), "table measured", False),
        column("run_date", T.DateType(), "the run's logical date (partition)", False),
        column("metric", T.StringType(), "metric flagged", False),
        column("value", T.DoubleType(), "the value observed", False),
        column("expected", T.DoubleType(), "the value the trend and weekday pattern predict", False),
        column("lower", T.DoubleType(), "lower bound of the accepted band", False),
        column("upper", T.DoubleType(), "upper bound of the accepted band", False),
        column("z_score", T.DoubleType(), "distance from the prediction in robust standard deviations", False),
        column("blocks", T.BooleanType(), "whether it blocks publishing", False),
        column("plot", T.StringType(), "the plot of the metric's history, relative to the lake root"),
        column("run_id", T.StringType(), "the run that flagged it", False),
        column("validated_at", T.TimestampType(), "when it was flagged (UTC)", False),
    ]
)

_RETRIES = 5


def _retry(write: Callable[[], object]) -> None:
    for attempt in range(_RETRIES):
        try:
            write()
            return
        except CommitConflictError:
            if attempt == _RETRIES - 1:
                raise
            time.sleep(0.2 * (attempt + 1) + random.random() * 0.3)


RESULTS = Table(
    name=RESULTS_TABLE,
    schema=RESULTS_SCHEMA,
    description="Every expectation of every quality-gate attempt (c360.quality).",
    grain="one row per expectation per gate attempt",
    keys=("run_id", "table_name", "expectation", "validated_at"),
    product=PLATFORM,
    owner="data-platform",
    partition_by=("run_date",),
)
METRICS = Table(
    name=METRICS_TABLE,
    schema=METRICS_SCHEMA,
    description="Table metrics (row count, null rates, distinct keys, sums), one set per date.",
    grain="one row per table, run date, metric and published flag",
    keys=("table_name", "run_date", "published", "metric"),
    product=PLATFORM,
    owner="data-platform",
    partition_by=("table_name", "run_date", "published"),
)
ANOMALIES = Table(
    name=ANOMALIES_TABLE,
    schema=ANOMALIES_SCHEMA,
    description="Metrics flagged by the anomaly detector, per table and run date.",
    grain="one row per flagged metric per gate attempt",
    keys=("run_id", "table_name", "metric", "validated_at"),
    product=PLATFORM,
    owner="data-platform",
    partition_by=("run_date",),
)


def ensure_ops_tables(storage: DeltaStorage) -> None:
    for table in (RESULTS, METRICS, ANOMALIES):
        table.ensure(storage)


def record(storage: DeltaStorage, report: ValidationReport, table_version: int | None, published: bool) -> None:
    """Write one validation's results, metrics and anomalies to the ops tables."""
    record_many(storage, [(report, table_version, published)])


def record_many(storage: DeltaStorage, outcomes: Sequence[tuple[ValidationReport, int | None, bool]]) -> None:
    """Write the results, metrics and anomalies of several validations in one commit per ops table.

    A step's gates are recorded together: each ops commit costs a Spark write and a Delta
    commit (~0.3 s), whatever its size, so one per run instead of one per table and kind.
    """
    if not outcomes:
        return
    spark = storage.spark
    ensure_ops_tables(storage)
    root = storage.catalog.lake_root
    rows, anomaly_rows = [], []
    # partition (table, run date, published) -> its metric rows, as the outcomes in order leave it
    replaced: dict[tuple[str, date, bool], list[tuple]] = {}
    for report, table_version, published in outcomes:
        docs = lake_relative(root, report.data_docs)
        rows += [
            (
                report.run_id,
                report.run_date,
                report.table,
                table_version,
                published,
                report.status,
                r.expectation,
                r.kind,
                ",".join(r.columns) or None,
                r.severity.value,
                r.success,
                r.observed_value,
                r.unexpected_count,
                r.element_count,
                r.unexpected_percent,
                r.details or None,
                docs,
                report.validated_at,
            )
            for r in report.results
        ]
        metric_rows = [
            (
                report.table,
                report.run_date,
                name,
                value,
                report.run_id,
                table_version,
                published,
                report.validated_at,
            )
            for name, value in report.metrics.items()
        ]
        # publishing replaces the date's metrics (and clears refused ones); refusing only refused
        replaced[(report.table, report.run_date, False)] = [] if published else metric_rows
        if published:
            replaced[(report.table, report.run_date, True)] = metric_rows
        anomaly_rows += [
            (
                report.table,
                report.run_date,
                a.metric,
                a.value,
                a.expected,
                a.lower,
                a.upper,
                a.z_score,
                report.anomalies_block,
                lake_relative(root, a.plot),
                report.run_id,
                report.validated_at,
            )
            for a in report.anomalies
        ]
    # The rows are written from the driver as they are (rows=): no Spark job for a few records.
    if rows:
        results = spark.createDataFrame(rows, RESULTS_SCHEMA)
        _retry(lambda: storage.append(results, RESULTS_TABLE, rows=rows_to_arrow(rows, RESULTS_SCHEMA)))
    every_metric = [m for ms in replaced.values() for m in ms]
    metrics = spark.createDataFrame(every_metric, METRICS_SCHEMA)
    partitions = [{"table_name": t, "run_date": d, "published": p} for t, d, p in replaced]
    _retry(
        lambda: storage.replace_partitions(
            metrics, METRICS_TABLE, partitions=partitions, rows=rows_to_arrow(every_metric, METRICS_SCHEMA)
        )
    )
    if anomaly_rows:
        anomalies = spark.createDataFrame(anomaly_rows, ANOMALIES_SCHEMA)
        _retry(lambda: storage.append(anomalies, ANOMALIES_TABLE, rows=rows_to_arrow(anomaly_rows, ANOMALIES_SCHEMA)))


def published_metrics(storage: DeltaStorage, table: str, before: date, since: date) -> list[dict[str, Any]]:
    """Published metrics of ``table`` for run dates in ``[since, before)`` as rows
    (run_date, metric, value), read from the log and files with delta-rs (DataFusion).

    Every gate reads its table's history; a Spark job for a few dozen rows cost ~0.5 s a table.
    """
    if not storage.exists(METRICS_TABLE):
        return []
    quoted = table.replace("'", "''")
    sql = (
        "SELECT run_date, metric, value FROM t"
        f" WHERE table_name = '{quoted}' AND published"
        f" AND run_date < DATE '{before.isoformat()}' AND run_date >= DATE '{since.isoformat()}'"
    )
    reader = QueryBuilder().register("t", storage.catalog.open(METRICS_TABLE)).execute(sql)
    return pa.table(reader.read_all()).to_pylist()


def now_utc() -> datetime:
    """Wall-clock time (aware, UTC) for audit columns only: data is judged by run date."""
    return datetime.now(UTC)
