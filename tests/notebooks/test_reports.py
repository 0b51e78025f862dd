"""Notebooks run headless (``python -m c360.jupyter run``, ``make notebooks-run``): executed
copies and HTML pages written, a failing notebook reported and written as far as it ran, and
no kernel left running after a run."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

import nbformat
import pytest
from nbformat.v4 import new_code_cell, new_markdown_cell, new_notebook

from c360.jupyter import NotebookCellError, main, run_notebook
from tests.notebooks.test_notebooks import _kernels


def _kernels_alive() -> list[str]:
    """ipykernel processes this process started and that still run."""
    found = subprocess.run(
        ["pgrep", "-P", str(os.getpid()), "-f", "ipykernel_launcher"], capture_output=True, text=True
    )
    return found.stdout.split()


def _write(path: Path, *cells: str) -> Path:
    nbformat.write(new_notebook(cells=[new_markdown_cell(f"# {path.stem}"), *map(new_code_cell, cells)]), path)
    return path


def test_a_run_shuts_its_kernel_down(tmp_path: Path) -> None:
    """nbclient leaves the kernel of a kernel manager it was given running: every notebook
    test used to keep its kernel (and the air-quality notebook its Spark JVM) until the end."""
    kernels = _kernels(tmp_path / "kernels", tmp_path)
    ok = _write(tmp_path / "ok.ipynb", "x = 1")
    bad = _write(tmp_path / "bad.ipynb", "raise ValueError('no')")
    run_notebook(ok, kernels_dir=kernels, cwd=tmp_path, time_limit=120)
    with pytest.raises(NotebookCellError):
        run_notebook(bad, kernels_dir=kernels, cwd=tmp_path, time_limit=120)
    assert _kernels_alive() == []


def test_headless_run_writes_executed_notebooks_and_reports_the_failing_one(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    lake = tmp_path / "lake"
    lake.mkdir()
    books = tmp_path / "notebooks"
    books.mkdir()
    ok = _write(books / "ok.ipynb", "import os\nprint('lake at', os.environ['C360_LAKE_ROOT'])")
    bad = _write(books / "bad.ipynb", "total = 41", "assert total == 42, 'total differs'", "never = True")
    out = tmp_path / "reports"

    code = main(["run", str(ok), str(bad), "--out", str(out), "--lake-root", str(lake), "--html"])

    assert code == 1
    printed = capsys.readouterr()
    assert "ok     ok.ipynb" in printed.out and "FAILED (cell 2) bad.ipynb" in printed.out
    assert "assert total == 42, 'total differs'" in printed.err and "AssertionError: total differs" in printed.err
    done = nbformat.read(out / "ok.ipynb", as_version=4)
    assert done.cells[1].outputs[0]["text"] == f"lake at {lake.resolve()}\n"
    assert f"lake at {lake.resolve()}" in (out / "ok.html").read_text()
    failed = nbformat.read(out / "bad.ipynb", as_version=4)
    assert [c.execution_count for c in failed.cells[1:]] == [1, 2, None]  # as far as it ran
    assert failed.cells[2].outputs[0]["ename"] == "AssertionError"
    assert nbformat.read(ok, as_version=4).cells[1].outputs == [], "the notebooks on disk stay clean"
    assert sorted(p.name for p in out.iterdir()) == ["bad.html", "bad.ipynb", "ok.html", "ok.ipynb"]
    assert _kernels_alive() == []


@pytest.mark.parametrize("case", ["no lake", "no notebook", "out is the notebooks' folder", "one name twice"])
def test_headless_run_refuses_what_it_cannot_do(case: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    lake = tmp_path / "lake"
    lake.mkdir()
    ok = _write(tmp_path / "ok.ipynb", "x = 1")
    (tmp_path / "other").mkdir()
    twin = _write(tmp_path / "other" / "ok.ipynb", "x = 2")
    args = {
        "no lake": [str(ok), "--out", str(tmp_path / "r"), "--lake-root", str(tmp_path / "nowhere")],
        "no notebook": [str(tmp_path / "gone.ipynb"), "--out", str(tmp_path / "r"), "--lake-root", str(lake)],
        "out is the notebooks' folder": [str(ok), "--out", str(tmp_path), "--lake-root", str(lake)],
        "one name twice": [str(ok), str(twin), "--out", str(tmp_path / "r"), "--lake-root", str(lake)],
    }[case]
    assert main(["run", *args]) == 2
    err = capsys.readouterr().err
    assert {
        "no lake": f"no lake at {tmp_path / 'nowhere'}",
        "no notebook": "no such notebook",
        "out is the notebooks' folder": "would replace them",
        "one name twice": "two notebooks named ok.ipynb",
    }[case] in err
    assert not (tmp_path / "r").exists()
    assert nbformat.read(ok, as_version=4).cells[1].outputs == []
