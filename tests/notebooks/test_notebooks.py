"""Every notebook runs top to bottom on the project's kernel against the shared published lake.

The kernel is the ``c360`` kernelspec written into a temporary folder: this venv's Python,
this checkout on PYTHONPATH, ``C360_LAKE_ROOT`` pointing at the published mock lake, and a
small Spark (for the one notebook that starts it). A failing cell fails the test with that
cell's source and error; a notebook has a time limit. The notebooks' own asserts check the
facts they show, so running them is the test.
"""

from __future__ import annotations

import sys
from pathlib import Path

import nbformat
import pytest
from nbformat.v4 import new_code_cell, new_markdown_cell, new_notebook

from c360.jupyter import NOTEBOOKS_DIR, PROJECT_ROOT, NotebookCellError, run_notebook, write_kernelspec
from c360.spark import C1_ONLY_JIT
from c360.storage import LakeCatalog
from tests.conftest import PublishedLake

NOTEBOOKS = sorted(NOTEBOOKS_DIR.glob("*.ipynb"))
TIME_LIMIT_S = 480  # per notebook, kernel start included; a cell that runs past it fails the test

KERNEL_ENV = {
    "PYTHONPATH": str(PROJECT_ROOT),
    "C360_SPARK_MASTER": "local[2]",
    "C360_SPARK_SHUFFLE_PARTITIONS": "2",
    "C360_SPARK_UI": "false",
    "C360_SPARK_DRIVER_MEMORY": "1g",
    "C360_SPARK_LOG_LEVEL": "ERROR",
    "C360_AQI_WORKERS": "1",
    # The notebooks read mock_data: the kernel's JVM compiles with C1 only, as c360 starts a
    # small run's (an analyst's kernel keeps the JVM's default, for queries of any size).
    "C360_SPARK_JAVA_OPTIONS": C1_ONLY_JIT,
    "PYSPARK_PYTHON": sys.executable,
}


def _kernels(folder: Path, lake_root: Path) -> Path:
    write_kernelspec(folder, {**KERNEL_ENV, "C360_LAKE_ROOT": str(lake_root)})
    return folder


def _versions(root: Path) -> dict[str, int]:
    catalog = LakeCatalog(root)
    return {name: catalog.describe(name).version for name in catalog.list_tables()}


@pytest.mark.slow
@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.stem)
def test_notebook_runs_top_to_bottom(path: Path, published_lake: PublishedLake, tmp_path: Path) -> None:
    kernels = _kernels(tmp_path / "kernels", published_lake.root)
    before = _versions(published_lake.root)
    nb = run_notebook(path, kernels_dir=kernels, cwd=tmp_path, time_limit=TIME_LIMIT_S)
    code = [c for c in nb.cells if c.cell_type == "code"]
    assert code and all(c.execution_count is not None for c in code), "every code cell ran"
    assert not any(o.get("output_type") == "error" for c in code for o in c.outputs)
    figures = sum(1 for c in code for o in c.outputs if "image/png" in o.get("data", {}))
    assert figures >= 2, f"{path.name} drew {figures} figures"
    assert _versions(published_lake.root) == before, "a notebook wrote to the lake"
    assert nbformat.read(path, as_version=4).cells[1].get("outputs") == [], "the file on disk stays clean"


def test_a_failing_cell_fails_with_its_source(tmp_path: Path) -> None:
    kernels = _kernels(tmp_path / "kernels", tmp_path / "lake")
    nb = new_notebook(
        cells=[
            new_markdown_cell("# broken"),
            new_code_cell("import os\nroot = os.environ['C360_LAKE_ROOT']\nfrom c360 import lake"),
            new_code_cell("segments = {'Champions': 3}\nassert segments['Champions'] == 4, 'segment count differs'"),
            new_code_cell("never = True"),
        ]
    )
    path = tmp_path / "broken.ipynb"
    nbformat.write(nb, path)
    with pytest.raises(NotebookCellError) as failure:
        run_notebook(path, kernels_dir=kernels, cwd=tmp_path, time_limit=120)
    err = failure.value
    assert err.index == 2
    assert "assert segments['Champions'] == 4, 'segment count differs'" in str(err)
    assert "AssertionError: segment count differs" in str(err)


def test_a_notebook_past_its_time_limit_fails(tmp_path: Path) -> None:
    kernels = _kernels(tmp_path / "kernels", tmp_path / "lake")
    path = tmp_path / "slow.ipynb"
    nbformat.write(new_notebook(cells=[new_code_cell("x = 1"), new_code_cell("import time\ntime.sleep(600)")]), path)
    with pytest.raises(NotebookCellError) as failure:  # the limit counts the kernel's start: room for a loaded machine
        run_notebook(path, kernels_dir=kernels, cwd=tmp_path, time_limit=20)
    assert failure.value.index == 1
    assert "time.sleep(600)" in str(failure.value) and "time limit of 20 s" in str(failure.value)
