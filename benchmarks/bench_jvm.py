"""What the JVM class archive (AppCDS, c360.spark.class_archive) saves a cold Spark JVM.

Side by side, alternating, in fresh processes: each one starts a Spark session and runs one
job, once with the archive ``make venv`` wrote and once with ``C360_SPARK_CLASS_ARCHIVE=off``.
Two jobs: a small query (what any cold session pays), and one day of mock_data through
ingest, the first task of a DAG run. CPU is the whole machine's busy time over the process's
life (/proc/stat), so it counts the JVM too: run it on a quiet machine.
"""

from __future__ import annotations

import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from benchmarks.report import markdown_table, write_section

ROUNDS = 3
MOCK = Path(__file__).resolve().parents[1] / "mock_data"
JOBS = {
    "small query": (
        "from c360.settings import load_settings; from c360.spark import get_spark; "
        "s = get_spark(load_settings()); s.range(100000).selectExpr('id % 7 as k').groupBy('k').count().collect()"
    ),
    "ingest of 2024-01-01 (mock_data)": (
        "from datetime import date; from c360.settings import load_settings; from c360.spark import get_spark; "
        "from c360.pipeline import RunContext, ingest_step; s = load_settings(); "
        f"ingest_step(RunContext.create(s, get_spark(s), 'bench-jvm'), __import__('pathlib').Path('{MOCK}'), "
        "[date(2024, 1, 1)])"
    ),
}


def _busy() -> int:
    fields = [int(x) for x in Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:]]
    return sum(fields) - fields[3] - fields[4]  # all but idle and iowait, in clock ticks


def _run(code: str, archive: bool) -> tuple[float, float]:
    """(wall, busy CPU seconds) of one fresh process running ``code``."""
    with tempfile.TemporaryDirectory(prefix="c360-bench-jvm-") as lake:
        env = os.environ | {"C360_LAKE_ROOT": lake, "C360_SPARK_UI": "false", "C360_PSEUDONYM_KEY": "bench-key"}
        if not archive:
            env["C360_SPARK_CLASS_ARCHIVE"] = "off"
        busy, began = _busy(), time.perf_counter()
        subprocess.run([sys.executable, "-c", code], env=env, check=True, capture_output=True, timeout=600)
        time.sleep(1.0)  # the JVM outlives its Python by a moment
        wall = time.perf_counter() - began - 1.0
        return wall, (_busy() - busy) / os.sysconf("SC_CLK_TCK")


def main() -> None:
    from c360.spark import class_archive

    archive = class_archive()
    if archive is None or not archive.is_file():
        sys.exit("no class archive: run make venv (or python -m c360.spark) first")
    rows = []
    for job, code in JOBS.items():
        runs: dict[bool, list[tuple[float, float]]] = {True: [], False: []}
        for _ in range(ROUNDS):
            for with_archive in (False, True):
                runs[with_archive].append(_run(code, with_archive))
        for with_archive in (False, True):
            walls = [w for w, _ in runs[with_archive]]
            cpus = [c for _, c in runs[with_archive]]
            rows.append([job, "class archive" if with_archive else "none",
                         ", ".join(f"{w:.1f}" for w in walls), f"{statistics.median(walls):.1f}",
                         ", ".join(f"{c:.1f}" for c in cpus), f"{statistics.median(cpus):.1f}"])  # fmt: skip
    size = archive.stat().st_size / 2**20
    body = (
        f"`make bench BENCH=jvm`: {ROUNDS} alternating rounds, each a fresh process (session + job); "
        f"archive {archive.name}, {size:.0f} MiB.\n\n"
        + markdown_table(["job", "JVM start", "wall s", "median", "machine CPU s", "median"], rows)
    )
    write_section("jvm", "A cold Spark JVM with and without the class archive", body)
    print(body)


if __name__ == "__main__":
    main()
