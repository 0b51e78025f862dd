"""Fast checks of notebooks/ (no kernel, no Spark): committed clean, and shaped as the docs say."""

from __future__ import annotations

import re
from pathlib import Path

import nbformat
import pytest
from nbformat.v4 import new_code_cell, new_markdown_cell, new_notebook, new_output

from c360.jupyter import KERNEL_NAME, NOTEBOOKS_DIR, dirty_cells, main, strip, strip_file

EXPECTED = [
    "01_customer360_tour.ipynb",
    "02_product_and_segments.ipynb",
    "03_data_quality.ipynb",
    "04_air_quality.ipynb",
]
NOTEBOOKS = sorted(NOTEBOOKS_DIR.glob("*.ipynb"))


def test_the_four_notebooks_exist() -> None:
    assert [p.name for p in NOTEBOOKS] == EXPECTED


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.stem)
def test_committed_without_outputs(path: Path) -> None:
    nb = nbformat.read(path, as_version=4)
    nbformat.validate(nb)
    dirty = dirty_cells(nb)
    assert not dirty, f"{path.name}: cells {dirty} have outputs or execution counts; run `make notebooks-strip`"


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.stem)
def test_opens_with_what_it_shows_and_for_whom(path: Path) -> None:
    nb = nbformat.read(path, as_version=4)
    first = nb.cells[0]
    assert first.cell_type == "markdown"
    assert first.source.startswith("# ")
    assert "**For**" in first.source and "**What it shows**" in first.source
    assert nb.metadata["kernelspec"]["name"] == KERNEL_NAME


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.stem)
def test_reads_the_lake_through_c360_lake_and_the_environment(path: Path) -> None:
    code = "\n".join(c.source for c in nbformat.read(path, as_version=4).cells if c.cell_type == "code")
    assert "from c360 import lake" in code
    assert 'os.environ["C360_LAKE_ROOT"]' in code
    # no lake paths written into a notebook, and no reading around the storage layer
    assert not re.search(r"['\"](/tmp|/work|/home|\./lakehouse|lakehouse/)", code)
    for bypass in ("DeltaTable(", "to_pyarrow_table", "read_parquet", "spark.read"):
        assert bypass not in code, f"{path.name} reads with {bypass}: use c360.lake"
    # every notebook checks what it shows, and labels what it plots
    assert len(re.findall(r"^\s*assert ", code, re.M)) >= 5, f"{path.name} asserts too little of what it shows"
    assert code.count("set_title(") >= 2 and code.count("set_xlabel(") >= 2 and code.count("set_ylabel(") >= 2


def _dirty_notebook() -> nbformat.NotebookNode:
    cell = new_code_cell("print(1)", execution_count=3, outputs=[new_output("stream", name="stdout", text="1\n")])
    cell.metadata["execution"] = {"iopub.status.busy": "2026-01-01T00:00:00Z"}
    return new_notebook(cells=[new_markdown_cell("# t"), cell, new_code_cell("x = 1")])


def test_strip_removes_outputs_counts_and_run_metadata(tmp_path: Path) -> None:
    nb = _dirty_notebook()
    assert dirty_cells(nb) == [1]
    assert strip(nb) is True
    assert dirty_cells(nb) == []
    assert nb.cells[1].outputs == [] and nb.cells[1].execution_count is None
    assert "execution" not in nb.cells[1].metadata
    assert nb.cells[1].source == "print(1)"
    assert strip(nb) is False  # a second strip changes nothing


def test_check_fails_on_a_dirty_notebook_and_strip_fixes_it(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    path = tmp_path / "dirty.ipynb"
    nbformat.write(_dirty_notebook(), path)
    assert main(["check", str(path)]) == 1
    assert "dirty.ipynb has outputs" in capsys.readouterr().err
    assert main(["strip", str(path)]) == 0
    assert main(["check", str(path)]) == 0
    assert strip_file(path) is False
