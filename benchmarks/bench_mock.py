"""Source data generator at scale: ~1M order lines (100k customers, 365 days, 50 stations).

The generator runs in a child process so its peak RSS is measured alone
(``RUSAGE_CHILDREN``), not mixed with this process. Target: at most 60 s wall time.
"""

from __future__ import annotations

import json
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from benchmarks.report import markdown_table, write_section

CUSTOMERS = 100_000
DAYS = 365
SEED = 1
DEFECT_RATE = 0.02
TARGET_SECONDS = 60.0

_CHILD = """
import sys
from datetime import date
from c360.mock import generate
generate(sys.argv[1], customers={customers}, days={days}, start=date(2024, 1, 1), seed={seed},
         defect_rate={rate})
"""


def _folder_bytes(root: Path) -> int:
    return sum(p.stat().st_size for p in root.rglob("*") if p.is_file())


def main() -> None:
    code = _CHILD.format(customers=CUSTOMERS, days=DAYS, seed=SEED, rate=DEFECT_RATE)
    with tempfile.TemporaryDirectory(prefix="c360-bench-mock-") as tmp:
        out = Path(tmp) / "out"
        began = time.perf_counter()
        subprocess.run([sys.executable, "-c", code, str(out)], check=True)
        seconds = time.perf_counter() - began
        peak_mib = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024
        manifest = json.loads((out / "manifest.json").read_text())
        size_mib = _folder_bytes(out) / 2**20
        files = sum(1 for p in out.rglob("*") if p.is_file())
    rows = manifest["rows"]
    lines = rows["sales/transaction_items.csv"]
    total = sum(rows.values())
    verdict = "met" if seconds <= TARGET_SECONDS else "MISSED"
    summary = markdown_table(
        ["figure", "value"],
        [
            ["configuration", f"{CUSTOMERS:,} customers, {DAYS} days, 50 stations, "
                              f"seed {SEED}, defect rate {DEFECT_RATE}, daily layout"],
            ["wall time", f"{seconds:.1f} s (target ≤ {TARGET_SECONDS:.0f} s: {verdict})"],
            ["peak RSS (generator process)", f"{peak_mib:.0f} MiB"],
            ["order lines", f"{lines:,}"],
            ["order lines per second", f"{lines / seconds:,.0f}"],
            ["all rows + readings", f"{total:,}"],
            ["files / size on disk", f"{files:,} files, {size_mib:,.0f} MiB"],
            ["defects injected", f"{sum(manifest['defect_summary'].values()):,}"],
        ],
    )
    per_file = markdown_table(["file", "rows"], [[f, f"{n:,}"] for f, n in rows.items()])
    body = (
        "`make bench BENCH=mock`: `c360.mock.generate` in a child process; wall time around "
        "the process, peak RSS from `getrusage(RUSAGE_CHILDREN)`. Memory is bounded by one "
        "day of data plus the per-customer arrays, whatever the number of days.\n\n"
        f"{summary}\n\nRows per file (all days):\n\n{per_file}\n"
    )
    write_section("mock", "Source data generator", body)
    print(f"mock: {lines:,} order lines, {total:,} rows in {seconds:.1f} s, "
          f"peak RSS {peak_mib:.0f} MiB ({verdict})")


if __name__ == "__main__":
    main()
