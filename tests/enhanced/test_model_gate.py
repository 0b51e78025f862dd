"""A failing quality gate inside the model step: nothing of the bad table is published and
the tables after it are not built; the published versions stay as they were."""

from __future__ import annotations

from datetime import date
from pathlib import Path

import pytest
from pyspark.sql import SparkSession

from c360.enhanced import fct_sales_line
from c360.enhanced.model import build_model
from c360.quality import QualityGateError
from c360.storage import DeltaStorage
from tests.conftest import patch_suite
from tests.enhanced.star_checks import copy_sanitized

pytestmark = pytest.mark.slow
DAY1, DAY2 = date(2024, 1, 20), date(2024, 1, 21)
LATER = ("enhanced.customer.fct_support_ticket", "enhanced.customer.customer360_profile")
# The gated table, the tables after it and what they read: 10 of the 17. The logistics facts,
# the supplier tables and the sales mart checked nothing here (without them: 103.7 -> 88.9 s).
TABLES = (fct_sales_line.NAME, *LATER)


def test_failing_gate_blocks_the_table_and_every_later_step(
    spark: SparkSession, mock_sanitized: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    storage = DeltaStorage(spark, copy_sanitized(mock_sanitized, tmp_path / "lake"))
    build_model(spark, storage, [DAY1], "good-run", tables=TABLES)
    before = {name: storage.catalog.describe(name).version for name in TABLES}
    published_lines = sorted(tuple(r) for r in storage.read(fct_sales_line.NAME).collect())

    # A batch that violates an error-level expectation: every line "too expensive".
    strict = fct_sales_line.SUITE.in_range("unit_price", 0, 0.001, name="price_cap")
    patch_suite(monkeypatch, fct_sales_line.NAME, strict)
    with pytest.raises(QualityGateError) as failed:
        # Two tables at a time: a later table built beside the failing one must not commit either.
        build_model(spark, storage, [DAY1, DAY2], "bad-run", tables=TABLES, workers=2)

    report = failed.value.report
    (price_cap,) = [r for r in report.results if r.expectation == "price_cap"]
    # Every line of the batch breaks the cap, and the count says so exactly.
    assert not price_cap.success and price_cap.unexpected_count == report.metrics["row_count"] > 0
    assert "FAILED price_cap" in str(failed.value)
    # The gated table and the steps after it are exactly as the good run left them.
    assert {name: storage.catalog.describe(name).version for name in before} == before
    assert sorted(tuple(r) for r in storage.read(fct_sales_line.NAME).collect()) == published_lines
    results = storage.read("ops.quality.expectation_results").filter("run_id = 'bad-run'")
    rows = results.collect()
    recorded = {(r.expectation, r.published, r.unexpected_count) for r in rows if r.expectation == "price_cap"}
    assert recorded == {("price_cap", False, price_cap.unexpected_count)}
    # The steps after the gate never ran: no validation of any later table in the bad run.
    assert not {r.table_name for r in rows} & set(LATER)


def test_a_model_run_before_any_sanitize_is_refused_and_publishes_nothing(spark: SparkSession, tmp_path: Path) -> None:
    """`c360 run model` on a lake without a sanitized tier published an empty star (7 tables,
    every fact and the profile empty) where the air-quality step said what to run first."""
    from c360.publish import MissingInputError
    from c360.storage import LakeCatalog

    storage = DeltaStorage(spark, tmp_path / "lake")
    with pytest.raises(MissingInputError, match="is in the lake: run ingest and sanitize for the extract dates first"):
        build_model(spark, storage, [DAY1], "too-early")
    assert LakeCatalog(tmp_path / "lake").list_tables() == []
