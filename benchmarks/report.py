"""Write benchmark figures into docs/benchmarks.md, one marked section per benchmark.

Each benchmark owns the text between ``<!-- bench:NAME -->`` and ``<!-- /bench:NAME -->``
so benchmarks can be re-run one at a time without clobbering each other's figures.
"""

from __future__ import annotations

import contextlib
import os
import platform
import re
import statistics
import subprocess
import time
from collections.abc import Callable, Iterator, Mapping
from datetime import UTC, datetime
from pathlib import Path

DOC = Path(__file__).resolve().parent.parent / "docs" / "benchmarks.md"

HEADER = """# Benchmarks

Figures written by `make bench` (or `python -m benchmarks.run NAME`). Timings come from
one run on a shared, noisy machine: compare figures within one section (measured side
by side in the same run), not across sections or days.

"""


def machine_description() -> str:
    try:
        cpu = next(
            line.split(":", 1)[1].strip()
            for line in Path("/proc/cpuinfo").read_text().splitlines()
            if line.startswith("model name")
        )
    except (OSError, StopIteration):
        cpu = platform.processor() or "unknown CPU"
    mem_kb = 0
    with contextlib.suppress(OSError, IndexError, ValueError):
        mem_kb = int(Path("/proc/meminfo").read_text().split()[1])
    try:
        java = subprocess.run(["java", "-version"], capture_output=True, text=True, check=False).stderr.splitlines()[0]
    except (OSError, IndexError):
        java = "java: unknown"
    load = ", ".join(f"{x:.1f}" for x in os.getloadavg())
    return (
        f"{os.cpu_count()} cores ({cpu}), load average {load} when the section was written, "
        f"{mem_kb / 1024 / 1024:.0f} GiB RAM, "
        f"Python {platform.python_version()}, {java}, {platform.system()} {platform.release()}"
    )


def write_section(name: str, title: str, body: str) -> Path:
    """Replace (or add) benchmark ``name``'s section in docs/benchmarks.md."""
    DOC.parent.mkdir(parents=True, exist_ok=True)
    text = DOC.read_text() if DOC.exists() else HEADER
    stamp = datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC")
    section = (
        f"<!-- bench:{name} -->\n## {title}\n\n"
        f"_Measured {stamp} on {machine_description()}._\n\n{body.strip()}\n"
        f"<!-- /bench:{name} -->"
    )
    pattern = re.compile(rf"<!-- bench:{re.escape(name)} -->.*?<!-- /bench:{re.escape(name)} -->", re.S)
    text = pattern.sub(lambda _: section, text) if pattern.search(text) else text.rstrip() + "\n\n" + section + "\n"
    DOC.write_text(text)
    return DOC


def markdown_table(headers: list[str], rows: list[list[object]]) -> str:
    lines = ["| " + " | ".join(headers) + " |", "|" + "---|" * len(headers)]
    lines += ["| " + " | ".join(str(cell) for cell in row) + " |" for row in rows]
    return "\n".join(lines)


def time_alternating(
    sides: Mapping[str, Callable[[], None]],
    jobs: Mapping[str, Callable[[], None]],
    rounds: int,
    repeat: int,
    warm_up: int = 1,
) -> dict[tuple[str, str], list[float]]:
    """Seconds of every run of every job under every side, keyed by (job, side). Each side is
    a switch (a setting, a configuration); every job first runs ``warm_up`` times untimed under
    every side, then each round switches to each side in turn and runs each job ``repeat``
    times, so drift of the machine falls on every side alike."""
    for side in sides.values():
        side()
        for job in jobs.values():
            for _ in range(warm_up):
                job()
    times: dict[tuple[str, str], list[float]] = {}
    for _ in range(rounds):
        for label, side in sides.items():
            side()
            for name, job in jobs.items():
                for _ in range(repeat):
                    began = time.perf_counter()
                    job()
                    times.setdefault((name, label), []).append(time.perf_counter() - began)
    return times


def medians_against_first(
    times: Mapping[tuple[str, str], list[float]], jobs: Mapping[str, object], sides: Mapping[str, object]
) -> Iterator[tuple[str, str, float, float, str]]:
    """Per job and side: the median and best seconds, and the median's change against the
    first side's (``+0%`` for the first side itself)."""
    for name in jobs:
        medians = {label: statistics.median(times[(name, label)]) for label in sides}
        base = next(iter(medians.values()))
        for label, median in medians.items():
            yield name, label, median, min(times[(name, label)]), f"{(median / base - 1) * 100:+.0f}%"
