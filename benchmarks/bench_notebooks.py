"""Jupyter: time from ``make notebook`` to a ready server, and the wall time of each notebook.

The notebooks run on the lake at ``C360_LAKE_ROOT`` (build it with ``make demo``, or point the
variable at a lake built from mock_data), on the ``c360`` kernelspec written into a temporary
folder, exactly as the tests run them. ``make notebook`` is started the way a user starts it
(with the venv already installed: ``-o`` tells make not to re-check the install) on a free
port; "ready" is the first 200 from ``/api/status``, then from ``/lab`` (the page a browser
opens). The server is stopped with SIGTERM after each start.
"""

from __future__ import annotations

import os
import statistics
import sys
import tempfile
import time
import urllib.error
import urllib.request
from pathlib import Path

from benchmarks.report import markdown_table, write_section
from c360 import lake
from c360.jupyter import NOTEBOOKS_DIR, PROJECT_ROOT, make_notebook, run_notebook, write_kernelspec
from c360.ports import free_port
from c360.settings import load_settings
from c360.storage import LakeCatalog

STARTS = int(os.environ.get("C360_BENCH_NOTEBOOK_STARTS", "3"))
RUNS = int(os.environ.get("C360_BENCH_NOTEBOOK_RUNS", "1"))
TIME_LIMIT_S = 900


def _server_start(lake_root: Path) -> tuple[float, float]:
    """Seconds from ``make notebook`` to /api/status answering, and to /lab answering."""
    t0 = time.perf_counter()
    with make_notebook(lake_root, free_port()) as (url, status):
        while True:
            try:
                with urllib.request.urlopen(url, timeout=2) as response:
                    if response.status == 200:
                        return status, time.perf_counter() - t0
            except (urllib.error.URLError, ConnectionError, TimeoutError):
                time.sleep(0.05)


def main() -> None:
    settings = load_settings()
    lake_root = settings.lake_root
    catalog = LakeCatalog(lake_root)
    if not catalog.exists("enhanced.customer.customer360_profile"):
        sys.exit(f"no published lake at {lake_root}: run `make demo` first (or set C360_LAKE_ROOT)")
    db = lake.Lake(lake_root)
    shape = db.sql(
        "SELECT count(DISTINCT as_of_date) AS as_of_dates, count(DISTINCT customer_id) AS customers "
        "FROM enhanced.customer.customer360_profile"
    ).iloc[0]
    sales_days = db.sql("SELECT count(DISTINCT sales_date) AS n FROM enhanced.sales.sales_by_segment_daily")["n"][0]
    aq_days = db.sql("SELECT count(DISTINCT date) AS n FROM enhanced.air_quality.fct_aqi_daily")["n"][0]

    starts = [_server_start(lake_root) for _ in range(STARTS)]
    for status, lab in starts:
        print(f"make notebook -> /api/status {status:.2f} s, /lab {lab:.2f} s", flush=True)

    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        kernels = Path(tmp) / "kernels"
        write_kernelspec(
            kernels,
            {
                "PYTHONPATH": str(PROJECT_ROOT),
                "C360_LAKE_ROOT": str(lake_root),
                "C360_SPARK_MASTER": os.environ.get("C360_SPARK_MASTER", "local[2]"),
                "C360_SPARK_UI": "false",
                "C360_SPARK_LOG_LEVEL": "ERROR",
            },
        )
        for path in sorted(NOTEBOOKS_DIR.glob("*.ipynb")):
            times = []
            for _ in range(RUNS):
                t0 = time.perf_counter()
                run_notebook(path, kernels_dir=kernels, cwd=Path(tmp), time_limit=TIME_LIMIT_S)
                times.append(time.perf_counter() - t0)
            print(f"{path.name}: {', '.join(f'{t:.1f}' for t in times)} s", flush=True)
            spark = "yes" if "lake.spark()" in path.read_text() or "lake.table(" in path.read_text() else "no"
            rows.append([f"`{path.name}`", spark, " / ".join(f"{t:.1f}" for t in times)])

    status_s = [s for s, _ in starts]
    lab_s = [b for _, b in starts]
    body = f"""
`make bench BENCH=notebooks` (benchmarks/bench_notebooks.py) on a lake built from mock_data
through every tier (`C360_LAKE_ROOT`): {sales_days} days of sales, the Customer 360 profile
for {shape["as_of_dates"]} as-of date(s) ({shape["customers"]} customers), {aq_days} day(s)
of daily AQI.

**`make notebook` to a ready server** ({STARTS} starts; the venv already installed; the
kernelspec written, then JupyterLab on 127.0.0.1):

{
        markdown_table(
            ["until", "median (s)", "each start (s)"],
            [
                [
                    "`/api/status` answers 200",
                    f"{statistics.median(status_s):.2f}",
                    ", ".join(f"{s:.2f}" for s in status_s),
                ],
                [
                    "`/lab` answers 200 (the page the URL opens)",
                    f"{statistics.median(lab_s):.2f}",
                    ", ".join(f"{s:.2f}" for s in lab_s),
                ],
            ],
        )
    }

**Each notebook top to bottom** with nbclient on the `c360` kernel (kernel start included,
{RUNS} run(s) each, one after the other):

{markdown_table(["notebook", "starts Spark", "wall time (s)"], rows)}

Only `04_air_quality` starts a JVM and a local Spark session (the DataFrame path of the AQI
calculator); the others read through delta-rs and the SQL engine.
"""
    write_section("notebooks", "Notebooks (Jupyter)", body)


if __name__ == "__main__":
    main()
