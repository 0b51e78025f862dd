"""The air-quality step: sanitized readings and stations of run dates -> the enhanced star.

A run for D reads the sanitized extracts D-3..D (hours.extract_dates), publishes the
station-local day D-1 in both facts, and snapshot D of both dimensions, each replacing
exactly the partition its table declares for the run, so a re-run or a backfill rewrites
what it owns (and the storage layer commits nothing when the rows are unchanged).

A range of run dates is built in one pass: each table is built once for all of them (every
row computed per run date, see c360.air_quality.hours), validated once by its gate and
committed once, replacing exactly the partitions those run dates own. A table's fixed cost
(gate, commit, Spark jobs) is then paid once per backfill instead of once per date, and
the content is the same as running the dates one by one.

The tables are the registry's published tables of the air-quality product, in dependency
order, each through write-audit-publish (c360.publish): a failing gate raises
QualityGateError and leaves that table and every later one as it was. The facts' dates are
keys of the conformed ``enhanced.shared.dim_date``, published here too if the model step
has not published it yet.
"""

from __future__ import annotations

import inspect
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import date

from pyspark.sql import DataFrame, SparkSession
from pyspark.sql import functions as F

from c360.air_quality import dim_station
from c360.air_quality.hours import RUN_DATE, extract_dates, fact_date, latest_versions, run_dates_of, station_hours
from c360.aqi.standards import Standard
from c360.contracts.air_quality import READINGS, STATIONS
from c360.enhanced import dim_date
from c360.publish import MissingInputError, Publisher, TableWrite
from c360.quality.gate import GateLog
from c360.registry import AIR_QUALITY, Table, registry
from c360.storage import DeltaStorage
from c360.storage.delta import COLLECT_MAX_ROWS


def air_quality_tables() -> list[Table]:
    """The tables the air-quality step publishes, in build order."""
    return registry().published(AIR_QUALITY)


@dataclass
class AirQualityReport:
    """What one call of the step published: its run dates, and one write per table (each
    write covering the partitions of every run date)."""

    run_dates: list[date]
    writes: list[TableWrite] = field(default_factory=list)

    @property
    def fact_dates(self) -> list[date]:
        """The local days the facts were published for (run date - 1 each)."""
        return [fact_date(d) for d in self.run_dates]


def build_air_quality(
    spark: SparkSession,
    storage: DeltaStorage,
    run_dates: date | Iterable[date],
    standard: str | Standard = "us-epa-2024",
    run_id: str = "air-quality",
    run_log: GateLog | None = None,
    local_max_rows: int = COLLECT_MAX_ROWS,
) -> AirQualityReport:
    """Publish the air-quality tables of the run dates (facts for local days run_date - 1),
    every table once for all of them. ``run_log``: the run's gate log (``c360.publish.Publisher``).
    ``local_max_rows``: a run of at most this many readings is scored in the driver
    (Settings.aqi_local_max_rows)."""
    missing = [t for t in (STATIONS.sanitized_table, READINGS.sanitized_table) if not storage.exists(t)]
    if missing:
        raise MissingInputError(f"{', '.join(missing)} not found: run ingest and sanitize for the extract dates first")
    dates = run_dates_of(run_dates)
    publisher = Publisher(storage, run_id, dates, run_log)
    # A day's few readings are scored in the driver: Spark's Python workers would take longer
    # to start than the rows take to score (c360.aqi.spark.calculate_df_local).
    counts = storage.catalog.row_counts(READINGS.sanitized_table, "_extract_date")
    readings_in = sum(counts.get(d.isoformat(), 0) for d in extract_dates(dates))
    engine = "local" if local_max_rows and readings_in <= local_max_rows else None  # 0: never
    context: dict[str, object] = {"spark": spark, "run_dates": dates, "standard": standard, "aqi_engine": engine}
    if not storage.exists(dim_date.TABLE.name):
        try:
            publisher.build_and_publish(dim_date.TABLE, {}, context)
        finally:
            publisher.flush()
    frames: dict[str, DataFrame] = {STATIONS.sanitized_table: storage.read(STATIONS.sanitized_table)}
    readings = latest_versions(
        storage.read(READINGS.sanitized_table, partitions={"_extract_date": extract_dates(dates)}), dates
    )
    hours: DataFrame | None = None
    try:
        for table in air_quality_tables():
            if table.build is not None and "hours" in inspect.signature(table.build).parameters and hours is None:
                # The station-hours both facts are computed from: built once from the published
                # station snapshots (one per run date), cached for both.
                snapshots = frames[dim_station.NAME].select(
                    F.col("snapshot_date").alias(RUN_DATE), "station_id", "time_zone"
                )
                hours = station_hours(readings, snapshots).cache()
                context["hours"] = hours
            frames[table.name] = publisher.build_and_publish(table, frames, context)
    finally:
        publisher.flush()
        if hours is not None:
            hours.unpersist()
    return AirQualityReport(dates, publisher.writes)
