"""One erasure request on two lake sizes: how its time grows with the lake.

Each lake is built by the pipeline (ingest, sanitize, model for every date, the profile for
the last one) from a data set: mock_data, and a generated set
(``C360_BENCH_ERASURE_CUSTOMERS`` x ``C360_BENCH_ERASURE_DAYS``, default 10,000 x 45);
``C360_BENCH_ERASURE_MOCK_LAKE`` reuses an already built mock_data lake (copied). Then
one customer with orders is erased; the figure is the erasure alone (find, rewrite, purge,
log cleanup) and its two small audit commits, with the lake's size beside it.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tempfile
import time
from datetime import date
from pathlib import Path

from benchmarks.report import markdown_table, write_section

REPO = Path(__file__).resolve().parents[1]
CUSTOMERS = int(os.environ.get("C360_BENCH_ERASURE_CUSTOMERS", "10000"))
DAYS = int(os.environ.get("C360_BENCH_ERASURE_DAYS", "45"))
SEED = 7


def _lake_size(root: Path) -> tuple[int, int, int]:
    """(tables, Parquet data files, bytes) of a lake."""
    files = [p for p in root.rglob("*.parquet") if "_delta_log" not in p.parts]
    tables = len(list(root.glob("*/*/*/_delta_log")))
    return tables, len(files), sum(p.stat().st_size for p in files)


def _customer_with_orders(data: Path) -> str:
    first_day = sorted(p for p in data.iterdir() if p.is_dir() and p.name[:2] == "20")[0]
    lines = (first_day / "sales/transactions.csv").read_text().splitlines()
    return lines[1].split(",")[1]


def _build_and_erase(label: str, data: Path, work: Path, built: Path | None = None) -> list[object]:
    slug = "".join(ch if ch.isalnum() else "_" for ch in label)  # Spark URL-encodes odd characters in paths
    from c360.pipeline import RunContext, ingest_step, model_step, sanitize_step
    from c360.privacy.erase import erase, record
    from c360.settings import load_settings
    from c360.spark import get_spark

    settings = load_settings(lake_root=work / f"lake-{slug}", spark_ui=False, spark_log_level="ERROR")
    spark = get_spark(settings)
    ctx = RunContext.create(settings, spark, f"bench-{slug}")
    dates = sorted(date.fromisoformat(p.name) for p in data.iterdir() if p.is_dir() and p.name[:2] == "20")
    retail = work / f"retail-{slug}"
    shutil.copytree(data, retail, ignore=shutil.ignore_patterns("air_quality", "manifest.json"))
    t0 = time.perf_counter()
    if built is not None:  # a lake the same pipeline already built from this data set: copied
        shutil.copytree(built, settings.lake_root)
    else:
        ingest_step(ctx, retail, dates)
        sanitize_step(ctx, dates)
        model_step(ctx, dates, profile_dates=[dates[-1]])
    build = time.perf_counter() - t0
    tables, files, size = _lake_size(settings.lake_root)
    customer = _customer_with_orders(retail)
    t1 = time.perf_counter()
    report, erased, audit = erase(ctx.storage.catalog, customer, f"BENCH-{slug}", settings.pseudonym_key_bytes())
    t2 = time.perf_counter()
    record(ctx.storage, erased, audit)
    t3 = time.perf_counter()
    purged = sum(len(t.files_purged) for t in report.tables)
    print(f"{label}: build {build:.0f} s, erase {t2 - t1:.1f} s, record {t3 - t2:.1f} s", flush=True)
    return [
        label,
        f"{tables} / {files:,} / {size / 1e6:,.1f} MB",
        f"{build:.0f}",
        f"{t2 - t1:.1f}",
        f"{t3 - t2:.1f}",
        f"{report.rows_removed:,}",
        f"{len(report.tables)} / {purged:,}",
    ]


def _given(env: str) -> Path | None:
    value = os.environ.get(env)
    return Path(value) if value else None


def main() -> None:
    work = Path(tempfile.mkdtemp(prefix="c360-bench-erasure-"))
    try:
        generated = work / "generated"
        cmd = [str(Path(sys.executable).with_name("c360")), "mock", "generate", "--out", str(generated)]
        cmd += ["--customers", str(CUSTOMERS), "--days", str(DAYS), "--seed", str(SEED), "--stations", "1"]
        subprocess.run(cmd, check=True, stdout=subprocess.DEVNULL)
        rows = [
            _build_and_erase("mock_data", REPO / "mock_data", work, _given("C360_BENCH_ERASURE_MOCK_LAKE")),
            _build_and_erase(f"generated {CUSTOMERS:,} x {DAYS} days", generated, work),
        ]
    finally:
        shutil.rmtree(work, ignore_errors=True)
    body = (
        "`python -m benchmarks.run erasure`: one `c360 privacy erase` on two lakes, each built by the pipeline "
        "(ingest, sanitize, model for every date, the profile for the last) from the data set named (*build s* "
        "is the copy time when an already built lake was reused). *erase* is "
        "finding the subject (identifying columns of every file), rewriting the affected files (one commit per "
        "table), purging exactly those files and checkpointing/cleaning the changed tables' logs; *record* is the "
        "two small ops commits (erased keys, audit) through Spark.\n\n"
        + markdown_table(
            [
                "lake",
                "tables / data files / size",
                "build s",
                "erase s",
                "record s",
                "rows removed",
                "tables changed / files purged",
            ],
            rows,
        )
    )
    write_section("erasure", "Erasure on request", body)
