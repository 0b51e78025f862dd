"""'-' and unknown picture formats in the governance commands' --output: `c360 catalog product
--output -` wrote a file named '-', `c360 lineage --output -` one named '-.dot', and
`--output g.svg` wrote g.dot alone, each reported as written."""

from __future__ import annotations

from pathlib import Path

import pytest
from typer.testing import CliRunner

from c360.cli import app
from c360.cli.state import state
from c360.settings import load_settings


@pytest.fixture
def in_empty_folder(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.chdir(tmp_path)
    state._settings = load_settings(lake_root=tmp_path / "lake")
    yield tmp_path
    state._settings = None


def test_a_descriptor_to_dash_goes_to_stdout(in_empty_folder: Path) -> None:
    result = CliRunner().invoke(app, ["catalog", "product", "customer.analytics.C360", "--output", "-"])
    assert result.exit_code == 0, result.output
    assert "kind: DataContract" in result.stdout and list(in_empty_folder.iterdir()) == []


@pytest.mark.parametrize("output", ["-", "g.svg"])
def test_a_lineage_picture_must_be_dot_or_png(in_empty_folder: Path, output: str) -> None:
    result = CliRunner().invoke(app, ["lineage", "enhanced.sales.fct_order", "--output", output])
    assert result.exit_code == 2
    assert f"--output {output}: give a .dot (graphviz text) or .png file" in " ".join(result.output.split())
    assert list(in_empty_folder.iterdir()) == []
