"""The whole pipeline at scale: ingest -> sanitize -> model on the 1M-order-line set.

History (every day but the last) runs as one backfill call per step, as ``c360 run
--from --to`` does; then the last day runs alone, as the daily job does. The model step
includes the quality gate of every table (write-audit-publish). The history builds the
Customer 360 profile for its last day only (as ``make demo`` does; a profile per day of a
backfill costs one profile build per day, which the last-day run measures). Retail
sources and one air-quality station (the generator needs one).

In the same run, two more figures (issue 16):

- the floor: plain Spark reading the same source files (``spark.read.csv`` with a header,
  ``spark.read.json``) and writing them as Parquet with no logic, against which c360's
  history is compared (ratio of seconds);
- the driver's memory during a history ingest of two sizes (the first 90 days, then the
  whole history): peak RSS of the driver's Python process, sampled every 50 ms, and of the
  JVM. Ingest parses in Spark tasks, so the Python figure must not grow with the days.

``C360_BENCH_PIPELINE_DATA=<folder>`` reuses an already generated set;
``C360_BENCH_PIPELINE_CUSTOMERS`` and ``C360_BENCH_PIPELINE_DAYS`` shrink the generated one
(a smoke run: ``C360_BENCH_PIPELINE_CUSTOMERS=2000 C360_BENCH_PIPELINE_DAYS=10``).
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import date
from pathlib import Path
from typing import TYPE_CHECKING, Any

from benchmarks.report import markdown_table, write_section

if TYPE_CHECKING:
    from pyspark.sql import SparkSession

CUSTOMERS = int(os.environ.get("C360_BENCH_PIPELINE_CUSTOMERS", "100000"))
DAYS = int(os.environ.get("C360_BENCH_PIPELINE_DAYS", "365"))
SEED = 7
SMALL_DAYS = 90  # the smaller of the two history ingests whose driver memory is measured
FOUR_FILES = "last day, facts in four files per date"
FILES_PER_DATE_BEFORE = 4  # what a history left per date before one file per partition value


def _rss(pid: int | str = "self") -> int:
    """Resident set size of a process in bytes (0 when it is gone)."""
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) * 1024
    except OSError:
        pass
    return 0


def _jvm_pid(spark: SparkSession) -> int | None:
    """The driver JVM's process id: spark-submit execs java, so it is the gateway's child."""
    proc = getattr(spark.sparkContext._gateway, "proc", None)  # type: ignore[attr-defined]
    return getattr(proc, "pid", None)


@dataclass
class Peak:
    before_python: int = 0
    python: int = 0
    jvm: int = 0
    jvm_heap: int = 0


@contextmanager
def _peak_memory(spark: SparkSession) -> Iterator[Peak]:
    """Peak RSS of this (the driver's) Python process and of the JVM while the block runs,
    sampled every 50 ms, and the JVM's used heap sampled every 0.5 s."""
    peak = Peak(before_python=_rss())
    jvm = _jvm_pid(spark)
    runtime = spark.sparkContext._jvm.java.lang.Runtime.getRuntime()  # type: ignore[union-attr]
    done = threading.Event()

    def sample() -> None:
        n = 0
        while not done.is_set():
            peak.python = max(peak.python, _rss())
            if jvm:
                peak.jvm = max(peak.jvm, _rss(jvm))
            if n % 10 == 0:
                peak.jvm_heap = max(peak.jvm_heap, runtime.totalMemory() - runtime.freeMemory())
            n += 1
            done.wait(0.05)

    thread = threading.Thread(target=sample, daemon=True)
    thread.start()
    try:
        yield peak
    finally:
        done.set()
        thread.join()
        peak.python = max(peak.python, _rss())


def _floor(spark: SparkSession, files: list[Any], out: Path) -> tuple[int, float]:
    """Plain Spark over the same source files, no logic: read each source's files (CSV with
    a header, every column a string; JSON Lines, and JSON arrays with ``multiLine``, schema
    inferred) and write them as Parquet. Returns (rows written, seconds)."""
    import pyarrow.parquet as pq

    groups: dict[tuple[str, str], list[str]] = {}
    for f in files:
        kind = f.contract.format
        if kind == "json" and ".jsonl" not in f.path.suffixes:
            kind = "json array"
        groups.setdefault((f.contract.name, kind), []).append(str(f.path))
    began = time.perf_counter()
    for (name, kind), paths in groups.items():
        if kind == "csv":
            df = spark.read.option("header", True).csv(paths)
        else:
            df = spark.read.option("multiLine", kind == "json array").json(paths)
        df.write.mode("overwrite").parquet(str(out / f"{name} {kind}"))
    seconds = time.perf_counter() - began
    rows = sum(pq.ParquetFile(p).metadata.num_rows for p in out.rglob("*.parquet"))
    return rows, seconds


def _files_per_date(storage: Any, files: int) -> None:
    """Rewrite every partitioned published table of the lake as ``files`` files per date, the
    layout a build of that many tasks left before c360 published one file per partition value."""
    from c360.registry import registry

    for table in registry().published():
        if table.publish == "partitions" and storage.exists(table.name):
            rows = storage.read(table.name).repartition(files).localCheckpoint()  # every task: every date
            storage.overwrite(rows, table.name, unchanged_check=False)


def _mib(n: int) -> str:
    return f"{n / (1 << 20):,.0f}"


def main() -> None:
    from c360.pipeline import RunContext, ingest_step, model_step, sanitize_step
    from c360.raw.ingest import discover
    from c360.settings import load_settings
    from c360.spark import get_spark

    work = Path(tempfile.mkdtemp(prefix="c360-bench-pipeline-"))
    try:
        given = os.environ.get("C360_BENCH_PIPELINE_DATA")
        data = Path(given) if given else work / "data"
        if not given:
            cmd = [str(Path(sys.executable).with_name("c360")), "mock", "generate", "--out", str(data)]
            cmd += ["--customers", str(CUSTOMERS), "--days", str(DAYS), "--seed", str(SEED), "--stations", "1"]
            subprocess.run(cmd, check=True, stdout=subprocess.DEVNULL)
        settings = load_settings(lake_root=work / "lake", spark_ui=False, spark_log_level="ERROR")
        spark = get_spark(settings)
        ctx = RunContext.create(settings, spark, "bench")
        days = sorted(p.name for p in data.iterdir() if p.is_dir() and p.name[:2] == "20")
        dates = [date.fromisoformat(d) for d in days]
        history, last = dates[:-1], dates[-1]

        # The floor first: c360's history then reads the same files, as warm in the page cache.
        # Its first day once untimed, so the session's warm-up (JIT, first jobs) is not its cost.
        readable = [f for f in discover(data) if f.contract is not None and f.verdict is None]
        _floor(spark, [f for f in readable if f.extract_date == history[0]], work / "warm-up")
        in_history = set(history)
        floor_rows, floor_s = _floor(spark, [f for f in readable if f.extract_date in in_history], work / "floor")

        # Driver memory of a history ingest, two sizes: the first days alone (own lake), then
        # the whole history below (the pipeline's lake).
        small = history[: min(SMALL_DAYS, max(1, len(history) // 4))]
        small_ctx = RunContext.create(settings.model_copy(update={"lake_root": work / "lake-small"}), spark, "bench")
        memory: list[list[object]] = []

        def measured(label: str, run: list[date], step: Callable[[], Any]) -> Any:
            with _peak_memory(spark) as peak:
                result = step()
            memory.append(
                [
                    label,
                    len(run),
                    f"{result.rows:,}",
                    _mib(peak.before_python),
                    _mib(peak.python),
                    _mib(peak.python - peak.before_python),
                    _mib(peak.jvm),
                    _mib(peak.jvm_heap),
                ]
            )
            return result

        measured("history ingest, first days", small, lambda: ingest_step(small_ctx, data, small))

        rows: list[list[object]] = []
        per_table: dict[str, dict[str, tuple[int, float]]] = {}
        history_s = history_ingest_s = 0.0
        # The last day twice, side by side: on the pipeline's lake as c360 publishes it (one file per
        # date of each partitioned table), then on a copy of the lake taken before it whose partitioned
        # tables were rewritten as four files per date, the layout a history left before (run second,
        # so if anything warmer).
        four_ctx = RunContext.create(settings.model_copy(update={"lake_root": work / "lake-four"}), spark, "bench")
        runs = (("history", history, ctx), ("last day", [last], ctx), (FOUR_FILES, [last], four_ctx))
        for label, run, run_ctx in runs:
            if label == "last day":
                shutil.copytree(settings.lake_root, four_ctx.settings.lake_root)
                _files_per_date(four_ctx.storage, FILES_PER_DATE_BEFORE)
            t0 = time.perf_counter()
            if label == "history":
                ing = measured("history ingest, every day", run, lambda run=run: ingest_step(ctx, data, run))
            else:
                ing = ingest_step(run_ctx, data, run)
            t1 = time.perf_counter()
            san = sanitize_step(run_ctx, run)
            t2 = time.perf_counter()
            mod = model_step(run_ctx, run, profile_dates=[run[-1]])
            t3 = time.perf_counter()
            if label == "history":
                history_s, history_ingest_s = t3 - t0, t1 - t0
            for t in mod.tables:
                per_table.setdefault(t.table, {})[label] = (t.rows, t.seconds)
            rows_in = sum(t.counts.get("rows_in", 0) for t in san.tables)
            modelled = sum(t.rows for t in mod.tables)
            rows += [
                [f"ingest ({label})", len(run), f"{ing.rows:,}", f"{t1 - t0:.1f}", f"{ing.rows / (t1 - t0):,.0f}"],
                [f"sanitize ({label})", len(run), f"{rows_in:,}", f"{t2 - t1:.1f}", f"{rows_in / (t2 - t1):,.0f}"],
                [
                    f"model + quality gates ({label})",
                    len(run),
                    f"{modelled:,}",
                    f"{t3 - t2:.1f}",
                    f"{modelled / (t3 - t2):,.0f}",
                ],
            ]
        history_rows = memory[-1][2]
        rows.insert(0, ["floor: Spark CSV/JSON -> Parquet (history)", len(history), f"{floor_rows:,}", f"{floor_s:.1f}",
                        f"{floor_rows / floor_s:,.0f}"])  # fmt: skip
        spark.stop()
    finally:
        shutil.rmtree(work, ignore_errors=True)
    ratio = (
        f"c360's history end to end (ingest + sanitize + model) took {history_s:.1f} s, "
        f"**{history_s / floor_s:.1f}x** the floor ({floor_s:.1f} s); its ingest alone ({history_rows} rows) "
        f"took {history_ingest_s:.1f} s, {history_ingest_s / floor_s:.1f}x the floor."
    )
    body = (
        f"`python -m benchmarks.run pipeline`: {CUSTOMERS:,} customers, {DAYS} days, seed {SEED} (about 1M order "
        "lines at the defaults), retail sources, Spark `local[*]`. History = every day but the last, one call per "
        "step (a backfill); then the last day alone (the daily run). Model rows = rows validated and published over "
        "all star and mart tables (dimensions are rebuilt as far as their inputs changed since their build "
        "record; facts rewrite the touched partitions, one file per date). The last day runs twice, side by side: on "
        "the lake as c360 publishes it, then on a copy of the lake taken before it whose partitioned tables were "
        f"rewritten as {FILES_PER_DATE_BEFORE} files per date, the layout a history of "
        f"{FILES_PER_DATE_BEFORE} tasks left before publishing wrote one file per date. The "
        "floor reads the history's source files with Spark's own readers (CSV: header, every column a string; "
        "JSON: schema inferred) and writes them as Parquet, with no logic; it runs first (after an untimed "
        "warm-up on one day), so the files are as warm in the page cache for c360 as for it.\n\n"
        + markdown_table(["step", "extract dates", "rows", "seconds", "rows/s"], rows)
        + f"\n\n{ratio}\n\n"
        + "Driver memory during a history ingest (MiB): the driver's Python process before the call and its peak "
        "during it (sampled every 50 ms), and the JVM's peak RSS and used heap. In `local[*]` the JVM is driver "
        "and executors at once, so its figures include the tasks' Parquet writing and the commits' reads; on a "
        "cluster the driver JVM only plans and commits. The Python process is where the rows used to be held.\n\n"
        + markdown_table(
            [
                "ingest",
                "extract dates",
                "rows",
                "Python before",
                "Python peak",
                "Python growth",
                "JVM peak RSS",
                "JVM peak heap used",
            ],
            memory,
        )  # fmt: skip
        + "\n\nWhere the model step's time goes (build + quality gate + commit per table; rows published):\n\n"
        + markdown_table(
            ["table", "history rows", "history s", "last day rows", "last day s", "four files per date s"],
            [
                [name, f"{h[0]:,}", f"{h[1]:.1f}", f"{d[0]:,}", f"{d[1]:.1f}", f"{f[1]:.1f}"]
                for name, runs in per_table.items()
                for h, d, f in [[runs.get(k, (0, 0.0)) for k in ("history", "last day", FOUR_FILES)]]
            ],
        )
    )
    write_section("pipeline", "Full pipeline (ingest, sanitize, model), its floor, and the driver's memory", body)
    print(body)


if __name__ == "__main__":
    main()
