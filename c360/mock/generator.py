"""``generate``: the whole source set (retail extracts, sensor readings, defect manifest).

Deterministic for a seed: every random draw comes from numpy generators spawned from one
``SeedSequence`` (retail, sensors and the extra-column plan each get their own stream, so
changing one part does not reshuffle the others), nothing reads the clock, and output
order never depends on dict or set iteration of unordered data.
"""

from __future__ import annotations

import json
import re
import shutil
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import numpy as np

from c360.mock import retail as R
from c360.mock.defects import ALL_KINDS, Picker
from c360.mock.output import DUMP_FOLDER, DefectLog, Layout, Sink
from c360.mock.retail import Retail, RetailConfig
from c360.mock.sensors import Sensors, select_stations

MANIFEST = "manifest.json"
FORMAT_VERSION = 1
_DATE_DIR = re.compile(r"^\d{4}-\d{2}-\d{2}$")


@dataclass(frozen=True)
class GenerationSummary:
    out: Path
    files: int
    rows: dict[str, int]
    defects: dict[str, int]

    @property
    def total_rows(self) -> int:
        return sum(self.rows.values())


def _clear_previous(out: Path) -> None:
    """Remove what an earlier run wrote there (the date folders its manifest covers, its dump,
    the manifest); keep anything else. A date folder or dump no manifest vouches for is
    someone's data (real extracts, say): refused, before anything is removed."""
    if not out.exists():
        return
    made: set[str] = set()
    manifest = out / MANIFEST
    if manifest.is_file():
        try:
            run = json.loads(manifest.read_text(encoding="utf-8"))["generator"]
            first, last = date.fromisoformat(run["start"]), date.fromisoformat(run["end"])
            if run.get("layout") == "dump":
                made = {DUMP_FOLDER}
            else:
                made = {(first + timedelta(days=d)).isoformat() for d in range((last - first).days + 1)}
        except (ValueError, KeyError, TypeError):
            raise ValueError(f"{manifest} is not a manifest of this generator: choose another --out") from None
    ours = [c for c in out.iterdir() if c.is_dir() and (_DATE_DIR.match(c.name) or c.name == DUMP_FOLDER)]
    theirs = sorted(c.name for c in ours if c.name not in made)
    if theirs:
        shown = ", ".join(f"{n}/" for n in theirs[:5]) + (f" and {len(theirs) - 5} more" if len(theirs) > 5 else "")
        raise ValueError(
            f"{out} holds {shown}, which no earlier run of the generator wrote there (no {MANIFEST} covers "
            "them); extracts are written as such folders, so give an empty or new --out"
        )
    for child in ours:
        shutil.rmtree(child)
    manifest.unlink(missing_ok=True)


def _plan_extra_columns(
    rng: np.random.Generator, start: date, days: int, rate: float, force_day: int
) -> dict[tuple[str, str], str]:
    """Which daily extracts carry an unknown column (decided up front for the dump header)."""
    if rate <= 0 or days == 0:
        return {}
    names = ("export_batch", "legacy_source_code", "crm_sync_flag")
    files = R.EXTRA_COLUMN_FILES
    draws = rng.random((days, len(files)))
    plan: dict[tuple[str, str], str] = {}
    for d in range(days):
        for f, file in enumerate(files):
            if draws[d, f] < rate:
                plan[(file, (start + timedelta(days=d)).isoformat())] = names[(d + f) % len(names)]
    if not plan:
        day = min(force_day, days - 1)
        plan[(files[int(rng.integers(0, len(files)))], (start + timedelta(days=day)).isoformat())] \
            = names[0]
    return plan


def generate(
    out_dir: Path | str,
    customers: int = 200,
    days: int = 90,
    start: date = date(2024, 1, 1),
    seed: int = 42,
    defect_rate: float = 0.02,
    layout: Layout = "daily",
    stations: int = 50,
) -> GenerationSummary:
    """Write the source extracts for ``days`` days from ``start`` into ``out_dir``.

    ``defect_rate`` is the probability that an eligible record carries a given defect kind
    (see docs/source-data.md); 0 gives a clean set. The manifest lists every hit.
    ``stations`` limits the air-quality stations (50 at most) to keep small sets small.
    """
    if customers < 1 or days < 1:
        raise ValueError("customers and days must be at least 1")
    if not 0.0 <= defect_rate <= 0.2:
        raise ValueError("defect_rate must be between 0 and 0.2")
    if layout not in ("daily", "dump"):
        raise ValueError(f"layout must be 'daily' or 'dump', not {layout!r}")
    out = Path(out_dir)
    _clear_previous(out)
    out.mkdir(parents=True, exist_ok=True)
    # Until the run's own manifest replaces it: the folders this run writes, so that a run
    # interrupted half-way is replaced by the next one rather than taken for somebody's extracts.
    end = start + timedelta(days=days - 1)
    began = {"generator": {"format_version": FORMAT_VERSION, "start": start.isoformat(), "end": end.isoformat(),
                           "layout": layout, "complete": False}}  # fmt: skip
    (out / MANIFEST).write_text(json.dumps(began, indent=1) + "\n", encoding="utf-8")

    retail_seq, sensor_seq, plan_seq = np.random.SeedSequence(seed).spawn(3)
    force_day = days // 3
    extra = _plan_extra_columns(
        np.random.default_rng(plan_seq), start, days, defect_rate, force_day
    )
    sink = Sink(out, layout, extra)
    log = DefectLog()
    picker = Picker(defect_rate, force_day, log)
    retail = Retail(
        RetailConfig(customers, days, start, defect_rate, late_arrivals=layout == "daily"),
        np.random.default_rng(retail_seq), sink, log, picker,
    )
    sensors = Sensors(
        datetime(start.year, start.month, start.day, tzinfo=UTC), days,
        np.random.default_rng(sensor_seq), sink, log, picker, select_stations(stations),
    )
    for d in range(days):
        ds = (start + timedelta(days=d)).isoformat()
        sink.begin_day(ds)
        retail.day(d)
        sensors.day(d)
        for file in R.DAILY_FILES:
            column = extra.get((file, ds))
            if column:
                log.add("extra_column", file, sink.relpath(file), ds, (), None, column)
        sink.end_day(R.DAILY_FILES)
    sink.close()

    rows = dict(sorted(sink.rows.items()))
    generator = {
        "format_version": FORMAT_VERSION,
        "customers": customers,
        "days": days,
        "start": start.isoformat(),
        "end": (start + timedelta(days=days - 1)).isoformat(),
        "seed": seed,
        "defect_rate": defect_rate,
        "layout": layout,
        "stations": len(select_stations(stations)),
        "kinds": list(ALL_KINDS),
    }
    log.write_manifest(out / MANIFEST, generator, rows)
    summary = {k: 0 for k in ALL_KINDS}
    for entry in log.entries():
        summary[entry["kind"]] += entry["count"]
    return GenerationSummary(out=out, files=len(sink.files), rows=rows, defects=summary)
