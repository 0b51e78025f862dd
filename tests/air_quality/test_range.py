"""A range of run dates built in one pass gives exactly the tables of the same dates built one by one.

On two copies of the session's ``published_lake`` (mock_data through every tier), run dates
of the mock's sensor defects are published once in one ``air_quality_step`` call and once
date by date; every air-quality table must then hold identical content. Run dates: 01-03
(local day 01-02: a duplicate hour resent within extract 01-01, the JSON array day),
01-04 (the stuck sensor's day; its extract window overlaps 01-03's) and 01-15 (an
out-of-order delivery in extract 01-14, after a gap in the range).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from pathlib import Path

import pytest
from chispa import assert_df_equality
from pyspark.sql import SparkSession
from pyspark.sql import functions as F

from c360.air_quality.hours import fact_date
from c360.air_quality.run import AirQualityReport, air_quality_tables
from c360.pipeline import RunContext, air_quality_step
from c360.settings import Settings
from tests.conftest import PublishedLake, copy_lake

pytestmark = pytest.mark.slow

RUN_DATES = [date(2024, 1, 3), date(2024, 1, 4), date(2024, 1, 15)]


@dataclass
class Built:
    ctx: RunContext
    reports: list[AirQualityReport]


def _build(spark: SparkSession, lake: PublishedLake, target: Path, run_id: str, batches: list[list[date]]) -> Built:
    root = copy_lake(lake.root, target)
    ctx = RunContext.create(Settings(lake_root=root, pseudonym_key=lake.key.decode()), spark, run_id)
    return Built(ctx, [air_quality_step(ctx, batch) for batch in batches])


@pytest.fixture(scope="module")
def built(
    spark: SparkSession, published_lake: PublishedLake, tmp_path_factory: pytest.TempPathFactory
) -> tuple[Built, Built]:
    work = tmp_path_factory.mktemp("aq-range")
    together = _build(spark, published_lake, work / "together", "range", [RUN_DATES])
    alone = _build(spark, published_lake, work / "alone", "one-by-one", [[d] for d in RUN_DATES])
    return together, alone


def test_a_range_gives_the_same_tables_as_its_dates_one_by_one(built: tuple[Built, Built]) -> None:
    together, alone = built
    for table in air_quality_tables():
        a, b = together.ctx.storage.read(table.name), alone.ctx.storage.read(table.name)
        assert_df_equality(a, b, ignore_row_order=True, ignore_nullable=True, ignore_metadata=True)
        # Not two empty tables: every run date's partition holds rows.
        (column,) = table.partition_by
        wanted = RUN_DATES if column == "snapshot_date" else [fact_date(d) for d in RUN_DATES]
        present = {r[0] for r in a.filter(F.col(column).isin(*wanted)).select(column).distinct().collect()}
        assert present == set(wanted), table.name


def test_a_range_builds_gates_and_commits_each_table_once(built: tuple[Built, Built]) -> None:
    together, alone = built
    [report] = together.reports
    tables = air_quality_tables()
    assert report.run_dates == RUN_DATES
    assert report.fact_dates == [fact_date(d) for d in RUN_DATES]
    # One write per table, replacing the partitions of every run date in one commit.
    assert [w.table for w in report.writes] == [t.name for t in tables]
    assert all(w.committed and w.validated and len(w.partitions) == len(RUN_DATES) for w in report.writes)
    assert sum(len(r.writes) for r in alone.reports) == len(RUN_DATES) * len(tables)
    results = together.ctx.storage.read("ops.quality.expectation_results").filter(F.col("run_id") == "range")
    counts = {r["table_name"]: r["count"] for r in results.groupBy("table_name").count().collect()}
    assert counts == {t.name: len(t.suite.expectations) for t in tables if t.suite is not None}
