"""Opening a table: its files listed on the driver (c360's session) vs Spark's listing job.

``DeltaStorage.read`` hands Spark the table's live files from the Delta log. With more than
``spark.sql.sources.parallelPartitionDiscovery.threshold`` paths (Spark's default: 32) Spark
lists them with a job of one task per path, and each task deserializes the whole Hadoop
configuration. c360's session raises the threshold (c360.spark.LIST_ON_DRIVER_MAX_PATHS), so
the driver lists them. Both settings side by side in one session, alternating, on tables of
one file per daily partition: opening (the DataFrame made) and opening + counting its rows.
"""

from __future__ import annotations

import shutil
import statistics
import tempfile
import time
from pathlib import Path

from benchmarks.report import markdown_table, write_section

FILES = (8, 40, 90, 365)
ROUNDS = 3


def main() -> None:
    from pyspark.sql import functions as F

    from c360.settings import Settings
    from c360.spark import LIST_ON_DRIVER_MAX_PATHS, LISTING_THRESHOLD, SPARK_LISTING_DEFAULT, get_spark
    from c360.storage import DeltaStorage

    work = Path(tempfile.mkdtemp(prefix="c360-bench-open-"))
    settings = Settings(lake_root=work / "lake", spark_ui=False, spark_log_level="ERROR")
    spark = get_spark(settings)
    storage = DeltaStorage(spark, settings.lake_root)
    settings_by_name = {
        "driver (c360)": str(LIST_ON_DRIVER_MAX_PATHS),
        f"Spark's job (default {SPARK_LISTING_DEFAULT})": str(SPARK_LISTING_DEFAULT),
    }
    times: dict[tuple[int, str], list[tuple[float, float]]] = {}
    try:
        for n in FILES:
            df = spark.range(n * 100).select(
                F.col("id"), F.date_add(F.lit("2024-01-01").cast("date"), (F.col("id") % n).cast("int")).alias("day")
            )
            storage.append(df.coalesce(1), f"raw.bench.days_{n}", partition_by=["day"])
            assert len(storage.catalog.open(f"raw.bench.days_{n}").file_uris()) == n
        for n in FILES:
            storage.read(f"raw.bench.days_{n}").count()  # warm-up, both ways
        for _ in range(ROUNDS):
            for n in FILES:
                for label, value in settings_by_name.items():
                    spark.conf.set(LISTING_THRESHOLD, value)
                    began = time.perf_counter()
                    opened = storage.read(f"raw.bench.days_{n}")
                    made = time.perf_counter() - began
                    assert opened.count() == n * 100
                    times.setdefault((n, label), []).append((made, time.perf_counter() - began))
    finally:
        spark.conf.set(LISTING_THRESHOLD, str(LIST_ON_DRIVER_MAX_PATHS))
        shutil.rmtree(work, ignore_errors=True)
    rows = []
    for n in FILES:
        for label in settings_by_name:
            runs = times[(n, label)]
            rows.append(
                [
                    n,
                    label,
                    f"{statistics.median(r[0] for r in runs):.2f}",
                    f"{statistics.median(r[1] for r in runs):.2f}",
                    ", ".join(f"{r[1]:.2f}" for r in runs),
                ]
            )
    body = (
        f"`make bench BENCH=open`: tables of one file per daily partition, `{settings.spark_master}`, "
        f"{ROUNDS} rounds alternating the two settings in one warm session; medians.\n\n"
        + markdown_table(["files", "listed by", "open s", "open + count s", "open + count runs (s)"], rows)
    )
    print(body)
    write_section("open", "Opening a table: its files listed on the driver or by a Spark job", body)


if __name__ == "__main__":
    main()
