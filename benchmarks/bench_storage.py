"""Storage layer overhead: a 1M-row append through DeltaStorage vs the same Spark Parquet write.

Both write the same cached DataFrame (so input generation is not timed), alternating
A/B three times in one session; the median of each is reported with the ratio. The
difference is the bridge's own work: moving files out of staging, reading Parquet
footers for statistics, and the delta-rs commit.

Then a day's small write, what most of a daily run's tables are: 300 rows over three dates
replacing their partitions, written by a Spark job, collected and written by pyarrow
(``rows=df.toArrow()``), and from rows the caller already holds (the quality gate's
collect), alternating, SMALL_REPEATS times each.
"""

from __future__ import annotations

import shutil
import statistics
import tempfile
import time
from pathlib import Path
from typing import TYPE_CHECKING

from benchmarks.report import markdown_table, write_section

if TYPE_CHECKING:
    from pyspark.sql import DataFrame

    from c360.storage import DeltaStorage

ROWS = 1_000_000
REPEATS = 3
SMALL_ROWS = 300
SMALL_REPEATS = 10


def main() -> None:
    from pyspark.sql import functions as F

    from c360.settings import Settings
    from c360.spark import get_spark
    from c360.storage import DeltaStorage

    work = Path(tempfile.mkdtemp(prefix="c360-bench-storage-"))
    settings = Settings(lake_root=work / "lake", spark_master="local[2]", spark_ui=False, spark_log_level="ERROR")
    spark = get_spark(settings)
    storage = DeltaStorage(spark, settings.lake_root)
    df = (
        spark.range(ROWS)
        .select(
            F.col("id"),
            (F.col("id") % 1000).cast("string").alias("customer_id"),
            (F.rand(7) * 500).cast("decimal(12,2)").alias("amount"),
            F.timestamp_seconds(F.lit(1_704_067_200) + F.col("id") % 86_400).alias("at"),
            F.date_add(F.lit("2024-01-01").cast("date"), (F.col("id") % 8).cast("int")).alias("day"),
        )
        .repartition(4)
        .cache()
    )
    df.count()
    spark_times, delta_times = [], []
    try:
        for i in range(REPEATS):
            target = work / f"parquet-{i}"
            t0 = time.perf_counter()
            df.write.partitionBy("day").parquet(str(target))
            spark_times.append(time.perf_counter() - t0)

            t0 = time.perf_counter()
            storage.append(df, f"raw.bench.events_{i}", partition_by=["day"])
            delta_times.append(time.perf_counter() - t0)
        three_days = df.filter(F.col("day") <= F.lit("2024-01-03").cast("date")).limit(SMALL_ROWS)
        small = _small_writes(storage, three_days.localCheckpoint())
    finally:
        spark.stop()
        shutil.rmtree(work, ignore_errors=True)
    s, d = statistics.median(spark_times), statistics.median(delta_times)
    body = (
        f"{ROWS:,} rows (id, customer_id, decimal amount, UTC timestamp, 8 date partitions), 4 Spark tasks,"
        " `local[2]`, the same cached frame written alternately, median of "
        f"{REPEATS}.\n\n"
        + markdown_table(
            ["write", "median s", "runs (s)", "rows/s"],
            [
                [
                    "Spark `df.write.parquet` alone",
                    f"{s:.2f}",
                    ", ".join(f"{t:.2f}" for t in spark_times),
                    f"{ROWS / s:,.0f}",
                ],
                [
                    "`DeltaStorage.append` (staging + stats + delta-rs commit)",
                    f"{d:.2f}",
                    ", ".join(f"{t:.2f}" for t in delta_times),
                    f"{ROWS / d:,.0f}",
                ],
            ],
        )
        + f"\n\nOverhead of the storage layer: **{d / s:.2f}x** the plain Spark write ({d - s:+.2f} s)."
        + (
            " The storage path came out faster, which is noise: it does the same Spark write plus its own work."
            " Read the spread of the runs as the measurement's resolution on this machine."
            if d < 0.95 * s
            else " The first run of each is JVM warm-up; compare the later runs."
        )
    )
    body += (
        f"\n\nA day's small write: {SMALL_ROWS} of those rows over three dates, replacing their partitions"
        f" in a table of that layout, alternately, {SMALL_REPEATS} times each (the frame checkpointed, so its"
        " computation is not timed):\n\n"
        + markdown_table(
            ["write", "median s", "min-max s"],
            [[label, f"{statistics.median(t):.3f}", f"{min(t):.3f}-{max(t):.3f}"] for label, t in small.items()],
        )
    )
    print(body)
    write_section("storage", "Storage layer: append vs plain Spark Parquet write", body)


def _small_writes(storage: DeltaStorage, df: DataFrame) -> dict[str, list[float]]:
    """Seconds of each way to replace a small frame's partitions, alternated."""
    collected = df.toArrow()
    specs = [{"day": r["day"]} for r in df.select("day").distinct().collect()]
    ways = {
        "Spark write job (one file per date)": lambda t: storage.replace_partitions(
            df.repartition("day"), t, partitions=specs, unchanged_check=False
        ),
        "`toArrow()`, then pyarrow writes (`rows=`)": lambda t: storage.replace_partitions(
            df, t, partitions=specs, unchanged_check=False, rows=df.toArrow()
        ),
        "rows already collected (the gate's case)": lambda t: storage.replace_partitions(
            df, t, partitions=specs, unchanged_check=False, rows=collected
        ),
    }
    for k in range(len(ways)):
        storage.ensure_table(f"raw.bench.small_{k}", df.schema, ["day"])
    times: dict[str, list[float]] = {k: [] for k in ways}
    for i in range(SMALL_REPEATS + 1):  # the first round warms every way up, unrecorded
        for k, (label, write) in enumerate(ways.items()):
            t0 = time.perf_counter()
            write(f"raw.bench.small_{k}")
            if i:
                times[label].append(time.perf_counter() - t0)
    return times


if __name__ == "__main__":
    main()
