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

Build records. A table declared ``incremental`` (c360.registry.Incremental: a dimension
rebuilt whole) keeps, next to its Delta log, what its stored content was built from
(``_c360_build.json``): the table version it describes, the as-of date, a digest of the
build's code and schema, and a digest of each input's live files up to that date (read from
the input's Delta log; data files are immutable, so an equal digest means the same rows).
A later run for a date on or after it then

- builds nothing, gates nothing and commits nothing when the inputs hold the same files up
  to the recorded date and no rows after it up to the run's date: the stored rows are what
  the build would give;
- with a ``key``, rebuilds only the groups (values of the key) that changed: those that input
  rows delivered since the recorded date name in any of their versions, and those whose
  looked-up dimension rows changed (c360.registry.Incremental). Their history is read only
  from the files whose statistics may hold them. A whole-published table keeps the stored
  rows of every other group (whole table still gated and written once); a partitioned fact
  rewrites the partitions the changed groups touch, found from its held digests. This is
  done only for a table holding at least ``groups_min_rows`` rows (c360.settings); a smaller
  one is rebuilt whole, since finding the groups costs Spark jobs its whole build does not;
- rebuilds whole otherwise: no record, a record of another table version (erasure,
  compaction, a failed write), other code, an older run date (a past date rebuilt), or
  input files changed up to the recorded date (a date re-sanitized, an input compacted).

So the content is always the whole build's content (tests/enhanced/test_incremental_dims.py
holds the three ways to the same rows).

Held digests. A partitioned fact keeps, next to its Delta log, the digest of each partition
it holds (``_c360_partitions.json``, :class:`HeldDigests`), written after each publish and
naming the table version it describes. A later run finds the stale partitions by comparing
its build's digests with them (c360.enhanced.common.partitions_to_write), without reading
the published rows; digests of another version are ignored and the published rows read.
"""

from __future__ import annotations

import functools
import hashlib
import inspect
import json
import os
import sys
import threading
import time
from collections.abc import Callable, Mapping, MutableMapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import date
from pathlib import Path
from typing import Any

import pyarrow as pa
from pyspark.sql import Column, DataFrame
from pyspark.sql import functions as F

from c360.enhanced.common import Digest, PartitionPlan, as_of, partitions_to_write, partitions_to_write_groups
from c360.inorder import Turn, run_in_order
from c360.quality.gate import GateLog
from c360.quality.suite import TableSuite
from c360.registry import Table, call_with
from c360.storage import CommitResult, DeltaStorage, TableNotFoundError, VersionNotKeptError


class MissingInputError(RuntimeError):
    """The sanitized tables a step reads do not exist yet (run ingest and sanitize first)."""


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
    # How it was built: "whole", "keys" (only the keys delivered since its build record; ``keys``
    # is how many) or "none" (its inputs had not changed since the record: nothing built).
    build: str = "whole"
    keys: int | None = None


RECORD_FILE = "_c360_build.json"  # in the table's folder; "_" names are not data to Delta
DIGESTS_FILE = "_c360_partitions.json"  # likewise: a partitioned fact's digest per partition


@dataclass(frozen=True)
class BuildRecord:
    """What the stored content of an incremental table was built from (module docstring)."""

    table_version: int
    as_of: date
    code: str
    inputs: dict[str, str]  # input table -> digest of its live files up to as_of
    lookups: dict[str, int] = field(default_factory=dict)  # looked-up table -> the version read

    @classmethod
    def read(cls, path: Path) -> BuildRecord | None:
        """The record at ``path``, or None when there is none or it cannot be read (a rebuild)."""
        try:
            raw = json.loads(path.read_text())
            as_of = date.fromisoformat(raw["as_of"])
            lookups = {str(n): int(v) for n, v in raw.get("lookups", {}).items()}
            return cls(int(raw["table_version"]), as_of, str(raw["code"]), dict(raw["inputs"]), lookups)
        except (OSError, ValueError, KeyError, TypeError, AttributeError):
            return None

    def write(self, path: Path) -> None:
        """Atomically: a reader sees the old record or the new one."""
        body = {"table_version": self.table_version, "as_of": self.as_of.isoformat(), "code": self.code,
                "inputs": self.inputs, "lookups": self.lookups}  # fmt: skip
        write_record(path, body)


@dataclass
class _LookupChanges:
    """The keys of each looked-up table whose rows changed since a version, shared by the
    tables of one step (Publisher._changed_keys)."""

    keys: dict[tuple[str, int], DataFrame | None] = field(default_factory=dict)
    lock: threading.Lock = field(default_factory=threading.Lock)


@dataclass(frozen=True)
class _Groups:
    """An incremental table's groups a run changed (``chosen``, one column ``key``), their
    rows built again, and the stored table they replace rows of."""

    key: str
    stored: DataFrame
    chosen: DataFrame
    rebuilt: DataFrame
    count: int

    def whole(self) -> DataFrame:
        """The whole build: the stored rows of every other group, and the rebuilt ones."""
        return self.stored.join(self.chosen, self.key, "left_anti").unionByName(self.rebuilt)


@dataclass
class _Change:
    """What changed in an incremental table's inputs since its build record: rows delivered
    after the record's date per input (0: none), and the looked-up tables rewritten since,
    with the version the record read."""

    delivered: dict[str, int] = field(default_factory=dict)
    lookups: dict[str, int] = field(default_factory=dict)

    def any(self) -> bool:
        return any(self.delivered.values()) or bool(self.lookups)


@dataclass(frozen=True)
class HeldDigests:
    """What each partition of a partitioned fact holds, as of one table version: its rows and
    the sum of their key digests (c360.enhanced.common.partitions_to_write), so that a run
    finds the partitions its build changed without reading the published rows back.

    Written after each publish of the table, and trusted only for the version it names and
    for the table's current keys and foreign keys (``form``): any other commit (an erasure, a
    compaction, a failed write) leaves it behind, and the next run reads the table instead."""

    table_version: int
    form: str
    partitions: dict[date, Digest]

    @classmethod
    def read(cls, path: Path) -> HeldDigests | None:
        try:
            raw = json.loads(path.read_text())
            held = {date.fromisoformat(p): (int(n), int(h)) for p, (n, h) in raw["partitions"].items()}
            return cls(int(raw["table_version"]), str(raw["form"]), held)
        except (OSError, ValueError, KeyError, TypeError):
            return None

    def write(self, path: Path) -> None:
        body = {"table_version": self.table_version, "form": self.form,
                "partitions": {p.isoformat(): list(d) for p, d in sorted(self.partitions.items())}}  # fmt: skip
        write_record(path, body)

    @staticmethod
    def form_of(table: Table) -> str:
        """What the digests are of: the table's keys and foreign keys, and how they are hashed."""
        return json.dumps(["xxhash64-v1", list(table.keys), list(table.foreign_keys), list(table.partition_by)])


def write_record(path: Path, body: Mapping[str, Any]) -> None:
    """A record file (JSON) written atomically: a reader sees the old record or the new one."""
    tmp = path.with_name(f".{path.name}.{os.getpid()}.{threading.get_ident()}")
    tmp.write_text(json.dumps(body, indent=1, sort_keys=True))
    os.replace(tmp, path)


def code_digest(table: Table) -> str:
    """A digest of what decides an incremental table's rows besides its inputs: its schema,
    the source of its build's module and of the shared model helpers."""
    from c360.enhanced import common

    assert table.build is not None  # noqa: S101 - registry guarantees it for incremental tables
    parts = [table.schema.json(), inspect.getsource(sys.modules[table.build.__module__]), inspect.getsource(common)]
    return hashlib.sha256("\0".join(parts).encode()).hexdigest()


@dataclass
class Publisher:
    """Publishes the tables of one step run, and records what each write did."""

    storage: DeltaStorage
    run_id: str
    run_dates: Sequence[date]
    run_log: GateLog | None = None  # the run's log, which the run flushes; None: the step keeps its own
    incremental: bool = True  # False: incremental tables are rebuilt whole (and their records renewed)
    groups_min_rows: int = 0  # a keyed incremental table holding fewer rows is rebuilt whole (0: never)
    writes: list[TableWrite] = field(default_factory=list)
    log: GateLog = field(init=False)
    # Called just before a commit (build_and_publish_all's turn); raising stops the commit.
    before_commit: Callable[[], None] = field(default=lambda: None, repr=False)
    lookups: _LookupChanges = field(default_factory=lambda: _LookupChanges(), repr=False)

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
        ``frames``; ``workers`` tables at a time (c360.inorder).

        A table starts once every table it reads or is checked against has finished, and the
        tables commit in order. What runs at the same time is the rest: building,
        checkpointing, the "already holds?" check and the gate, which for a day's few rows are
        mostly fixed latency per Spark job. A failing table's gate results are still recorded;
        those of the tables after it, cut short, are not.
        """
        if workers <= 1:
            for table in tables:
                frames[table.name] = self.build_and_publish(table, frames, context)
            return

        def publish_in_turn(table: Table, turn: Turn) -> None:
            # A private gate log and writes, handed over in table order once the commit is done.
            own = Publisher(
                self.storage,
                self.run_id,
                self.run_dates,
                GateLog(self.storage),
                self.incremental,
                groups_min_rows=self.groups_min_rows,
            )
            own.lookups = self.lookups
            own.before_commit = turn
            try:
                frame = own.build_and_publish(table, frames, context)
            finally:
                turn()  # an earlier failure: nothing of this table is kept, not even its gate
                self.log.pending += own.log.pending
                self.writes += own.writes
            frames[table.name] = frame

        run_in_order(
            tables,
            publish_in_turn,
            key=lambda t: t.name,
            needs=lambda t: (*t.sources, *t.checked_against),
            workers=workers,
            thread_name="c360-publish",
        )

    def build_and_publish(self, table: Table, frames: Mapping[str, DataFrame], context: Mapping[str, Any]) -> DataFrame:
        """Build ``table`` from its inputs and publish it; returns the whole built frame
        (checkpointed), for the tables built from it later in the same run."""
        started = time.perf_counter()
        if table.incremental is not None:
            return self._build_incremental(table, frames, context, started)
        df = table.call_build(frames, context)
        return self.publish(table, df, context, started)

    def _build_incremental(
        self, table: Table, frames: Mapping[str, DataFrame], context: Mapping[str, Any], started: float
    ) -> DataFrame:
        """An ``incremental`` table: nothing, its changed groups, or the whole build (module docstring)."""
        assert table.incremental is not None  # noqa: S101 - the caller checked
        catalog = self.storage.catalog
        as_of, code = max(self.run_dates), code_digest(table)
        pinned = context.get("input_versions", {})
        versions = {n: pinned.get(n, catalog.version(n) if catalog.exists(n) else -1) for n in table.sources}
        path = self.storage.path(table.name) / RECORD_FILE
        record = BuildRecord.read(path) if self.storage.exists(table.name) else None
        change = self._change_since(table, record, versions, as_of, code) if self.incremental else None
        how, count = "whole", None
        if change is not None and not change.any():
            df = self.storage.read(table.name)
            self._record(table, path, versions, as_of, code)
            version = catalog.version(table.name)
            self.writes.append(
                TableWrite(table.name, 0, False, version, (), time.perf_counter() - started, False, "none")
            )
            return df
        groups = None
        if change is not None and record is not None and table.incremental.key is not None and self._groups_pay(table):
            groups = self._build_groups(table, frames, context, record, change)
        if groups is None or record is None:
            out = self.publish(table, table.call_build(frames, context), context, started)
        else:
            how, count = "keys", groups.count
            published = self._publish_groups(table, groups, record, started)
            out = published if published is not None else self.publish(table, groups.whole(), context, started)
        self._record(table, path, versions, as_of, code)
        self.writes[-1] = replace(self.writes[-1], build=how, keys=count)
        return out

    def _groups_pay(self, table: Table) -> bool:
        """Whether the table holds enough rows (``groups_min_rows``, counted from its Delta log)
        for its changed groups to cost less to find and rebuild than its whole build."""
        if not self.groups_min_rows:
            return True
        return sum(self.storage.catalog.row_counts(table.name).values()) >= self.groups_min_rows

    def _change_since(
        self, table: Table, record: BuildRecord | None, versions: Mapping[str, int], as_of: date, code: str
    ) -> _Change | None:
        """What changed in the inputs since the stored build, or None when the record cannot
        vouch for the stored rows (a whole rebuild)."""
        assert table.incremental is not None  # noqa: S101 - the caller checked
        catalog = self.storage.catalog
        if (
            record is None
            or record.table_version != catalog.version(table.name)
            or record.code != code
            or record.as_of > as_of
            or set(record.inputs) != set(table.sources)
        ):
            return None
        lookups = {table.inputs[p] for p in table.incremental.lookups}
        change = _Change()
        for name in table.sources:
            digest, later = catalog.extract_state(name, versions[name], record.as_of, as_of)
            if digest == record.inputs[name]:
                change.delivered[name] = later or 0
            elif later is None and name in lookups and name in record.lookups:
                change.lookups[name] = record.lookups[name]  # a dimension rewritten: compare its rows
            else:
                return None
        return change

    def _build_groups(
        self,
        table: Table,
        frames: Mapping[str, DataFrame],
        context: Mapping[str, Any],
        record: BuildRecord,
        change: _Change,
    ) -> _Groups | None:
        """The groups the change touched and their build (c360.registry.Incremental). None: a
        whole rebuild (a dimension's recorded version no longer kept, a group without a value)."""
        assert table.incremental is not None  # noqa: S101 - the caller checked
        inc, key = table.incremental, table.incremental.key
        assert key is not None  # noqa: S101 - the caller checked
        names = {n: p for p, n in table.inputs.items()}
        stored = self.storage.read(table.name)
        ids = {n: inc.ids.get(names[n], key) for n in table.sources if names[n] not in inc.lookups}

        def holding(name: str, column: str, values: DataFrame, wanted: Sequence[Any] | None = None) -> DataFrame:
            wanted = [r[0] for r in values.collect()] if wanted is None else wanted
            return self._rows_holding(frames, context, name, column, values, wanted)

        groups: list[DataFrame] = []
        for name, rows in change.delivered.items():
            if not rows or name not in ids:
                continue
            delivered = frames[name].filter(F.col("_extract_date") > F.lit(record.as_of)).select(ids[name])
            if ids[name] != key:  # every version of a delivered row: a re-delivery can move it
                delivered = holding(name, ids[name], delivered.distinct().localCheckpoint())
            groups.append(delivered.select(key))
        for param, (natural, column) in inc.lookups.items():
            name = table.inputs[param]
            if name in change.lookups:
                keys = self._changed_keys(name, change.lookups[name], frames[name], natural)
            elif change.delivered.get(name):
                keys = frames[name].filter(F.col("_extract_date") > F.lit(record.as_of)).select(natural)
            else:
                continue
            if keys is None:
                return None
            named = F.broadcast(keys.distinct().withColumnRenamed(natural, column))
            groups.append(stored.join(named, column, "left_semi").select(key))
        changed = functools.reduce(DataFrame.unionByName, groups).distinct().localCheckpoint()
        group_keys = [r[0] for r in changed.collect()]  # for the files' statistics, and counted
        if any(k is None for k in group_keys):
            return None  # a row without a group value: no join can find it again
        chosen = F.broadcast(changed)
        narrowed = dict(frames)
        for name, column in ids.items():
            if column == key:
                narrowed[name] = holding(name, key, changed, group_keys)
            else:
                members = holding(name, key, changed, group_keys).select(column).distinct().localCheckpoint()
                narrowed[name] = holding(name, column, members)
        rebuilt = table.call_build(narrowed, context).join(chosen, key, "left_semi")
        return _Groups(key, stored, chosen, rebuilt, len(group_keys))

    def _rows_holding(
        self,
        frames: Mapping[str, DataFrame],
        context: Mapping[str, Any],
        name: str,
        column: str,
        values: DataFrame,
        wanted: Sequence[Any],
    ) -> DataFrame:
        """The rows of input ``name``, as the step read it, whose ``column`` holds one of
        ``values`` (a small frame of that one column; ``wanted``: its values, collected), read
        only from the files whose statistics may hold them (``DeltaStorage.read``'s
        ``holding``): a day's groups sit in a few of a history's files, where a semi-join over
        the frame read them all. An input the step did not read from the lake at a version (a
        table built in this run) is joined as it is."""
        version = context.get("input_versions", {}).get(name, -1)
        if version < 0:
            return frames[name].join(F.broadcast(values), column, "left_semi")
        files = self.storage.read(name, version=version, holding={column: wanted})
        return as_of(files, max(self.run_dates)).join(F.broadcast(values), column, "left_semi")

    def _publish_groups(self, table: Table, groups: _Groups, record: BuildRecord, started: float) -> DataFrame | None:
        """Publish a partitioned fact whose build is its stored rows with some groups rebuilt,
        reading only those groups' stored rows and the partitions they touch; returns the
        published table. None: publish the whole build instead (a whole-published table,
        declared partitions, digests of another version, a re-run of the recorded date)."""
        if table.publish == "whole" or table.partitions is not None or record.as_of >= min(self.run_dates):
            return None
        kept = HeldDigests.read(self.storage.path(table.name) / DIGESTS_FILE)
        version = self.storage.catalog.version(table.name)
        if kept is None or kept.form != HeldDigests.form_of(table) or kept.table_version != version:
            return None
        (column,) = table.partition_by
        rebuilt = groups.rebuilt.localCheckpoint()
        leaving = groups.stored.join(groups.chosen, groups.key, "left_semi")
        plan = partitions_to_write_groups(
            leaving, rebuilt, table.keys, column, self.run_dates, table.foreign_keys, kept.partitions
        )
        if plan is None:
            return None
        # Only the partitions to write are read back: the rest of the fact stays in its files.
        stored = self.storage.read(table.name, partitions={column: plan.dates})
        part = stored.join(groups.chosen, groups.key, "left_anti").unionByName(
            rebuilt.filter(F.col(column).isin(*plan.dates))
        )
        self._write(table, part, plan.dates, sum(plan.counts.get(d, 0) for d in plan.dates), plan, started)
        # The tables built from it later (the marts) read it from its files: holding it in
        # memory first cost more than their reads (docs/benchmarks.md).
        return self.storage.read(table.name)

    def _changed_keys(self, name: str, version: int, now: DataFrame, natural: str) -> DataFrame | None:
        """The natural keys whose rows differ between version ``version`` of a whole-published
        table and ``now``, found once per run and looked-up table (every fact of a day looks up
        the same customers); None when that version is no longer kept or had other columns."""
        with self.lookups.lock:
            if (name, version) not in self.lookups.keys:
                self.lookups.keys[name, version] = self._differing_keys(name, version, now, natural)
            return self.lookups.keys[name, version]

    def _differing_keys(self, name: str, version: int, now: DataFrame, natural: str) -> DataFrame | None:
        try:
            before = self.storage.read(name, version=version)
        except (TableNotFoundError, VersionNotKeptError):
            return None
        if sorted(before.columns) != sorted(now.columns):
            return None
        columns = sorted(now.columns)
        # Each row as its key and two hashes of its values and of which of them are NULL (a hash
        # skips a NULL, so without the flags two rows with a value in swapped places would tie).
        # A key's rows differ when the sums of those hashes over its rows differ: one aggregation
        # over both versions, a key's old rows counted negative.
        values: list[Column | str] = [*columns, *[F.isnull(c) for c in columns]]
        hashes = [F.xxhash64(*values).cast("decimal(38,0)"), F.hash(*values).cast("decimal(38,0)")]

        def signed(df: DataFrame, sign: int) -> DataFrame:
            return df.select(
                natural, F.lit(sign).alias("n"), *[(h * sign).alias(f"h{i}") for i, h in enumerate(hashes)]
            )

        sums = (
            signed(before, -1)
            .unionByName(signed(now, 1))
            .groupBy(natural)
            .agg(*[F.sum(c).alias(c) for c in ("n", "h0", "h1")])
        )
        return sums.filter("n <> 0 OR h0 <> 0 OR h1 <> 0").select(natural).localCheckpoint()

    def _record(self, table: Table, path: Path, versions: Mapping[str, int], as_of: date, code: str) -> None:
        """Record that the table's current content is its build as of ``as_of`` from the inputs
        at ``versions``."""
        assert table.incremental is not None  # noqa: S101 - only incremental tables keep a record
        catalog = self.storage.catalog
        inputs = {n: catalog.extract_state(n, versions[n], as_of, as_of)[0] for n in table.sources}
        lookups = {table.inputs[p]: versions[table.inputs[p]] for p in table.incremental.lookups}
        BuildRecord(catalog.version(table.name), as_of, code, inputs, lookups).write(path)

    def publish(
        self, table: Table, df: DataFrame, context: Mapping[str, Any], started: float | None = None
    ) -> DataFrame:
        """Publish ``df``, the table's whole build: the whole table, or the partitions to write
        (module docstring); returns it checkpointed."""
        started = time.perf_counter() if started is None else started
        self._suite(table)
        table.ensure(self.storage)
        df = df.localCheckpoint()
        if table.publish == "whole":
            self._write(table, df, None, None, None, started)
            return df
        (column,) = table.partition_by
        dates, row_count, plan = self._partition_dates(table, df, column, context)
        self._write(table, df.filter(F.col(column).isin(*dates)), dates, row_count, plan, started)
        return df

    def _write(
        self,
        table: Table,
        part: DataFrame,
        dates: list[date] | None,
        row_count: int | None,
        plan: PartitionPlan | None,
        started: float,
    ) -> None:
        """Gate and commit ``part``: the whole table (``dates`` None) or these partitions of
        it, unless the table already holds exactly these rows. ``row_count``: part's rows, when
        known without a job of its own; ``plan``: a partitioned fact's partitions, and their
        digests once written."""
        from c360.quality import publish as gate

        suite = self._suite(table)
        commit: Callable[[DataFrame, pa.Table | None], CommitResult]
        specs: list[dict[str, Any]] = []
        if dates is None:
            commit = lambda d, rows: self.storage.overwrite(d, table.name, unchanged_check=False, rows=rows)  # noqa: E731
        else:
            (column,) = table.partition_by
            specs = [{column: d} for d in dates]
            commit = lambda d, rows: self.storage.replace_partitions(  # noqa: E731
                d, table.name, partitions=specs, unchanged_check=False, rows=rows
            )

        def write(d: DataFrame, rows: pa.Table | None) -> CommitResult:
            self.before_commit()
            # One file per partition value: each task of the build holds rows of every date, so
            # without this a fact got a file per date from each task (four per date after a
            # history), and every later pass over its history opened them all. Rows the gate
            # collected are written so already, with no Spark job.
            return commit(d.repartition(*table.partition_by) if table.partition_by else d, rows)

        shown = tuple(",".join(f"{k}={v}" for k, v in s.items()) for s in specs)
        # The write below skips its own "unchanged?" check: this is it, asked before the gate.
        if self.storage.holds(part, table.name, specs if dates is not None else None, row_count=row_count):
            version = self.storage.catalog.version(table.name)
            rows = row_count if row_count is not None else part.count()
            self._keep_digests(table, plan, version)
            self.writes.append(
                TableWrite(table.name, rows, False, version, shown, time.perf_counter() - started, validated=False)
            )
            return
        outcome = gate(
            self.storage,
            part,
            suite,
            write=write,
            run_id=self.run_id,
            run_date=max(self.run_dates),
            log=self.log,
        )
        c = outcome.commit
        self._keep_digests(table, plan, c.version)
        rows = int(outcome.report.metrics.get("row_count", c.rows_added))
        self.writes.append(TableWrite(table.name, rows, c.committed, c.version, shown, time.perf_counter() - started))

    @staticmethod
    def _suite(table: Table) -> TableSuite:
        if table.suite is None:
            raise ValueError(f"{table.name} has no quality suite: a published table needs one")
        return table.suite

    def _partition_dates(
        self, table: Table, df: DataFrame, column: str, context: Mapping[str, Any]
    ) -> tuple[list[date], int | None, PartitionPlan | None]:
        """The declared partitions of the run, else those its data touched plus stale ones
        (c360.enhanced.common.partitions_to_write, against the digests the table kept when
        they are of its current version, else against its rows); how many of ``df``'s rows
        they hold, when that came with them; and the plan they came from."""
        if table.partitions is not None:
            return sorted(set(call_with(table.partitions, context))), None, None
        if column in table.keys and not table.foreign_keys:
            # A row whose key holds its partition value never moves, and none heals: no
            # partition can be stale, so there is nothing to compare (a profile's past dates).
            plan = partitions_to_write(df, (), column, self.run_dates)
            return plan.dates, sum(plan.counts.get(d, 0) for d in plan.dates), None
        kept = HeldDigests.read(self.storage.path(table.name) / DIGESTS_FILE)
        fresh = (
            kept is not None
            and kept.form == HeldDigests.form_of(table)
            and kept.table_version == self.storage.catalog.version(table.name)
        )
        plan = partitions_to_write(
            df,
            table.keys,
            column,
            self.run_dates,
            table.foreign_keys,
            published=None if fresh else self.storage.read(table.name),
            held=kept.partitions if fresh and kept is not None else None,
        )
        if not all(isinstance(d, date) for d in plan.counts if d is not None):
            return plan.dates, None, None
        return plan.dates, sum(plan.counts.get(d, 0) for d in plan.dates), plan

    def _keep_digests(self, table: Table, plan: PartitionPlan | None, version: int | None) -> None:
        """Record what each partition holds at ``version``, the table's content once the plan's
        partitions hold the build's rows (:class:`HeldDigests`)."""
        if plan is None or version is None:
            return
        HeldDigests(version, HeldDigests.form_of(table), plan.held).write(self.storage.path(table.name) / DIGESTS_FILE)
