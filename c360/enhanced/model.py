"""The model step: sanitized tier -> Kimball star and marts for run dates, gated by quality.

The tables are the registry's published tables of the Customer 360 product, built in
dependency order (each table's ``inputs``). Dimensions hold their rows as of the last run
date, rebuilt as far as their inputs changed since their build record (c360.publish;
deterministic surrogate keys, so a rebuild gives the same keys); facts rewrite exactly the
partitions the run dates' extracts touched. Every table goes through write-audit-publish
(c360.publish): a failed gate stops the step before any later table is written; what was
published stays as it was.
"""

from __future__ import annotations

from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import date

from pyspark.sql import DataFrame, SparkSession

from c360.contracts import CONTRACTS
from c360.enhanced.common import as_of
from c360.publish import MissingInputError, Publisher, TableWrite
from c360.quality.gate import GateLog
from c360.registry import C360, Table, UnknownTableError, registry, unknown_table_message
from c360.storage import DeltaStorage


def model_tables(only: Sequence[str] | None = None) -> list[Table]:
    """The tables the model step publishes, in build order.

    ``only``: just these tables and every model table they are built from or checked
    against (a fact needs its dimensions published before its gate), like dbt's
    ``--select +table``. An unknown or non-model name raises with the names it knows."""
    tables = registry().published(C360)
    if only is None:
        return tables
    known = {t.name: t for t in tables}
    wanted: set[str] = set()
    pending = list(only)
    while pending:
        name = pending.pop()
        if name in wanted:
            continue
        if name not in known:
            raise UnknownTableError(unknown_table_message(name, known))
        wanted.add(name)
        pending += [n for n in (*known[name].sources, *known[name].checked_against) if n in known]
    return [t for t in tables if t.name in wanted]


@dataclass
class ModelReport:
    run_dates: list[date]
    tables: list[TableWrite] = field(default_factory=list)


def _sanitized(spark: SparkSession, storage: DeltaStorage, table: str, run_date: date, version: int) -> DataFrame:
    """What the sanitized tier knew at the end of ``run_date``, read at ``version`` (no rows
    if it was never written: version -1)."""
    contract = next(c for c in CONTRACTS.values() if c.sanitized_table == table)
    if version >= 0:
        return as_of(storage.read(table, version=version), run_date)
    return spark.createDataFrame([], contract.sanitized_schema())


def build_model(
    spark: SparkSession,
    storage: DeltaStorage,
    run_dates: Sequence[date],
    run_id: str,
    profile_dates: Sequence[date] | None = None,
    tables: Sequence[str] | None = None,
    run_log: GateLog | None = None,
    workers: int = 1,
    incremental: bool = True,
    groups_min_rows: int = 0,
) -> ModelReport:
    """Build the star (and marts) for the run dates; the last one is the as-of date of dimensions.

    ``tables``: build only these and what they need (``model_tables``); default all.
    ``run_log``: the run's gate log (``c360.publish.Publisher``); default the step's own.
    ``workers``: tables built and gated at the same time (``Publisher.build_and_publish_all``:
    each after what it reads, commits in order, a failure stops every table after it).
    ``incremental``: dimensions rebuilt only as far as their inputs changed (c360.publish,
    "Build records"); False rebuilds them whole (the same rows). ``groups_min_rows``: a keyed
    incremental table holding fewer rows is rebuilt whole rather than by its changed groups.

    Marts read the facts as built in this run (as of its last date), never the published
    tables, which may hold later versions when an older date is rebuilt.
    """
    last = max(run_dates)
    publisher = Publisher(
        storage, run_id, sorted(run_dates), run_log, incremental=incremental, groups_min_rows=groups_min_rows
    )
    chosen = model_tables(tables)
    built = {t.name for t in chosen}
    sources = dict.fromkeys(s for t in chosen for s in t.sources if s not in built)
    # Each source read at one version, which incremental tables' build records name.
    versions = {s: storage.catalog.version(s) if storage.exists(s) else -1 for s in sources}
    if sources and all(v < 0 for v in versions.values()):
        # One missing source is a source that has not delivered yet (its facts are empty); all of
        # them missing is a model run before any sanitize, which would publish an empty star.
        raise MissingInputError(
            f"none of the model's inputs ({', '.join(sources)}) is in the lake: run ingest and sanitize "
            "for the extract dates first"
        )
    context = {
        "spark": spark,
        "run_dates": sorted(run_dates),
        "profile_dates": sorted(run_dates if profile_dates is None else profile_dates),
        "input_versions": versions,
    }
    # Read a few at a time: each read opens the table's log and has the JVM list its files, and
    # a dozen of them one after the other held back the first table (0.7 s of a mock_data day).
    with ThreadPoolExecutor(max(1, min(workers, len(sources))), thread_name_prefix="c360-read") as pool:
        read = pool.map(lambda s: _sanitized(spark, storage, s, last, versions[s]), sources)
        frames = dict(zip(sources, read, strict=True))
    try:
        publisher.build_and_publish_all(chosen, frames, context, workers)
    finally:
        publisher.flush()
    return ModelReport(sorted(run_dates), publisher.writes)
