"""Shared wiring for the spark-submit jobs."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable
from datetime import date

from c360.pipeline import RunContext
from c360.settings import load_settings
from c360.spark import get_spark, stop_spark


def parser(description: str) -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(description=description)
    p.add_argument("--run-date", required=True, type=date.fromisoformat, help="logical date YYYY-MM-DD")
    p.add_argument("--run-id", default=None, help="run id to log (Airflow passes its own)")
    return p


def add_sources(p: argparse.ArgumentParser) -> None:
    """``--sources GROUP``: only that product's source contracts (each DAG passes its own, so
    two DAGs on the same date never write the same table); all sources when left out."""
    from c360.contracts import SOURCE_GROUPS

    p.add_argument("--sources", choices=sorted(SOURCE_GROUPS), default=None, help="source group (default: all)")


def run_job(args: argparse.Namespace, body: Callable[[RunContext], str]) -> None:
    """Build the context, run the body, print its summary; exit 1 with one line on failure."""
    settings = load_settings()
    spark = get_spark(settings)
    try:
        ctx = RunContext.create(settings, spark, args.run_id)
        print(body(ctx), flush=True)
    except Exception as exc:
        print(f"error: {type(exc).__name__}: {exc}", file=sys.stderr, flush=True)
        raise SystemExit(1) from exc
    finally:
        stop_spark(spark, exiting=True)
