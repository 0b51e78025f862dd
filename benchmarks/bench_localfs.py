"""Spark's writes through Hadoop's local file system vs c360's (c360/jvm/LocalFileSystem.java).

Without Hadoop's native library, which pyspark does not ship, Hadoop's local file system sets
the permission of every folder and file a write creates (checksum files included) by starting
a ``chmod`` process. c360's subclass sets the same modes with a system call. One warm session,
the two file systems alternating (``fs.file.impl`` switched and Hadoop's file system cache
emptied, so the next write opens the other), each job timed ``REPEAT`` times per round;
medians over every round. Needs the jar ``make venv`` builds.
"""

from __future__ import annotations

import shutil
import tempfile
from collections.abc import Callable
from pathlib import Path

from benchmarks.report import markdown_table, medians_against_first, time_alternating, write_section

ROUNDS = 3
REPEAT = 3
ROWS = 1_000_000
DATES = 364
HADOOPS = "org.apache.hadoop.fs.LocalFileSystem"


def main() -> None:
    from pyspark.sql import functions as F

    from c360.settings import Settings
    from c360.spark import LOCAL_FS_CLASS, get_spark, local_fs_conf
    from c360.storage import DeltaStorage

    if not local_fs_conf():
        raise SystemExit("no c360 Hadoop jar in this environment: make venv builds it (javac needed)")
    work = Path(tempfile.mkdtemp(prefix="c360-bench-localfs-"))
    settings = Settings(lake_root=work / "lake", spark_ui=False, spark_log_level="ERROR")
    spark = get_spark(settings)
    storage = DeltaStorage(spark, settings.lake_root)
    jvm = spark.sparkContext._jvm
    conf = spark.sparkContext._jsc.hadoopConfiguration()  # type: ignore[union-attr]

    def use(cls: str) -> Callable[[], None]:
        def switch() -> None:
            conf.set("fs.file.impl", cls)
            jvm.org.apache.hadoop.fs.FileSystem.closeAll()  # type: ignore[union-attr]
            fs = jvm.org.apache.hadoop.fs.Path(f"file:{work}").getFileSystem(conf)  # type: ignore[union-attr]
            assert fs.getClass().getName() == cls

        return switch

    year = (
        spark.range(ROWS)
        .select(
            F.date_add(F.lit("2024-01-01").cast("date"), (F.col("id") % DATES).cast("int")).alias("day"),
            F.col("id"),
            F.sha2(F.col("id").cast("string"), 256).alias("text"),
            (F.col("id") % 1000 / 7).alias("amount"),
        )
        .localCheckpoint()
    )
    small = spark.range(300).select(
        F.col("id"), F.date_add(F.lit("2024-01-01").cast("date"), (F.col("id") % 3).cast("int")).alias("day")
    )

    def year_write() -> None:  # a history's partitioned write: one file per date, as sanitize's
        out = work / "year"
        shutil.rmtree(out, ignore_errors=True)
        year.repartition("day").write.partitionBy("day").parquet(str(out))

    def day_write() -> None:  # a day's small Spark write of three dates, committed to a Delta table
        storage.overwrite(small, "raw.bench.small", partition_by=["day"])

    jobs: dict[str, Callable[[], None]] = {
        f"{ROWS:,} rows over {DATES} dates, one file per date": year_write,
        "300 rows over 3 dates, Delta table (storage.overwrite)": day_write,
    }
    sides = {"Hadoop's (a chmod process per file)": use(HADOOPS), "c360's (a system call)": use(LOCAL_FS_CLASS)}
    try:
        times = time_alternating(sides, jobs, ROUNDS, REPEAT)
    finally:
        use(LOCAL_FS_CLASS)()
        shutil.rmtree(work, ignore_errors=True)
    table = [
        [name, label, f"{median:.2f}", f"{best:.2f}", change]
        for name, label, median, best, change in medians_against_first(times, jobs, sides)
    ]
    body = (
        f"`make bench BENCH=localfs`: `{settings.spark_master}`, one warm session, the two file systems "
        f"alternating, {ROUNDS} rounds of {REPEAT} runs of each job; seconds.\n\n"
        + markdown_table(["job", "local file system", "median s", "best s", "vs Hadoop's"], table)
    )
    print(body)
    write_section("localfs", "Spark's writes without a chmod process per file", body)


if __name__ == "__main__":
    main()
