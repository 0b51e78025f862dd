"""Files under the lake are stored relative to its root and shown under the current root."""

from __future__ import annotations

from pathlib import Path

from c360.quality.ops import lake_relative, resolve_in_lake


def test_a_file_under_the_lake_is_stored_relative_to_its_root(tmp_path: Path) -> None:
    root = tmp_path / "lake"
    page = root / "ops" / "data_docs" / "validations" / "t" / "run.html"
    assert lake_relative(root, page) == "ops/data_docs/validations/t/run.html"
    assert lake_relative(root, None) is None


def test_a_root_given_through_a_symlink_still_gives_a_relative_path(tmp_path: Path) -> None:
    (tmp_path / "real" / "ops" / "data_docs").mkdir(parents=True)
    (tmp_path / "link").symlink_to(tmp_path / "real")
    page = tmp_path / "real" / "ops" / "data_docs" / "index.html"
    assert lake_relative(tmp_path / "link", page) == "ops/data_docs/index.html"


def test_a_file_outside_the_lake_keeps_its_absolute_path(tmp_path: Path) -> None:
    assert lake_relative(tmp_path / "lake", tmp_path / "elsewhere" / "plot.png") == str(tmp_path / "elsewhere/plot.png")


def test_a_relative_path_resolves_under_the_current_root(tmp_path: Path) -> None:
    moved = tmp_path / "moved"
    stored = "ops/anomaly_plots/enhanced.sales.fct_sales_line/row_count/2024-01-05.png"
    assert resolve_in_lake(moved, stored) == moved / stored
    assert resolve_in_lake(moved, None) is None


def test_an_old_absolute_path_is_re_rooted_from_the_lake_folders_it_points_into(tmp_path: Path) -> None:
    """Lakes written before paths were stored relative: a moved one still points into itself."""
    moved = tmp_path / "moved"
    old_page = "/old/place/lake/ops/data_docs/validations/t/run.html"
    old_plot = "/old/place/lake/ops/anomaly_plots/t/row_count/2024-01-05.png"
    assert resolve_in_lake(moved, old_page) == moved / "ops/data_docs/validations/t/run.html"
    assert resolve_in_lake(moved, old_plot) == moved / "ops/anomaly_plots/t/row_count/2024-01-05.png"
    # a lake that itself sits under a folder named ops/data_docs is re-rooted at the innermost one
    nested = "/x/ops/data_docs/lake/ops/data_docs/index.html"
    assert resolve_in_lake(moved, nested) == moved / "ops/data_docs/index.html"
    # an absolute path that never pointed into a lake is shown as it was stored
    assert resolve_in_lake(moved, "/docs/page.html") == Path("/docs/page.html")
