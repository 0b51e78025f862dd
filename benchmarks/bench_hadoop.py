"""Small Spark jobs with Hadoop's whole configuration vs c360's, without the shipped defaults
of services it never talks to (c360.spark.UNUSED_HADOOP_DEFAULTS).

Spark copies the session's Hadoop configuration into every query and serializes it into
every file scan (a broadcast its tasks deserialize) and every write task. A day of c360 is
hundreds of small jobs, so that copy is a fixed cost per job. One warm session, the two
configurations alternating (the dropped defaults put back from Hadoop's own default files,
then dropped again), each job timed ``REPEAT`` times per round; medians over every round.
"""

from __future__ import annotations

import shutil
import tempfile
from collections.abc import Callable
from pathlib import Path

from benchmarks.report import markdown_table, medians_against_first, time_alternating, write_section

ROUNDS = 5
REPEAT = 10


def main() -> None:
    from pyspark.sql import Window
    from pyspark.sql import functions as F

    from c360.settings import Settings
    from c360.spark import UNUSED_HADOOP_PATTERN, get_spark
    from c360.storage import DeltaStorage

    work = Path(tempfile.mkdtemp(prefix="c360-bench-hadoop-"))
    settings = Settings(lake_root=work / "lake", spark_ui=False, spark_log_level="ERROR")
    spark = get_spark(settings)
    storage = DeltaStorage(spark, settings.lake_root)
    jvm = spark.sparkContext._jvm
    conf = spark.sparkContext._jsc.hadoopConfiguration()  # type: ignore[union-attr]
    defaults = jvm.org.apache.hadoop.conf.Configuration().getValByRegex(UNUSED_HADOOP_PATTERN)  # type: ignore[union-attr]
    names = str(jvm.java.lang.String.join("\n", defaults.keySet())).split("\n")  # type: ignore[union-attr]
    dropped = [(name, str(defaults.get(name))) for name in names]

    def whole() -> None:
        for name, value in dropped:
            conf.set(name, value)

    def c360s() -> None:  # what get_spark dropped (the values put back are no longer defaults)
        for name, _ in dropped:
            conf.unset(name)
        assert conf.getValByRegex(UNUSED_HADOOP_PATTERN).size() == 0

    rows = spark.range(300).select(
        F.col("id"),
        (F.col("id") % 7).cast("string").alias("k"),
        F.date_add(F.lit("2024-01-01").cast("date"), (F.col("id") % 3).cast("int")).alias("day"),
    )
    storage.append(rows.coalesce(1), "raw.bench.small", partition_by=["day"])
    for i in range(8):
        storage.append(rows.filter(F.col("id") % 8 == i).coalesce(1), "raw.bench.eight", partition_by=["day"])
    dims = spark.createDataFrame([(str(k), f"name {k}") for k in range(7)], "k string, name string")

    def query() -> None:  # open a table of 24 files, filter, count
        storage.read("raw.bench.eight").filter(F.col("k") == "3").count()

    def write() -> None:  # a Spark write job of 300 rows over three dates, committed
        storage.overwrite(storage.read("raw.bench.small"), "raw.bench.copy", partition_by=["day"])

    def build() -> None:  # a model-like frame: a join and a window, checkpointed
        latest = Window.partitionBy("k").orderBy(F.col("id").desc())
        df = storage.read("raw.bench.small").join(dims, "k").withColumn("rn", F.row_number().over(latest))
        df.filter("rn = 1").localCheckpoint().count()

    jobs: dict[str, Callable[[], None]] = {
        "small query": query,
        "small Spark write": write,
        "join + window, checkpointed": build,
    }
    sides = {f"Hadoop's whole configuration ({len(dropped)} more)": whole, "c360's (unused defaults dropped)": c360s}
    sizes: dict[str, int] = {}
    try:
        times = time_alternating(sides, jobs, ROUNDS, REPEAT, warm_up=3)
        for label, side in sides.items():
            side()
            sizes[label] = int(conf.size())
    finally:
        c360s()
        shutil.rmtree(work, ignore_errors=True)
    table = [
        [name, label, sizes[label], f"{median * 1000:.0f}", f"{best * 1000:.0f}", change]
        for name, label, median, best, change in medians_against_first(times, jobs, sides)
    ]
    body = (
        f"`make bench BENCH=hadoop`: `{settings.spark_master}`, one warm session, the two configurations "
        f"alternating, {ROUNDS} rounds of {REPEAT} runs of each job; milliseconds.\n\n"
        + markdown_table(["job", "Hadoop configuration", "properties", "median ms", "best ms", "vs whole"], table)
    )
    print(body)
    write_section("hadoop", "Small jobs and the size of Hadoop's configuration", body)


if __name__ == "__main__":
    main()
