"""A lake copied to another folder, with the folder it was copied from deleted, keeps working:
reads, time travel, the quality report and its Data Docs links, and nothing printed points
at the old folder.

The shared published lake is read-only, so it is copied twice: to A, then A to B, and A is
deleted. B is then a lake whose original place no longer exists.
"""

from __future__ import annotations

import csv
import io
import re
import shutil
from datetime import date, timedelta
from pathlib import Path

import pytest
from typer.testing import CliRunner

from c360.settings import Settings
from tests.conftest import PublishedLake, copy_lake

pytestmark = pytest.mark.slow

PROFILE = "enhanced.customer.customer360_profile"
AQI = "enhanced.air_quality.fct_aqi_daily"
RESULTS = "ops.quality.expectation_results"


def _cli(settings: Settings, spark: object, *args: str) -> str:
    from c360.cli import app
    from c360.cli.state import state

    state._settings, state._spark = settings, spark
    try:
        result = CliRunner().invoke(app, list(args))
    finally:
        state._settings, state._spark = None, None
    assert result.exit_code == 0, f"c360 {' '.join(args)}:\n{result.output}"
    return result.output


def test_a_copied_lake_whose_original_is_gone_keeps_working(
    published_lake: PublishedLake, spark: object, spark_settings: Settings, tmp_path: Path
) -> None:
    from c360.storage import DeltaStorage, LakeCatalog

    a = copy_lake(published_lake.root, tmp_path / "a" / "lake")
    b = copy_lake(a, tmp_path / "b" / "lake")
    shutil.rmtree(tmp_path / "a")
    settings = spark_settings.model_copy(update={"lake_root": b})

    # time travel on the copy: the air-quality fact's first write (first run date), and now
    writes = [h for h in LakeCatalog(b).history(AQI) if h.rows_added]
    assert len(writes) >= 2, "the fact needs an older version for time travel"
    first = writes[-1]
    storage = DeltaStorage(spark, b)  # type: ignore[arg-type]
    then = {r.date for r in storage.read(AQI, version=first.version).select("date").distinct().collect()}
    now = {r.date for r in storage.read(AQI).select("date").distinct().collect()}
    assert then and then < now
    between = first.timestamp + (writes[-2].timestamp - first.timestamp) / 2
    as_of = {r.date for r in storage.read(AQI, as_of=between).select("date").distinct().collect()}
    assert as_of == then
    just_after = first.timestamp.replace(microsecond=0) + timedelta(seconds=1)  # the CLI takes whole seconds

    outputs = {
        "latest": _cli(settings, spark, "table", "show", PROFILE, "--limit", "3"),
        "version": _cli(settings, spark, "table", "show", AQI, "--version", str(first.version), "--limit", "100000"),
        "as_of": _cli(
            settings,
            spark,
            "table",
            "show",
            AQI,
            "--as-of",
            just_after.strftime("%Y-%m-%dT%H:%M:%S"),
            "--limit",
            "100000",
        ),
        "history": _cli(settings, spark, "table", "history", AQI),
        "results": _cli(settings, spark, "table", "show", RESULTS, "--limit", "5"),
        "report": _cli(settings, spark, "quality", "report"),
    }

    for name, output in outputs.items():
        assert str(tmp_path / "a") not in output, f"{name} printed the deleted folder:\n{output}"
        assert str(published_lake.root) not in output, f"{name} printed the lake it was copied from:\n{output}"
    # Piped, `table show` prints CSV: the rows themselves show what was read.
    latest = list(csv.DictReader(io.StringIO(outputs["latest"])))
    assert len(latest) == 3 and all(r["customer_id"] for r in latest)
    for name in ("version", "as_of"):  # time travel on the copy: exactly the first version's days
        assert {date.fromisoformat(r["date"]) for r in csv.DictReader(io.StringIO(outputs[name]))} == then, name
    assert f"{first.version} " in outputs["history"]

    report = outputs["report"]
    assert f"{PROFILE}  {published_lake.profile_dates[-1].isoformat()}  " in report
    docs = re.findall(r"data docs: (\S+)", report)
    assert docs, report
    for page in docs:
        assert Path(page).is_relative_to(b) and Path(page).is_file(), page
    index = re.search(r"Data Docs index: (\S+)", report)
    assert index is not None and Path(index.group(1)) == b / "ops" / "data_docs" / "index.html"
    assert Path(index.group(1)).is_file()
    # the index that needs no network: its links are relative, so they work in the moved lake
    offline = re.search(r"without network .*?: (\S+)", report)
    assert offline is not None and Path(offline.group(1)) == b / "ops" / "data_docs" / "c360-index.html"
    pages = [link for link in re.findall(r'href="([^"]+)"', Path(offline.group(1)).read_text()) if link != "index.html"]
    assert len(pages) >= len(docs) and all((Path(offline.group(1)).parent / link).is_file() for link in pages)
    for plot in re.findall(r"plot: (\S+)", report):
        assert Path(plot).is_relative_to(b) and Path(plot).is_file(), plot

    # what the ops table holds: paths under the lake, relative to its root
    # (cross-table counts of the sanitized tier have no Data Docs page: they are not a GX validation)
    gated = storage.read(RESULTS).filter("kind != 'cross_table'")
    stored = {r.data_docs for r in gated.select("data_docs").distinct().collect()}
    assert stored and all(p is not None and p.startswith("ops/data_docs/") for p in stored), stored
