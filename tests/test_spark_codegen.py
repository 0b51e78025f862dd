"""Compiled or interpreted expressions, by the rows a step reads (c360.spark.codegen_for_rows)."""

from __future__ import annotations

import uuid
from datetime import date
from pathlib import Path

import pytest
from pyspark.sql import SparkSession
from pyspark.sql import functions as F

from c360.pipeline import RunContext, lake_rows, sanitize_step
from c360.settings import Settings
from c360.spark import CODEGEN_FACTORY_MODE, codegen_for_rows
from c360.storage import DeltaStorage
from tests.conftest import MockRetailLake

# The session's own setting is Spark's default here, as in a process c360 starts (the test
# session interprets expressions: tests/conftest.py).
pytestmark = pytest.mark.usefixtures("compiled_expressions")


def _compilations(spark: SparkSession) -> int:
    """Classes Janino has compiled in this JVM so far (Spark's codegen metrics)."""
    metrics = spark._jvm.org.apache.spark.metrics.source.CodegenMetrics  # type: ignore[union-attr]
    return int(metrics.METRIC_COMPILATION_TIME().getCount())


def _query(spark: SparkSession, marker: int) -> list[object]:
    """A projection, a predicate and a sort whose generated code no earlier query had (a
    literal of its own, ``marker``), run outside whole-stage code, so only the expressions'
    classes count."""
    df = spark.createDataFrame([(i, f"v{i}") for i in range(20)], "id long, v string")
    kept = df.where((F.col("id") + marker - marker) % 3 != 0)
    out = kept.select((F.col("id") * marker).alias("x"), F.upper("v").alias("u"))
    return out.orderBy(F.col("x").desc()).collect()


def _marker() -> int:
    return uuid.uuid4().int % 1_000_000 + 1


MIN_ROWS: int = Settings.model_fields["codegen_min_rows"].default


@pytest.mark.parametrize("rows", [0, MIN_ROWS - 1])
def test_a_small_step_compiles_no_expression_and_gets_the_same_rows(spark: SparkSession, rows: int) -> None:
    spark.conf.set("spark.sql.codegen.wholeStage", "false")
    try:
        # The classes every such query shares (the frame's conversion, ...) compiled first; then
        # a literal no query had: had Spark ignored the setting, it would compile its classes.
        _query(spark, _marker())
        marker = _marker()
        with codegen_for_rows(spark, rows, MIN_ROWS) as chosen:
            before = _compilations(spark)
            interpreted = _query(spark, marker)
            after = _compilations(spark)
            assert spark.conf.get(CODEGEN_FACTORY_MODE) == "NO_CODEGEN"
        compiled = _query(spark, marker)
        # Fails if Spark stops honouring its internal setting: the classes would be compiled.
        assert (chosen, after - before) == (False, 0)
        assert interpreted == compiled  # the same rows in the same order
        assert len(interpreted) == 13
    finally:
        spark.conf.unset("spark.sql.codegen.wholeStage")
    assert spark.conf.get(CODEGEN_FACTORY_MODE) == "FALLBACK"  # the session's setting is back


def test_a_large_step_compiles_its_expressions(spark: SparkSession) -> None:
    spark.conf.set("spark.sql.codegen.wholeStage", "false")
    try:
        with codegen_for_rows(spark, MIN_ROWS, MIN_ROWS) as chosen:
            before = _compilations(spark)
            _query(spark, _marker())
            assert chosen and _compilations(spark) > before
    finally:
        spark.conf.unset("spark.sql.codegen.wholeStage")


def test_the_setting_is_restored_when_the_step_fails(spark: SparkSession) -> None:
    with pytest.raises(RuntimeError, match="boom"), codegen_for_rows(spark, 10, MIN_ROWS):
        raise RuntimeError("boom")
    assert spark.conf.get(CODEGEN_FACTORY_MODE) == "FALLBACK"


def test_lake_rows_counts_from_the_log_by_date_or_whole(spark: SparkSession, tmp_path: Path) -> None:
    storage = DeltaStorage(spark, tmp_path / "lake")
    rows = [(1, date(2024, 1, 1)), (2, date(2024, 1, 1)), (3, date(2024, 1, 2)), (4, date(2024, 1, 3))]
    df = spark.createDataFrame(rows, "id long, _extract_date date")
    storage.append(df, "raw.test.codegen", partition_by=["_extract_date"])
    assert lake_rows(storage.catalog, ["raw.test.codegen"]) == 4
    assert lake_rows(storage.catalog, ["raw.test.codegen"], [date(2024, 1, 1), date(2024, 1, 3)]) == 3
    assert lake_rows(storage.catalog, ["raw.test.codegen", "raw.test.absent"], [date(2024, 1, 5)]) == 0


def test_lake_rows_of_the_raw_tier_are_the_rows_sanitize_reads(
    spark: SparkSession, mock_retail_lake: MockRetailLake
) -> None:
    from c360.contracts import source_group

    storage = DeltaStorage(spark, mock_retail_lake.root)
    raw = [c.raw_table for c in source_group("retail")]
    read = sum(t.counts["rows_in"] for t in mock_retail_lake.report.tables)
    assert read > 0
    assert lake_rows(storage.catalog, raw, mock_retail_lake.dates) == read
    assert lake_rows(storage.catalog, raw, mock_retail_lake.dates[:1]) < read


def test_a_step_runs_with_its_choice_and_restores_the_session(
    spark: SparkSession, settings: Settings, monkeypatch: pytest.MonkeyPatch
) -> None:
    import c360.sanitized.run as sanitize_run

    seen: list[str] = []

    def spy(*args: object, **kw: object) -> object:
        seen.append(spark.conf.get(CODEGEN_FACTORY_MODE))
        raise RuntimeError("stop here")

    monkeypatch.setattr(sanitize_run, "sanitize", spy)
    ctx = RunContext.create(settings, spark)
    with pytest.raises(RuntimeError, match="stop here"):
        sanitize_step(ctx, [date(2024, 1, 1)])
    assert seen == ["NO_CODEGEN"]  # an empty lake: nothing to read
    assert spark.conf.get(CODEGEN_FACTORY_MODE) == "FALLBACK"


def test_ingest_sizes_a_file_that_vanished_since_discovery_as_nothing(tmp_path: Path) -> None:
    from c360.pipeline import _size

    present = tmp_path / "orders.csv"
    present.write_text("id\n1\n")
    assert _size(present) == len("id\n1\n")
    assert _size(tmp_path / "gone.csv") == 0  # the ingest records it as failed; the estimate goes on
    assert _size(tmp_path) == 0
