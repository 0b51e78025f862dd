"""Submitted by tests/cluster/test_cluster.py with ``spark-submit --master spark://...``, as one
application:

1. ``--ingest-lake``: ingest the extracts of ``--ingest-dates`` from ``--source`` into that
   (empty) lake and sanitize them, every source. Ingest reads, parses and seals in Spark tasks,
   so here the executors do it.
2. The lake at C360_LAKE_ROOT: run the model and air-quality steps (star, marts, air quality)
   from its sanitized tier, for ``--dates`` / ``--profile-dates`` / ``--aq-dates``.

Prints the master it ran on and each part's time.

Usage: spark-submit --master URL build_on_cluster.py --ingest-lake DIR --source DIR --ingest-dates D1,D2
       --run-id ID --dates D1,... --profile-dates ... --aq-dates ...
"""

from __future__ import annotations

import argparse
import time
from datetime import date
from pathlib import Path

from c360.pipeline import RunContext, air_quality_step, ingest_step, model_step, sanitize_step
from c360.settings import load_settings
from c360.spark import get_spark


def main() -> None:
    p = argparse.ArgumentParser()
    for name in ("--dates", "--profile-dates", "--aq-dates", "--ingest-dates"):
        p.add_argument(name, required=True, type=lambda s: [date.fromisoformat(d) for d in s.split(",")])
    p.add_argument("--ingest-lake", required=True, type=Path)
    p.add_argument("--source", required=True, type=Path)
    p.add_argument("--run-id", required=True)
    args = p.parse_args()
    settings = load_settings()
    spark = get_spark(settings)
    try:
        print(f"master={spark.sparkContext.master}", flush=True)
        print(f"file_system={spark.sparkContext._jsc.hadoopConfiguration().get('fs.file.impl')}", flush=True)
        started = time.perf_counter()
        fresh = RunContext.create(settings.model_copy(update={"lake_root": args.ingest_lake}), spark, args.run_id)
        ingest_step(fresh, args.source, args.ingest_dates)
        sanitize_step(fresh, args.ingest_dates)
        ingested = time.perf_counter()
        ctx = RunContext.create(settings, spark, args.run_id)
        model_step(ctx, args.dates, args.profile_dates)
        modelled = time.perf_counter()
        air_quality_step(ctx, args.aq_dates)
        done = time.perf_counter()
        print(
            f"built: ingest and sanitize {ingested - started:.1f} s, model {modelled - ingested:.1f} s, "
            f"air quality {done - modelled:.1f} s",
            flush=True,
        )
        print(f"aqi_jvm_equals_arrow={_aqi_engines_agree(spark)}", flush=True)
    finally:
        spark.stop()


def _aqi_engines_agree(spark) -> bool:  # noqa: ANN001 - a SparkSession
    """The AQI of the same text readings by the JVM kernel and by the kernel in Python workers,
    both in the executors (the JVM kernel's class comes from c360's jar on their class path)."""
    from c360.aqi import calculate, load_standard

    standard = load_standard("us-epa-2024")
    names = standard.field_names()
    rows = [
        (i, *[f"{(i * 37 + 11 * f) % 600 / (10 if f % 2 else 1000):.3f}" for f in range(len(names))])
        for i in range(2000)
    ]
    df = spark.createDataFrame(rows, "id long, " + ", ".join(f"{n} string" for n in names)).repartition(4)
    jvm = calculate(df, standard, engine="jvm").orderBy("id").collect()
    return jvm == calculate(df, standard, engine="arrow").orderBy("id").collect() and len(jvm) == len(rows)


if __name__ == "__main__":
    main()
