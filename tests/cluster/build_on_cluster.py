"""Submitted by tests/cluster/test_cluster.py with ``spark-submit --master spark://...``: builds
the enhanced tier (star, marts, air quality) of the lake at C360_LAKE_ROOT from its sanitized
tier, with the same dates as the session's published lake, and prints the master it ran on.

Usage: spark-submit --master URL build_on_cluster.py --dates D1,D2,... --profile-dates ... --aq-dates ...
"""

from __future__ import annotations

import argparse
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
        model_step(ctx, args.dates, args.profile_dates)
        air_quality_step(ctx, args.aq_dates)
        print("built", flush=True)
    finally:
        spark.stop()


if __name__ == "__main__":
    main()
