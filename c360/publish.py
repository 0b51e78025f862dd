"""Write-audit-publish of registered tables: the one way every step publishes.

A step hands over a registered ``Table`` and its built frame. The frame is checkpointed
once, the partitions to write are decided (the whole table, the partitions the table
declares for the run, or those the run's data touched plus stale ones), the quality gate
validates exactly what would be written, and only a passing gate commits. A failing gate
raises ``QualityGateError`` and leaves the table, and every later one, as it was.

A day costs what its data costs: when the table already holds exactly the rows to write
(a source that brought nothing new, a dimension whose rows did not change), there is
nothing to publish, so neither the gate nor a commit runs. The gates' results, metrics
and Data Docs of a step are recorded together by :meth:`Publisher.flush`, or those of a
whole run when the run hands its log to every step (``RunContext.batched``).
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Mapping, MutableMapping, Sequence
from concurrent.futures import FIRST_EXCEPTION, Future, ThreadPoolExecutor, wait
from dataclasses import dataclass, field
from datetime import date
from typing import Any

from pyspark.sql import DataFrame
from pyspark.sql import functions as F

from c360.enhanced.common import affected_dates, stale_dates
from c360.quality.gate import GateLog
from c360.registry import Table, call_with
from c360.storage import CommitResult, DeltaStorage


@dataclass(frozen=True)
class TableWrite:
    """What publishing one table did."""

    table: str
    rows: int  # rows validated (the whole table or the partitions written)
    committed: bool  # False: the gate passed and the content was already there
    version: int
    partitions: tuple[str, ...]  # "column=value" of each partition replaced; () for a whole table
    seconds: float  # build + quality gate + commit
    validated: bool = True  # False: the table already held these rows, so no gate ran


@dataclass
class Publisher:
    """Publishes the tables of one step run, and records what each write did."""

    storage: DeltaStorage
    run_id: str
    run_dates: Sequence[date]
    run_log: GateLog | None = None  # the run's log, which the run flushes; None: the step keeps its own
    writes: list[TableWrite] = field(default_factory=list)
    log: GateLog = field(init=False)
    # Called just before a commit (build_and_publish_all's turn); raising stops the commit.
    before_commit: Callable[[], None] = field(default=lambda: None, repr=False)

    def __post_init__(self) -> None:
        self.log = self.run_log if self.run_log is not None else GateLog(self.storage)

    def flush(self) -> None:
        """Record the gates of the tables published so far (call it in a ``finally``); a run's
        log is left to the run, which records the gates of all its steps together."""
        if self.run_log is None:
            self.log.flush()

    def build_and_publish_all(
        self,
        tables: Sequence[Table],
        frames: MutableMapping[str, DataFrame],
        context: Mapping[str, Any],
        workers: int = 1,
    ) -> None:
        """Build and publish ``tables`` (in dependency order), each built frame added to
        ``frames``; ``workers`` tables at a time.

        Tables are started in order, each once every table it reads or is checked against has
        finished, and they commit in order: a table's commit waits for every table before it.
        So a failure is what it is one table at a time: the first failing table raises, no
        table after it commits, and their gate results are not recorded. What runs at the
        same time is the rest: building, checkpointing, the "already holds?" check and the
        gate, which for a day's few rows are mostly fixed latency per Spark job.
        """
        if workers <= 1:
            for table in tables:
                frames[table.name] = self.build_and_publish(table, frames, context)
            return
        names = {t.name for t in tables}
        finished: dict[str, Future[None]] = {}
        slots = threading.Semaphore(workers)
        with ThreadPoolExecutor(workers, thread_name_prefix="c360-publish") as pool:
            previous: Future[None] | None = None
            for table in tables:
                needs = [finished[n] for n in (*table.sources, *table.checked_against) if n in names]
                if any(f.exception() for f in wait(needs, return_when=FIRST_EXCEPTION).done):
                    break  # a table it needs failed: the error is raised below, in table order
                slots.acquire()
                own = Publisher(self.storage, self.run_id, self.run_dates, GateLog(self.storage))
                previous = finished[table.name] = pool.submit(
                    self._publish_in_turn, own, table, frames, context, previous, slots
                )
        for future in finished.values():  # the first failure in table order; the rest were cut short
            error = future.exception()
            if error is not None and not isinstance(error, _Cancelled):
                raise error

    def _publish_in_turn(
        self,
        own: Publisher,
        table: Table,
        frames: MutableMapping[str, DataFrame],
        context: Mapping[str, Any],
        before: Future[None] | None,
        slots: threading.Semaphore,
    ) -> None:
        """One table of :meth:`build_and_publish_all`, published by ``own`` (its private gate
        log and writes), whose commit and records wait for the table ``before`` it."""

        def turn() -> None:
            if before is not None and before.exception() is not None:
                raise _Cancelled(table.name)

        try:
            own.before_commit = turn
            try:
                frame = own.build_and_publish(table, frames, context)
            finally:
                turn()  # an earlier failure: nothing of this table is kept, not even its gate
                self.log.pending += own.log.pending
                self.writes += own.writes
            frames[table.name] = frame
        finally:
            slots.release()

    def build_and_publish(self, table: Table, frames: Mapping[str, DataFrame], context: Mapping[str, Any]) -> DataFrame:
        """Build ``table`` from its inputs and publish it; returns the whole built frame
        (checkpointed), for the tables built from it later in the same run."""
        started = time.perf_counter()
        df = table.call_build(frames, context)
        return self.publish(table, df, context, started)

    def publish(
        self, table: Table, df: DataFrame, context: Mapping[str, Any], started: float | None = None
    ) -> DataFrame:
        from c360.quality import publish as gate

        if table.suite is None:
            raise ValueError(f"{table.name} has no quality suite: a published table needs one")
        started = time.perf_counter() if started is None else started
        table.ensure(self.storage)
        df = df.localCheckpoint()
        commit: Callable[[DataFrame], CommitResult]
        specs: list[dict[str, Any]]
        if table.publish == "whole":
            part, specs = df, []
            commit = lambda d: self.storage.overwrite(d, table.name, unchanged_check=False)  # noqa: E731
        else:
            (column,) = table.partition_by
            dates = self._partition_dates(table, df, column, context)
            part = df.filter(F.col(column).isin(*dates))
            specs = [{column: d} for d in dates]
            commit = lambda d: self.storage.replace_partitions(  # noqa: E731
                d, table.name, partitions=specs, unchanged_check=False
            )

        def write(d: DataFrame) -> CommitResult:
            self.before_commit()
            return commit(d)

        shown = tuple(",".join(f"{k}={v}" for k, v in s.items()) for s in specs)
        # The write below skips its own "unchanged?" check: this is it, asked before the gate.
        if self.storage.holds(part, table.name, specs if table.publish != "whole" else None):
            version = self.storage.catalog.version(table.name)
            rows = part.count()
            self.writes.append(
                TableWrite(table.name, rows, False, version, shown, time.perf_counter() - started, validated=False)
            )
            return df
        outcome = gate(
            self.storage,
            part,
            table.suite,
            write=write,
            run_id=self.run_id,
            run_date=max(self.run_dates),
            log=self.log,
        )
        c = outcome.commit
        rows = int(outcome.report.metrics.get("row_count", c.rows_added))
        self.writes.append(TableWrite(table.name, rows, c.committed, c.version, shown, time.perf_counter() - started))
        return df

    def _partition_dates(self, table: Table, df: DataFrame, column: str, context: Mapping[str, Any]) -> list[date]:
        """The declared partitions of the run, else those its data touched plus stale ones."""
        if table.partitions is not None:
            return sorted(set(call_with(table.partitions, context)))
        if "source_extract_date" in df.columns:
            dates = affected_dates(df, column, self.run_dates)
        else:
            dates = list(self.run_dates)
        published = self.storage.read(table.name)
        stale = stale_dates(df, published, table.keys, column, max(self.run_dates), table.foreign_keys)
        return sorted({*dates, *stale})


class _Cancelled(Exception):
    """A table of build_and_publish_all not committed because a table before it failed."""
