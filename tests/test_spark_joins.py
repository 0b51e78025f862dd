"""Joins broadcast or sort-merged, by the rows of the tables a step joins (c360.spark.joins_for_rows)."""

from __future__ import annotations

from pathlib import Path

import pytest
from pyspark.sql import DataFrame, SparkSession
from pyspark.sql import functions as F

from c360.pipeline import RunContext, lake_rows, sanitize_step, step_rows
from c360.settings import Settings
from c360.spark import BROADCAST_THRESHOLD, RUNTIME_BLOOM_FILTER, joins_for_rows
from tests.conftest import MockRetailLake

MIN_ROWS: int = Settings.model_fields["broadcast_min_rows"].default


def _joined(spark: SparkSession, hint: bool = False) -> DataFrame:
    # Ranges, not local rows: Spark knows their sizes, as it knows a Parquet table's.
    facts = spark.range(40).select("id", (F.col("id") % 4).alias("k"))
    dims = spark.range(3).select(F.col("id").alias("k"), F.concat(F.lit("member "), F.col("id")).alias("name"))
    return facts.join(F.broadcast(dims) if hint else dims, "k", "left")


def _plan(df: DataFrame) -> str:
    """The physical plan Spark chose for ``df`` (before adaptive execution re-plans it)."""
    return str(df._jdf.queryExecution().executedPlan().toString())  # type: ignore[operator]


def test_a_small_step_sort_merges_its_joins_and_gets_the_same_rows(spark: SparkSession) -> None:
    before = spark.conf.get(BROADCAST_THRESHOLD)
    with joins_for_rows(spark, MIN_ROWS - 1, MIN_ROWS) as broadcast:
        df = _joined(spark)
        small_plan, small_rows = _plan(df), sorted(df.collect())
        hinted = _plan(_joined(spark, hint=True))
    assert not broadcast
    # Fails if Spark stops reading the setting: its default broadcasts the three members.
    assert "SortMergeJoin" in small_plan and "BroadcastHashJoin" not in small_plan
    assert "BroadcastHashJoin" in hinted  # an explicit hint is still honoured
    df = _joined(spark)
    assert "BroadcastHashJoin" in _plan(df)  # the session's own choice is back
    assert sorted(df.collect()) == small_rows
    assert len(small_rows) == 40 and sum(r["name"] is None for r in small_rows) == 10  # k = 3: no member
    assert spark.conf.get(BROADCAST_THRESHOLD) == before


def test_a_large_step_leaves_the_choice_to_spark(spark: SparkSession) -> None:
    with joins_for_rows(spark, MIN_ROWS, MIN_ROWS) as broadcast:
        assert broadcast
        assert "BroadcastHashJoin" in _plan(_joined(spark))


def test_the_setting_is_restored_when_the_step_fails(spark: SparkSession) -> None:
    before = spark.conf.get(BROADCAST_THRESHOLD)
    with pytest.raises(RuntimeError, match="boom"), joins_for_rows(spark, 10, MIN_ROWS):
        assert spark.conf.get(BROADCAST_THRESHOLD) == "-1"
        raise RuntimeError("boom")
    assert spark.conf.get(BROADCAST_THRESHOLD) == before


@pytest.mark.parametrize("history_counts", [True, False])
def test_sanitize_sizes_its_joins_with_the_history_it_reads(
    spark: SparkSession,
    spark_settings: Settings,
    mock_retail_lake: MockRetailLake,
    monkeypatch: pytest.MonkeyPatch,
    history_counts: bool,
) -> None:
    """A day's few rows are joined with every sanitized row of their tables: sized by the day
    alone, the 1M-order-line day's sanitize would sort-merge, and shuffle, its whole history."""
    import c360.sanitized.run as sanitize_run
    from c360.contracts import source_group

    retail = source_group("retail")
    day = mock_retail_lake.dates[-1]
    settings = spark_settings.model_copy(update={"lake_root": mock_retail_lake.root})
    ctx = RunContext.create(settings, spark)
    delivered = lake_rows(ctx.storage.catalog, [c.raw_table for c in retail], [day])
    history = lake_rows(ctx.storage.catalog, [c.sanitized_table for c in retail])
    assert 0 < delivered < history
    # Its JVM (an Airflow task, `c360 run sanitize`) is sized by the same rows: it reads them all.
    assert step_rows("sanitize", mock_retail_lake.root, day, sources="retail") == delivered + history
    # Above the day's rows; above or below the day's rows with the history's.
    threshold = delivered + history + (1 if not history_counts else -history // 2)
    ctx = RunContext.create(settings.model_copy(update={"broadcast_min_rows": threshold}), spark)
    seen: list[str] = []

    def spy(*args: object, **kw: object) -> object:  # stops before anything is written
        seen.append(spark.conf.get(BROADCAST_THRESHOLD))
        raise RuntimeError("stop here")

    monkeypatch.setattr(sanitize_run, "sanitize", spy)
    before = spark.conf.get(BROADCAST_THRESHOLD)
    with pytest.raises(RuntimeError, match="stop here"):
        sanitize_step(ctx, [day], "retail")
    assert (seen[0] != "-1") == history_counts
    assert spark.conf.get(BROADCAST_THRESHOLD) == before


def test_a_small_step_builds_no_runtime_bloom_filter(spark: SparkSession, tmp_path: Path) -> None:
    """A checkpointed frame keeps the size estimate of the plan it was computed from, and a
    plan of joins is estimated as the product of its sides: Spark takes it for a huge side and
    filters it by a Bloom filter of the other side's keys, with a job to build the filter and
    the filter in every task. A small step's joins go without."""
    spark.range(1000).select("id", (F.col("id") % 10).alias("grp")).write.parquet(str(tmp_path / "dims"))

    def joined() -> DataFrame:
        ids = [spark.range(5000).toDF(name) for name in ("id", "a", "b")]
        facts = ids[0].join(ids[1], F.col("id") == F.col("a")).join(ids[2], F.col("id") == F.col("b"))
        facts = facts.select((F.col("id") % 1000).alias("id"), F.col("a").alias("n")).localCheckpoint()
        dims = spark.read.parquet(str(tmp_path / "dims")).filter("grp = 3")  # selective, as Spark requires
        return facts.join(dims, "id")

    def optimized(df: DataFrame) -> str:
        return str(df._jdf.queryExecution().optimizedPlan().toString())  # type: ignore[operator]

    with joins_for_rows(spark, MIN_ROWS - 1, MIN_ROWS):
        df = joined()
        small_plan, small_rows = optimized(df), sorted(df.collect())
    assert "might_contain" not in small_plan
    # Fails if Spark stops reading the setting: sort-merged outside the block, the same join
    # filters the checkpoint.
    before = spark.conf.get(BROADCAST_THRESHOLD)
    spark.conf.set(BROADCAST_THRESHOLD, "-1")
    try:
        df = joined()
        assert "might_contain" in optimized(df)
        assert sorted(df.collect()) == small_rows and len(small_rows) == 500
    finally:
        spark.conf.set(BROADCAST_THRESHOLD, before)
    assert spark.conf.get(RUNTIME_BLOOM_FILTER) == "true"


@pytest.mark.parametrize("small", [True, False], ids=["small step", "large step"])
def test_a_small_step_writes_more_tables_at_a_time(
    spark: SparkSession,
    spark_settings: Settings,
    mock_retail_lake: MockRetailLake,
    monkeypatch: pytest.MonkeyPatch,
    small: bool,
) -> None:
    """Sanitize by the rows it joins (the history with the day), the model by its product's."""
    import c360.enhanced.model as model
    import c360.sanitized.run as sanitize_run
    from c360.pipeline import model_step, product_rows, sanitize_joined_rows

    day = mock_retail_lake.dates[-1]
    settings = spark_settings.model_copy(update={"lake_root": mock_retail_lake.root})
    catalog = RunContext.create(settings, spark).storage.catalog
    rows = {"sanitize": sanitize_joined_rows(catalog, [day], "retail"), "model": product_rows(catalog, "retail")}
    # Below both steps' rows, or above both.
    threshold = min(rows.values()) if not small else max(rows.values()) + 1
    ctx = RunContext.create(
        settings.model_copy(update={"codegen_min_rows": threshold, "publish_workers": 2, "small_step_workers": 5}),
        spark,
    )
    seen: dict[str, int] = {}

    def spy(step: str, position: int) -> object:
        def stop(*args: object, **kw: object) -> object:  # before anything is written
            seen[step] = int(kw["workers"] if "workers" in kw else args[position])  # type: ignore[call-overload]
            raise RuntimeError("stop here")

        return stop

    monkeypatch.setattr(sanitize_run, "sanitize", spy("sanitize", 7))
    monkeypatch.setattr(model, "build_model", spy("model", 7))
    with pytest.raises(RuntimeError, match="stop here"):
        sanitize_step(ctx, [day], "retail")
    with pytest.raises(RuntimeError, match="stop here"):
        model_step(ctx, [day])
    assert seen == dict.fromkeys(rows, 5 if small else 2)
    # 0: publish_workers for every step.
    ctx = RunContext.create(ctx.settings.model_copy(update={"small_step_workers": 0}), spark)
    assert ctx.workers(0) == 2
