"""The air-quality step: sanitized readings and stations of a run date -> the enhanced star.

A run for D reads the sanitized extracts D-3..D (hours.extract_dates), publishes the
station-local day D-1 in both facts and dim_date, and snapshot D of both dimensions, each
with ``replace_partitions`` naming its partition, so a re-run or a backfill rewrites
exactly what it owns (and the storage layer commits nothing when the rows are unchanged).
Each table is published through its quality gate (write-audit-publish, c360.quality):
a failing gate raises QualityGateError and leaves that table and every later one as it was.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date
from types import ModuleType

from pyspark.sql import DataFrame, SparkSession

from c360.air_quality import dim_date, dim_pollutant, dim_station, fct_air_quality_hourly, fct_aqi_daily
from c360.air_quality.hours import extract_dates, fact_date, latest_versions, station_hours
from c360.aqi.standards import Standard
from c360.contracts.air_quality import READINGS, STATIONS
from c360.quality import publish
from c360.storage import DeltaStorage

TABLES: tuple[ModuleType, ...] = (dim_date, dim_station, dim_pollutant, fct_air_quality_hourly, fct_aqi_daily)


class MissingInputError(RuntimeError):
    """The sanitized tables this step reads do not exist yet (run ingest and sanitize first)."""


@dataclass
class TableWrite:
    table: str
    partition: str
    rows: int  # rows committed; 0 when nothing was committed
    committed: bool  # False: the partition already held exactly these rows


@dataclass
class AirQualityReport:
    run_date: date
    fact_date: date
    writes: list[TableWrite] = field(default_factory=list)


def build_air_quality(
    spark: SparkSession,
    storage: DeltaStorage,
    run_date: date,
    standard: str | Standard = "us-epa-2024",
    run_id: str = "air-quality",
) -> AirQualityReport:
    """Publish the air-quality tables of ``run_date`` (facts for local day run_date - 1)."""
    missing = [t for t in (STATIONS.sanitized_table, READINGS.sanitized_table) if not storage.exists(t)]
    if missing:
        raise MissingInputError(f"{', '.join(missing)} not found: run ingest and sanitize for the extract dates first")
    day = fact_date(run_date)
    stations = dim_station.build(storage.read(STATIONS.sanitized_table), run_date).cache()
    readings = latest_versions(
        storage.read(READINGS.sanitized_table, partitions={"_extract_date": extract_dates(run_date)}), run_date
    )
    hours = station_hours(readings, stations).cache()
    outputs: list[tuple[ModuleType, DataFrame, dict[str, object]]] = [
        (dim_date, dim_date.build(spark, [day]), {"date": day}),
        (dim_station, stations, {"snapshot_date": run_date}),
        (dim_pollutant, dim_pollutant.build(spark, run_date, standard), {"snapshot_date": run_date}),
        (fct_air_quality_hourly, fct_air_quality_hourly.build(hours, day, standard), {"date": day}),
        (fct_aqi_daily, fct_aqi_daily.build(hours, day, standard), {"date": day}),
    ]
    report = AirQualityReport(run_date, day)
    try:
        for module, df, partition in outputs:
            storage.ensure_table(module.NAME, module.SCHEMA, module.PARTITION_BY, description=module.DESCRIPTION)
            outcome = publish(
                storage,
                df,
                module.SUITE,
                write=lambda d, m=module, p=partition: storage.replace_partitions(d, m.NAME, partitions=[p]),
                run_id=run_id,
                run_date=run_date,
            )
            result = outcome.commit
            spec = ",".join(f"{k}={v}" for k, v in partition.items())
            report.writes.append(TableWrite(module.NAME, spec, result.rows_added, result.committed))
    finally:
        hours.unpersist()
        stations.unpersist()
    return report
