"""Raw and sanitized tiers at scale: the 1M-order-line set (100k customers, 365 days, seed 7).

The full history (every day but the last) is ingested in one call and sanitized in one
call; then the last day runs alone, as the daily incremental run does. The figure that
matters for operations is the incremental day against the history: a daily run must
cost a day of data, not a year. Retail sources only (the sensor readings have their own
benchmark). ``C360_BENCH_TIERS_DATA=<folder>`` reuses an already generated set.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import TypeVar

from benchmarks.report import markdown_table, write_section

CUSTOMERS = 100_000
DAYS = 365
SEED = 7
R = TypeVar("R")


def _generate(out: Path) -> float:
    began = time.perf_counter()
    cmd = [str(Path(sys.executable).with_name("c360")), "mock", "generate", "--out", str(out)]
    cmd += ["--customers", str(CUSTOMERS), "--days", str(DAYS), "--seed", str(SEED)]
    subprocess.run(cmd, check=True, stdout=subprocess.DEVNULL)
    return time.perf_counter() - began


def _timed(fn: Callable[[], R]) -> tuple[R, float]:
    began = time.perf_counter()
    result = fn()
    return result, time.perf_counter() - began


def _files_under(root: Path) -> int:
    return sum(1 for p in root.rglob("*.parquet"))


def main() -> None:
    from c360.raw.ingest import discover, ingest
    from c360.sanitized.run import sanitize
    from c360.settings import load_settings
    from c360.spark import get_spark
    from c360.storage import DeltaStorage

    work = Path(tempfile.mkdtemp(prefix="c360-bench-tiers-"))
    try:
        given = os.environ.get("C360_BENCH_TIERS_DATA")
        data = Path(given) if given else work / "data"
        gen_seconds = None if given else _generate(data)
        settings = load_settings(lake_root=work / "lake", spark_ui=False, spark_log_level="ERROR")
        spark = get_spark(settings)
        storage = DeltaStorage(spark, settings.lake_root)
        key = settings.pseudonym_key_bytes()
        files = [f for f in discover(data) if f.contract is not None and f.contract.domain != "air_quality"]
        days = sorted({f.extract_date for f in files})
        history, last = days[:-1], days[-1]

        ingested, t_ingest = _timed(
            lambda: ingest(spark, storage, [f for f in files if f.extract_date != last], key, "bench-history")
        )
        cleaned, t_sanitize = _timed(lambda: sanitize(spark, storage, history, key, "bench-history"))
        day_in, t_day_ingest = _timed(
            lambda: ingest(spark, storage, [f for f in files if f.extract_date == last], key, "bench-day")
        )
        day_out, t_day_sanitize = _timed(lambda: sanitize(spark, storage, [last], key, "bench-day"))
        _, t_rerun = _timed(lambda: sanitize(spark, storage, [last], key, "bench-rerun"))

        def fates(report: object, fate: str) -> int:
            return sum(t.counts.get(fate, 0) for t in report.tables)  # type: ignore[attr-defined]

        rows_in, day_rows = fates(cleaned, "rows_in"), fates(day_out, "rows_in")
        items = next(t.counts["rows_in"] for t in cleaned.tables if t.table.endswith("transaction_items"))
        sanitized_files = _files_under(settings.lake_root / "sanitized")
        spark.stop()
    finally:
        shutil.rmtree(work, ignore_errors=True)

    full = t_ingest + t_sanitize
    day = t_day_ingest + t_day_sanitize
    steps = markdown_table(
        ["step", "extract dates", "rows", "seconds", "rows/s"],
        [
            [
                "ingest (history, one call)",
                len(history),
                f"{ingested.rows:,}",
                f"{t_ingest:.1f}",
                f"{ingested.rows / t_ingest:,.0f}",
            ],
            [
                "sanitize (history, one call)",
                len(history),
                f"{rows_in:,}",
                f"{t_sanitize:.1f}",
                f"{rows_in / t_sanitize:,.0f}",
            ],
            ["ingest (last day)", 1, f"{day_in.rows:,}", f"{t_day_ingest:.1f}", f"{day_in.rows / t_day_ingest:,.0f}"],
            ["sanitize (last day)", 1, f"{day_rows:,}", f"{t_day_sanitize:.1f}", f"{day_rows / t_day_sanitize:,.0f}"],
            ["sanitize (last day again: nothing changes)", 1, f"{day_rows:,}", f"{t_rerun:.1f}", "-"],
        ],
    )
    summary = markdown_table(
        ["figure", "value"],
        [
            [
                "data set",
                f"{CUSTOMERS:,} customers, {DAYS} days, seed {SEED}, defect rate 0.02, daily layout"
                + ("" if gen_seconds is None else f" (generated in {gen_seconds:.0f} s)"),
            ],
            ["order lines (history)", f"{items:,}"],
            ["history: ingest + sanitize", f"{full:.0f} s for {len(history)} days"],
            ["one incremental day: ingest + sanitize", f"{day:.1f} s ({day / full:.1%} of the history's time)"],
            [
                "history rows: sanitized / quarantined / duplicates",
                f"{fates(cleaned, 'sanitized'):,} / "
                f"{fates(cleaned, 'quarantined'):,} / "
                f"{sum(fates(cleaned, f) for f in ('duplicate_exact', 'superseded', 'unchanged_resend')):,}",
            ],
            ["sanitized Parquet files after the run", f"{sanitized_files:,}"],
        ],
    )
    body = (
        "`python -m benchmarks.run pipeline_tiers`: the generator's 1M-order-line set, retail sources, "
        "Spark `local[*]` with the default settings. The history is every day but the last, ingested "
        "in one call and sanitized in one call; the last day then runs alone (ingest + sanitize), as "
        "the daily job does.\n\n"
        f"{summary}\n\n{steps}\n"
    )
    write_section("tiers", "Raw and sanitized tiers", body)
    print(f"tiers: history {full:.0f} s ({rows_in:,} rows), one day {day:.1f} s ({day_rows:,} rows)")


if __name__ == "__main__":
    main()
