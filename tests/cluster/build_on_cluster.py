"""Submitted by tests/cluster/test_cluster.py with ``spark-submit --master spark://...``: runs
the model and air-quality steps (star, marts, air quality) on the lake at C360_LAKE_ROOT from
its sanitized tier, for the dates given, and prints the master it ran on.

Usage: spark-submit --master URL build_on_cluster.py --dates D1,D2,... --profile-dates ... --aq-dates ...
"""

from __future__ import annotations

import argparse
import time
from datetime import date

from c360.pipeline import RunContext, air_quality_step, model_step
from c360.settings import load_settings
from c360.spark import get_spark


def main() -> None:
    p = argparse.ArgumentParser()
    for name in ("--dates", "--profile-dates", "--aq-dates"):
        p.add_argument(name, required=True, type=lambda s: [date.fromisoformat(d) for d in s.split(",")])
    args = p.parse_args()
    settings = load_settings()
    spark = get_spark(settings)
    try:
        print(f"master={spark.sparkContext.master}", flush=True)
        ctx = RunContext.create(settings, spark, "cluster-run")
        started = time.perf_counter()
        model_step(ctx, args.dates, args.profile_dates)
        modelled = time.perf_counter()
        air_quality_step(ctx, args.aq_dates)
        aq = time.perf_counter() - modelled
        print(f"built: model {modelled - started:.1f} s, air quality {aq:.1f} s", flush=True)
    finally:
        spark.stop()


if __name__ == "__main__":
    main()
