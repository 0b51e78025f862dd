"""The model step: sanitized tier -> Kimball star and marts for run dates, gated by quality.

The tables are the registry's published tables of the Customer 360 product, built in
dependency order (each table's ``inputs``). Dimensions are rebuilt as of the last run date
(deterministic surrogate keys, so a rebuild gives the same keys); facts rewrite exactly the
partitions the run dates' extracts touched. Every table goes through write-audit-publish
(c360.publish): a failed gate stops the step before any later table is written; what was
published stays as it was.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import date

from pyspark.sql import DataFrame, SparkSession

from c360.contracts import CONTRACTS
from c360.enhanced.common import as_of
from c360.publish import Publisher, TableWrite
from c360.registry import C360, Table, registry
from c360.storage import DeltaStorage


def model_tables() -> list[Table]:
    """The tables the model step publishes, in build order."""
    return registry().published(C360)


@dataclass
class ModelReport:
    run_dates: list[date]
    tables: list[TableWrite] = field(default_factory=list)


def _sanitized(spark: SparkSession, storage: DeltaStorage, table: str, run_date: date) -> DataFrame:
    """What the sanitized tier knew at the end of ``run_date`` (empty if it was never written)."""
    contract = next(c for c in CONTRACTS.values() if c.sanitized_table == table)
    if storage.exists(table):
        return as_of(storage.read(table), run_date)
    return spark.createDataFrame([], contract.sanitized_schema())


def build_model(
    spark: SparkSession,
    storage: DeltaStorage,
    run_dates: Sequence[date],
    run_id: str,
    profile_dates: Sequence[date] | None = None,
) -> ModelReport:
    """Build the star (and marts) for the run dates; the last one is the as-of date of dimensions.

    Marts read the facts as built in this run (as of its last date), never the published
    tables, which may hold later versions when an older date is rebuilt.
    """
    last = max(run_dates)
    publisher = Publisher(storage, run_id, sorted(run_dates))
    context = {
        "spark": spark,
        "run_dates": sorted(run_dates),
        "profile_dates": sorted(run_dates if profile_dates is None else profile_dates),
    }
    frames: dict[str, DataFrame] = {}
    try:
        for table in model_tables():
            for source in table.sources:
                if source not in frames:
                    frames[source] = _sanitized(spark, storage, source, last)
            frames[table.name] = publisher.build_and_publish(table, frames, context)
    finally:
        publisher.flush()
    return ModelReport(sorted(run_dates), publisher.writes)
