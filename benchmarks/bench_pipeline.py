"""The whole pipeline at scale: ingest -> sanitize -> model on the 1M-order-line set.

History (every day but the last) runs as one backfill call per step, as ``c360 run
--from --to`` does; then the last day runs alone, as the daily job does. The model step
includes the quality gate of every table (write-audit-publish). The history builds the
Customer 360 profile for its last day only (as ``make demo`` does; a profile per day of a
backfill costs one profile build per day, which the last-day run measures). Retail
sources and one air-quality station (the generator needs one).
``C360_BENCH_PIPELINE_DATA=<folder>`` reuses an already generated set.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from benchmarks.report import markdown_table, write_section

CUSTOMERS = 100_000
DAYS = 365
SEED = 7


def main() -> None:
    from c360.pipeline import RunContext, ingest_step, model_step, sanitize_step
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
        from datetime import date

        dates = [date.fromisoformat(d) for d in days]
        history, last = dates[:-1], dates[-1]
        rows: list[list[object]] = []
        per_table: dict[str, dict[str, tuple[int, float]]] = {}
        for label, run in (("history", history), ("last day", [last])):
            t0 = time.perf_counter()
            ing = ingest_step(ctx, data, run)
            t1 = time.perf_counter()
            san = sanitize_step(ctx, run)
            t2 = time.perf_counter()
            mod = model_step(ctx, run, profile_dates=[run[-1]])
            t3 = time.perf_counter()
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
        spark.stop()
    finally:
        shutil.rmtree(work, ignore_errors=True)
    body = (
        f"`python -m benchmarks.run pipeline`: {CUSTOMERS:,} customers, {DAYS} days, seed {SEED} (about 1M order "
        "lines), retail sources, Spark `local[*]`. History = every day but the last, one call per step (a "
        "backfill); then the last day alone (the daily run). Model rows = rows validated and published over "
        "all star and mart tables (dimensions are rebuilt each run; facts rewrite the touched partitions).\n\n"
        + markdown_table(["step", "extract dates", "rows", "seconds", "rows/s"], rows)
        + "\n\nWhere the model step's time goes (build + quality gate + commit per table; rows published):\n\n"
        + markdown_table(
            ["table", "history rows", "history s", "last day rows", "last day s"],
            [
                [name, f"{h[0]:,}", f"{h[1]:.1f}", f"{d[0]:,}", f"{d[1]:.1f}"]
                for name, runs in per_table.items()
                for h, d in [(runs.get("history", (0, 0.0)), runs.get("last day", (0, 0.0)))]
            ],
        )
    )
    write_section("pipeline", "Full pipeline (ingest, sanitize, model)", body)
    print(body)


if __name__ == "__main__":
    main()
