"""The JVM class archive (AppCDS) that ``make venv`` writes: sessions start from it when it
exists, and never fail for lack of it (docs/benchmarks.md has what it saves)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from c360.spark import QUIET_CDS, class_archive, class_archive_options


def test_options_name_the_archive_only_when_it_exists(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    archive = tmp_path / "spark-classes.jsa"
    assert class_archive_options(archive) == ""
    archive.write_bytes(b"")
    assert class_archive_options(archive) == f"-XX:SharedArchiveFile={archive} {QUIET_CDS}"
    monkeypatch.setenv("C360_SPARK_CLASS_ARCHIVE", str(archive))
    assert class_archive() == archive and str(archive) in class_archive_options()
    monkeypatch.setenv("C360_SPARK_CLASS_ARCHIVE", "off")
    assert class_archive() is None and class_archive_options() == ""


@pytest.mark.slow
def test_a_session_starts_from_the_archive_make_wrote(tmp_path: Path) -> None:
    archive = class_archive()
    if archive is None or not archive.is_file():
        # The archive is an optimisation, not a requirement: an environment installed without
        # make (or whose install printed "no JVM class archive written") has none, and Spark
        # then starts as before, which the options test above covers. Under make test the
        # install has just written it, so this test runs.
        pytest.skip(f"no JVM class archive at {archive} in this environment: make venv writes it")
    # -Xshare:on turns "cannot use the archive" from a silent fallback into a failed start. The
    # session is sized as a small run, as `c360 run` starts it for mock_data: its JIT options too.
    env = os.environ | {"C360_SPARK_JAVA_OPTIONS": "-Xshare:on", "C360_LAKE_ROOT": str(tmp_path)}
    code = (
        "from c360.settings import load_settings; from c360.spark import get_spark; "
        "s = get_spark(load_settings(), rows=0); print('rows', s.range(3).count()); s.stop()"
    )
    done = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0 and "rows 3" in done.stdout, done.stderr[-3000:]
