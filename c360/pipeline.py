"""Pipeline steps, shared by the CLI, the spark-submit jobs, Airflow and notebooks.

Each step takes the run's context (settings, Spark, storage, run id) and plain values,
does its work through the library, and returns a report; every step is idempotent
for its run date, so a retry or a backfill never duplicates rows.
"""

from __future__ import annotations

import stat
import time
import uuid
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import Future, ThreadPoolExecutor, wait
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, TypeVar

from pyspark.sql import SparkSession
from pyspark.sql import types as T

from c360.registry import AIR_QUALITY, C360, PLATFORM, Table, column

if TYPE_CHECKING:
    from c360.air_quality.run import AirQualityReport
    from c360.contracts import Contract
    from c360.enhanced.model import ModelReport
    from c360.quality.gate import GateLog
    from c360.raw.ingest import IngestReport, SourceFile
    from c360.sanitized.run import SanitizeReport
from c360.settings import Settings
from c360.spark import codegen_for_rows, joins_for_rows, warm_up
from c360.storage import DeltaStorage, LakeCatalog
from c360.storage.locks import PIPELINE_LOCK, lake_locks
from c360.storage.schema import rows_to_arrow

RUNS_TABLE = "ops.pipeline.runs"
RUNS_SCHEMA = T.StructType(
    [
        column("run_id", T.StringType(), "the run (one id for every step of a pipeline run)", False),
        column("step", T.StringType(), "ingest, sanitize, model or air_quality", False),
        column("started_at", T.TimestampType(), "when the step started (UTC)", False),
        column("seconds", T.DoubleType(), "wall time of the step", False),
        column("status", T.StringType(), "succeeded, failed or interrupted (Ctrl-C, a stopped task)", False),
        column("summary", T.StringType(), "what the step did, or the error that stopped it"),
        column("run_date", T.DateType(), "the logical date (partition)", False),
    ]
)
RUNS = Table(
    name=RUNS_TABLE,
    schema=RUNS_SCHEMA,
    description="One row per pipeline step run: when, how long, how it ended, what it did.",
    grain="one row per step run",
    keys=("run_id", "step", "started_at"),
    product=PLATFORM,
    owner="data-platform",
    partition_by=("run_date",),
)
R = TypeVar("R")
# What an ingest expects a source row to weigh, to size its work from the files' bytes before
# reading them: the lines of mock_data and of the reference extracts weigh 80-100 bytes on average, a
# compressed file counts its compressed bytes (c360.spark.codegen_for_rows).
SOURCE_BYTES_PER_ROW = 100
CANCEL_POLL_S = 0.5  # an interrupted run cancels the other product's Spark jobs this often until it ends


@dataclass
class StepTiming:
    step: str
    seconds: float
    status: str
    summary: str


@dataclass
class RunContext:
    settings: Settings
    spark: SparkSession
    storage: DeltaStorage
    run_id: str = field(default_factory=lambda: uuid.uuid4().hex)
    timings: list[StepTiming] = field(default_factory=list)
    _held: list[tuple] | None = field(default=None, repr=False)
    gate_log: GateLog | None = field(default=None, repr=False)  # set while batched

    @classmethod
    def create(cls, settings: Settings, spark: SparkSession, run_id: str | None = None) -> RunContext:
        return cls(settings, spark, DeltaStorage(spark, settings.lake_root), run_id or uuid.uuid4().hex)

    def step(
        self,
        name: str,
        run_date: date,
        fn: Callable[[], R],
        summarise: Callable[[R], str] = str,
        products: frozenset[str] | None = None,
    ) -> R:
        """Run one step, time it, and log it to ``ops.pipeline.runs`` (success or failure);
        its OpenLineage events (c360.lineage) name the tables it read and wrote, with versions:
        of the data ``products`` it writes only, when another step runs beside it. In a batched
        run they are written by their own thread while the run goes on."""
        from c360.lineage import StepLineage

        lineage = StepLineage.start(
            self.settings.lake_root, self.run_id, name, run_date, products, deferred=self.gate_log is not None
        )
        started = datetime.now(UTC)
        t0 = time.perf_counter()
        try:
            # Steps share the lake; an erasure waits for none of them (c360.storage.locks).
            with lake_locks(self.settings.lake_root, [], f"{name} {run_date}", shared=[PIPELINE_LOCK]):
                result = fn()
        except BaseException as exc:
            stopped = not isinstance(exc, Exception)  # Ctrl-C, a stopped task: the run's record says so
            if lineage is not None:
                lineage.abort() if stopped else lineage.fail(exc)
            status = "interrupted" if stopped else "failed"
            self._log(name, run_date, started, time.perf_counter() - t0, status, f"{type(exc).__name__}: {exc}"[:2000])
            raise
        if lineage is not None:
            lineage.complete()
        summary = summarise(result)
        self._log(name, run_date, started, time.perf_counter() - t0, "succeeded", summary)
        return result

    def prepare_gates(self) -> None:
        """Start importing the quality gates' GX in the background (once per process;
        ``c360.quality.gx_runner.prepare``), so that a step's first gate finds it ready."""
        from c360.quality import gx_runner

        gx_runner.prepare()

    @contextmanager
    def sized(self, rows: int, joined: int | None = None) -> Iterator[bool]:
        """The block's queries configured for a step that reads ``rows``: expressions compiled
        or interpreted (``c360.spark.codegen_for_rows``), and joins broadcast or not by the
        rows of every table it joins, ``joined`` (default ``rows``; ``c360.spark.joins_for_rows``).
        Yields whether expressions are compiled."""
        settings = self.settings
        with (
            codegen_for_rows(self.spark, rows, settings.codegen_min_rows) as compiled,
            joins_for_rows(self.spark, rows if joined is None else joined, settings.broadcast_min_rows),
        ):
            yield compiled

    def workers(self, rows: int) -> int:
        """Tables a step that reads ``rows`` writes at the same time: ``small_step_workers``
        below ``codegen_min_rows`` (unless 0), else ``publish_workers``."""
        settings = self.settings
        if settings.small_step_workers and rows < settings.codegen_min_rows:
            return settings.small_step_workers
        return settings.publish_workers

    @contextmanager
    def batched(self) -> Iterator[None]:
        """Hold the records of a run and write them once when it ends (failed or not): the
        steps' records in one commit, and the quality results, metrics and Data Docs of every
        step's gates together (``gate_log``), instead of once per step. A commit per step cost
        as much as a small table's step. Its steps' lineage events are written by their own
        thread meanwhile (c360.lineage); the run waits for them at its end."""
        from c360.lineage import drain
        from c360.quality.gate import GateLog

        self._held, self.gate_log = [], GateLog(self.storage)
        try:
            yield
        finally:
            rows, self._held = self._held, None
            log, self.gate_log = self.gate_log, None
            try:
                log.flush()
            finally:
                try:
                    self._write_runs(rows)
                finally:
                    drain()  # the steps' lineage events (deferred while batched)

    def _log(self, step: str, run_date: date, started: datetime, seconds: float, status: str, summary: str) -> None:
        self.timings.append(StepTiming(step, seconds, status, summary))
        row = (self.run_id, step, started.replace(tzinfo=None), seconds, status, summary, run_date)
        if self._held is not None:
            self._held.append(row)
        else:
            self._write_runs([row])

    def _write_runs(self, rows: list[tuple]) -> None:
        if not rows:
            return
        RUNS.ensure(self.storage)
        df = self.spark.createDataFrame(rows, RUNS_SCHEMA)
        self.storage.append(df, RUNS_TABLE, rows=rows_to_arrow(rows, RUNS_SCHEMA))


def lake_rows(catalog: LakeCatalog, tables: Sequence[str], dates: Sequence[date] | None = None) -> int:
    """The rows of ``tables`` (of their ``_extract_date`` partitions in ``dates``, or whole),
    from their Delta logs' file statistics: what a step reads, which decides whether its
    queries' expressions are compiled (``c360.spark.codegen_for_rows``). No table: 0 rows."""
    wanted = None if dates is None else {str(d) for d in dates}
    total = 0
    for name in tables:
        if not catalog.exists(name):
            continue
        counts = catalog.row_counts(name, None if wanted is None else "_extract_date")
        total += sum(n for value, n in counts.items() if wanted is None or value in wanted)
    return total


def delivered_rows(files: Sequence[SourceFile]) -> int:
    """The rows an ingest of ``files`` reads, sized from their bytes before reading them."""
    return sum(_size(f.path) for f in files if f.verdict is None) // SOURCE_BYTES_PER_ROW


def sanitize_rows(catalog: LakeCatalog, dates: Sequence[date], sources: str | None = None) -> int:
    """The rows a sanitize of ``dates`` reads: its raw tables' rows of those dates."""
    return lake_rows(catalog, [c.raw_table for c in _contracts(sources)], dates)


def sanitize_joined_rows(catalog: LakeCatalog, dates: Sequence[date], sources: str | None = None) -> int:
    """The rows a sanitize of ``dates`` joins: its raw rows of those dates and the sanitized
    history of its tables (duplicates, late arrivals, parents), which it reads whole."""
    history = lake_rows(catalog, [c.sanitized_table for c in _contracts(sources)])
    return sanitize_rows(catalog, dates, sources) + history


def product_rows(catalog: LakeCatalog, product: str) -> int:
    """The rows the model (``retail``) or air-quality step reads: its sanitized tables, whole."""
    from c360.contracts import source_group

    return lake_rows(catalog, [c.sanitized_table for c in source_group(product)])


def run_rows(lake_root: Path, source: Path, dates: Sequence[date]) -> int:
    """What a whole run (``run_all``) reads at most, known before its Spark session starts:
    its extracts, as ingest sizes them (sanitize reads them again), and every sanitized table,
    which the model and air-quality steps read whole. It decides how the session's JVM
    compiles (``c360.spark.get_spark``)."""
    catalog = LakeCatalog(lake_root)
    return extract_rows(source, dates) + product_rows(catalog, "retail") + product_rows(catalog, "air_quality")


def step_rows(
    step: str, lake_root: Path, day: date, source: Path | None = None, sources: str | None = None
) -> int | None:
    """What one step of ``day`` reads, sized as the step sizes itself, before its Spark session
    starts (``c360.spark.get_spark``): the CLI's step commands and Airflow's tasks start theirs
    this way. None for a step that runs no Spark query, or an ingest without its source folder."""
    catalog = LakeCatalog(lake_root)
    if step == "ingest":
        return None if source is None else extract_rows(source, [day], sources)
    if step == "sanitize":
        return sanitize_joined_rows(catalog, [day], sources)
    if step in ("model", "air_quality"):
        return product_rows(catalog, "retail" if step == "model" else "air_quality")
    return None


def extract_rows(source: Path, dates: Sequence[date], sources: str | None = None) -> int:
    """The rows an ingest of the dates' extracts (of one source group, or all) would read
    (``delivered_rows``), before it runs. A date it cannot list counts nothing: the ingest
    itself reports it, as its step's failure, so sizing never stops a run."""
    from c360.raw.ingest import discover

    files: list[SourceFile] = []
    for day in sorted(dates):
        try:
            files += [f for f in discover(source, day) if sources is None or owning_group(f) == sources]
        except (OSError, ValueError):
            continue
    return delivered_rows(files)


def _contracts(sources: str | None) -> tuple[Contract, ...]:
    """One source group's contracts (``sources``) or, with None, every registered one, parents
    before children: the registry's order (retail, then air quality)."""
    from c360.contracts import CONTRACTS, source_group

    return tuple(CONTRACTS.values()) if sources is None else source_group(sources)


def date_range(start: date, end: date) -> list[date]:
    if end < start:
        raise ValueError(f"--to {end} is before --from {start}")
    return [start + timedelta(days=i) for i in range((end - start).days + 1)]


def owning_group(f: SourceFile) -> str:
    """The source group (``c360.contracts.SOURCE_GROUPS``) that ingests or reports a discovered file.

    A file with a contract belongs to its contract's group; anything else to the group of the
    domain folder it sits in, and what sits in no group's folder to the first group.
    """
    from c360.contracts import SOURCE_GROUPS, group_of

    if f.contract is not None and (group := group_of(f.contract)) is not None:
        return group
    for name, contracts in SOURCE_GROUPS.items():
        if f.contract is None and f.path.parent.name in {c.domain for c in contracts}:
            return name
    return next(iter(SOURCE_GROUPS))


def ingest_step(
    ctx: RunContext, source: Path, dates: date | Sequence[date], sources: str | None = None
) -> IngestReport:
    """Ingest the extracts of the dates: one commit per raw table, however many days.

    ``sources`` (a source group name) keeps only that group's files, so two products ingesting
    the same date folder at the same time never write the same raw table; None ingests all.
    """
    from c360.contracts import source_group
    from c360.raw.ingest import discover, ingest

    if sources is not None:
        source_group(sources)  # an unknown name fails here, before anything is read
    days = [dates] if isinstance(dates, date) else sorted(dates)
    files = [f for d in days for f in discover(source, d) if sources is None or owning_group(f) == sources]
    with ctx.sized(delivered_rows(files)):
        key, limit = ctx.settings.pseudonym_key_bytes(), ctx.settings.ingest_driver_read_max_bytes
        return ingest(ctx.spark, ctx.storage, files, key, ingest_id=ctx.run_id, driver_read_max_bytes=limit)


def _size(path: Path) -> int:
    """A file's bytes for sizing a step, 0 if it is not a regular file (any more): a file that
    vanished since discovery is the ingest's to record as failed, not this estimate's to stop."""
    try:
        info = path.stat()
    except OSError:
        return 0
    return info.st_size if stat.S_ISREG(info.st_mode) else 0


def sanitize_step(ctx: RunContext, dates: Sequence[date], sources: str | None = None) -> SanitizeReport:
    """Sanitize the dates for one source group (``sources``) or, with None, every registered source."""
    from c360.sanitized.run import sanitize

    ctx.prepare_gates()
    contracts = _contracts(sources)
    key = ctx.settings.pseudonym_key_bytes()
    catalog = ctx.storage.catalog
    joined = sanitize_joined_rows(catalog, dates, sources)
    workers = ctx.workers(joined)  # a day against a long history is not a small step
    with ctx.sized(sanitize_rows(catalog, dates, sources), joined):
        min_rows = ctx.settings.codegen_min_rows  # the cross-table checks size themselves
        return sanitize(ctx.spark, ctx.storage, dates, key, ctx.run_id, contracts, ctx.gate_log, workers, min_rows)


def ingest_summary(report: IngestReport) -> str:
    counts: dict[str, int] = {}
    for f in report.files:
        counts[f.status] = counts.get(f.status, 0) + 1
    if not counts:
        return "0 rows: no source files found"
    malformed = sum(f.malformed for f in report.files)
    return f"{report.rows} rows ({malformed} malformed) from " + ", ".join(
        f"{n} {s}" for s, n in sorted(counts.items())
    )


def sanitize_summary(report: SanitizeReport) -> str:
    tot = {k: sum(t.counts.get(k, 0) for t in report.tables) for k in ("rows_in", "sanitized", "quarantined")}
    dup = sum(t.counts.get(k, 0) for t in report.tables for k in ("duplicate_exact", "superseded", "unchanged_resend"))
    return (
        f"{tot['rows_in']} in = {tot['sanitized']} sanitized + {tot['quarantined']} quarantined"
        f" + {dup} duplicates, {len(report.tables)} tables"
    )


def air_quality_step(ctx: RunContext, dates: Sequence[date]) -> AirQualityReport:
    """Publish the air-quality star for the run dates (facts for the local day before each)
    in one pass: each table built, gated and committed once for all of them."""
    from c360.air_quality.run import build_air_quality

    ctx.prepare_gates()
    with ctx.sized(product_rows(ctx.storage.catalog, "air_quality")):
        return build_air_quality(
            ctx.spark,
            ctx.storage,
            dates,
            run_id=ctx.run_id,
            run_log=ctx.gate_log,
            local_max_rows=ctx.settings.aqi_local_max_rows,
        )


def date_span(days: Sequence[date]) -> str:
    """Dates as text: ``first..last (n days)`` when they are consecutive, else each one."""
    days = sorted(days)
    if len(days) > 2 and (days[-1] - days[0]).days == len(days) - 1:
        return f"{days[0]}..{days[-1]} ({len(days)} days)"
    return ", ".join(str(d) for d in days)


def air_quality_summary(report: AirQualityReport) -> str:
    writes = report.writes
    committed = [w for w in writes if w.committed]
    return (
        f"local day(s) {date_span(report.fact_dates)}: {len(committed)} of {len(writes)} tables written"
        f" ({sum(len(w.partitions) for w in committed)} partitions, {sum(w.rows for w in committed)} rows),"
        f" {len(writes) - len(committed)} unchanged"
        f" ({sum(1 for w in writes if not w.validated)} without a gate: they already held their rows)"
    )


def model_step(ctx: RunContext, dates: Sequence[date], profile_dates: Sequence[date] | None = None) -> ModelReport:
    from c360.enhanced.model import build_model

    ctx.prepare_gates()
    rows = product_rows(ctx.storage.catalog, "retail")
    with ctx.sized(rows):
        return build_model(
            ctx.spark,
            ctx.storage,
            dates,
            ctx.run_id,
            profile_dates,
            run_log=ctx.gate_log,
            workers=ctx.workers(rows),
            incremental=ctx.settings.incremental_dimensions,
            groups_min_rows=ctx.settings.groups_min_rows,
        )


def model_summary(report: ModelReport) -> str:
    published = sum(1 for t in report.tables if t.committed)
    gated = [t for t in report.tables if t.validated]
    rows = sum(t.rows for t in gated)
    unbuilt = sum(1 for t in report.tables if t.build == "none")
    held = len(report.tables) - len(gated) - unbuilt
    keyed = [t for t in report.tables if t.build == "keys"]
    return (
        f"{len(gated)} of {len(report.tables)} tables validated ({rows} rows), {published} changed and published,"
        f" {held} already held their rows (no gate), {unbuilt} not built (inputs unchanged)"
        + "".join(f", {t.table.rsplit('.', 1)[-1]} rebuilt for {t.keys} changed keys only" for t in keyed)
    )


def extract_dates(source: Path) -> list[date]:
    """The dated extract folders under ``source``, in order.

    A folder named like a date that is not one (``2024-13-45``) is skipped here; the ingest
    of a run date reports it, so one bad name never blocks the other dates.
    """
    from c360.raw.ingest import folder_date

    days = (folder_date(p.name) for p in Path(source).iterdir() if p.is_dir())
    return sorted(d for d in days if d is not None)


def run_all(
    ctx: RunContext,
    source: Path,
    dates: Sequence[date],
    on_step: Callable[[str], None] = print,
    air_quality_dates: Sequence[date] | None = None,
    profile_dates: Sequence[date] | None = None,
) -> None:
    """Ingest -> sanitize -> model (and air quality) for the dates, in one session; the model and
    air-quality steps at the same time when they can (``overlap_rows``), else one after the other.

    Each step processes the range as one batch (one commit per table), which gives the
    same tables as running the days one by one: ingestion is idempotent per file, and
    sanitize and model depend only on extracts up to each date (the tests check it).
    The air-quality product (one pass over its run dates) and the Customer 360 profile are
    built per run date (``air_quality_dates`` / ``profile_dates``, default all of them).
    """
    dates = sorted(dates)
    last = dates[-1]
    ctx.prepare_gates()  # GX is imported while ingest runs
    warm_up(ctx.spark)  # and Spark's first queries run, which ingest's reads and commits leave to it
    with ctx.batched():
        on_step(f"ingest {dates[0]}..{last}")
        ctx.step("ingest", last, lambda: ingest_step(ctx, source, dates), ingest_summary)
        on_step(f"sanitize {dates[0]}..{last}")
        ctx.step("sanitize", last, lambda: sanitize_step(ctx, dates), sanitize_summary)
        aq = sorted(dates if air_quality_dates is None else air_quality_dates)

        def model(products: frozenset[str] | None = None) -> None:
            ctx.step("model", last, lambda: model_step(ctx, dates, profile_dates), model_summary, products)

        def air_quality(products: frozenset[str] | None = None) -> None:
            ctx.step("air_quality", aq[-1], lambda: air_quality_step(ctx, aq), air_quality_summary, products)

        rows = overlap_rows(ctx) if aq else None
        if rows is None:
            on_step(f"model {dates[0]}..{last}")
            model()
            if aq:
                on_step(f"air quality {aq[0]}..{aq[-1]}")
                air_quality()
            return
        on_step(f"model {dates[0]}..{last} and air quality {aq[0]}..{aq[-1]}")
        with ctx.sized(rows), ThreadPoolExecutor(1, thread_name_prefix="c360-air-quality") as pool:
            # Each step's lineage names its own product's tables: the other's move meanwhile.
            pending = pool.submit(air_quality, frozenset({AIR_QUALITY}))
            try:
                model(frozenset({C360}))
            except BaseException as exc:
                if not isinstance(exc, Exception):  # Ctrl-C, a stopped task: the other product stops too
                    _cancel_until_done(ctx.spark, pending)
                raise
            finally:
                wait([pending])  # a failed model step still lets the other product finish and log
            pending.result()


def _cancel_until_done(spark: SparkSession, step: Future[None]) -> None:
    """Cancel Spark's jobs until ``step`` (another thread's) has ended. An interrupt cancels the
    jobs running at that moment, and the step's next job would run as usual: the air-quality
    step ran to its end after a Ctrl-C in the model step (153 s once)."""
    while not step.done():
        spark.sparkContext.cancelAllJobs()
        wait([step], timeout=CANCEL_POLL_S)


def overlap_rows(ctx: RunContext) -> int | None:
    """The rows to size the model and air-quality steps by when they can run at the same time,
    or None when they must run one after the other.

    The two products read and write disjoint tables (retail's sanitized tables and star,
    air quality's), so on a small run the air-quality step fills the cores the model step's
    Spark jobs leave idle between them (docs/benchmarks.md, "Two products at once"). They
    overlap only when Spark's session settings, which ``RunContext.sized`` sets for the whole
    session, are the same for both (a backfill of years sizes them apart), and when the calendar
    they share (``enhanced.shared.dim_date``) is already published: both would create it."""
    from c360.enhanced import dim_date

    catalog = ctx.storage.catalog
    if not catalog.exists(dim_date.NAME):
        return None
    retail, air = product_rows(catalog, "retail"), product_rows(catalog, "air_quality")
    s = ctx.settings
    if any((retail >= limit) != (air >= limit) for limit in (s.codegen_min_rows, s.broadcast_min_rows)):
        return None
    return max(retail, air)
