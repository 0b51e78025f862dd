"""A lake copied to another folder, with the folder it was copied from deleted, keeps working:
reads, time travel, the quality report and its Data Docs links, and nothing printed points
at the old folder.

The shared published lake is read-only, so it is copied twice: to A, then A to B, and A is
deleted. B is then a lake whose original place no longer exists.
"""

from __future__ import annotations

import re
import shutil
from datetime import timedelta
from pathlib import Path

import pytest
from typer.testing import CliRunner

from c360.settings import Settings
from tests.conftest import PublishedLake, copy_lake

pytestmark = pytest.mark.slow

PROFILE = "enhanced.customer.customer360_profile"
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
    from c360.storage import LakeCatalog

    a = copy_lake(published_lake.root, tmp_path / "a" / "lake")
    b = copy_lake(a, tmp_path / "b" / "lake")
    shutil.rmtree(tmp_path / "a")
    settings = spark_settings.model_copy(update={"lake_root": b})

    # time travel to the profile's first version with rows: the first as-of date only
    writes = [h for h in LakeCatalog(b).history(PROFILE) if h.rows_added]
    assert len(writes) >= 2, "the profile needs an older version for time travel"
    first = writes[-1]
    first_second = first.timestamp.replace(microsecond=0) + timedelta(seconds=1)
    outputs = {
        "latest": _cli(settings, spark, "table", "show", PROFILE, "--limit", "3"),
        "version": _cli(settings, spark, "table", "show", PROFILE, "--version", str(first.version), "--limit", "3"),
        "as_of": _cli(settings, spark, "table", "show", PROFILE, "--as-of", first_second.strftime("%Y-%m-%dT%H:%M:%S")),
        "history": _cli(settings, spark, "table", "history", PROFILE),
        "results": _cli(settings, spark, "table", "show", RESULTS, "--limit", "5"),
        "report": _cli(settings, spark, "quality", "report"),
    }

    for name, output in outputs.items():
        assert str(tmp_path / "a") not in output, f"{name} printed the deleted folder:\n{output}"
        assert str(published_lake.root) not in output, f"{name} printed the lake it was copied from:\n{output}"
    assert PROFILE in outputs["latest"] and PROFILE in outputs["version"] and PROFILE in outputs["as_of"]
    first_date, last_date = published_lake.profile_dates[0].isoformat(), published_lake.profile_dates[-1].isoformat()
    assert first_date in outputs["version"] and last_date not in outputs["version"]
    assert last_date not in outputs["as_of"]

    report = outputs["report"]
    assert f"{PROFILE}  {published_lake.profile_dates[-1].isoformat()}  " in report
    docs = re.findall(r"data docs: (\S+)", report)
    assert docs, report
    for page in docs:
        assert Path(page).is_relative_to(b) and Path(page).is_file(), page
    index = re.search(r"Data Docs index: (\S+)", report)
    assert index is not None and Path(index.group(1)) == b / "ops" / "data_docs" / "index.html"
    assert Path(index.group(1)).is_file()
    for plot in re.findall(r"plot: (\S+)", report):
        assert Path(plot).is_relative_to(b) and Path(plot).is_file(), plot
