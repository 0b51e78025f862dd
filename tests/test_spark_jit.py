"""How a Spark JVM that c360 starts JIT-compiles: with C1 only for a run that reads few rows
(c360.spark.C1_ONLY_JIT), tiered (C1, then C2) otherwise; and what a run is sized by. Also the
collector it runs with (c360.spark.THROUGHPUT_GC)."""

from __future__ import annotations

import os
import subprocess
from datetime import date
from pathlib import Path

import pytest
from pyspark.sql import SparkSession
from typer.testing import CliRunner

from c360.contracts import source_group
from c360.pipeline import delivered_rows, extract_rows, lake_rows, product_rows, run_rows
from c360.raw.ingest import discover
from c360.settings import Settings
from c360.spark import C1_ONLY_JIT, LATE_C2_JIT, THROUGHPUT_GC, spark_conf
from c360.storage import LakeCatalog
from tests.conftest import MOCK, MockRetailLake, PublishedLake

JAVA_OPTIONS = ("spark.driver.extraJavaOptions", "spark.executor.extraJavaOptions")


def _vm_option(spark: SparkSession, name: str) -> str:
    """A HotSpot flag's value in the session's running JVM."""
    jvm = spark._jvm  # type: ignore[attr-defined]
    bean = jvm.java.lang.management.ManagementFactory.getPlatformMXBean(
        jvm.java.lang.Class.forName("com.sun.management.HotSpotDiagnosticMXBean")
    )
    return str(bean.getVMOption(name).getValue())


def test_only_a_session_started_for_fewer_rows_than_the_threshold_compiles_with_c1_only(
    settings: Settings,
) -> None:
    threshold = settings.c2_jit_min_rows
    for rows, c1_only in ((None, False), (0, True), (threshold - 1, True), (threshold, False)):
        conf = spark_conf(settings, rows)
        # C1 alone for few rows; else C2, asked later than HotSpot's default.
        assert all((C1_ONLY_JIT in conf[k]) is c1_only for k in JAVA_OPTIONS), (rows, conf[JAVA_OPTIONS[0]])
        assert all((LATE_C2_JIT in conf[k]) is not c1_only for k in JAVA_OPTIONS), (rows, conf[JAVA_OPTIONS[0]])
    always_tiered = settings.model_copy(update={"c2_jit_min_rows": 0})
    assert LATE_C2_JIT in spark_conf(always_tiered, 0)[JAVA_OPTIONS[0]]
    assert C1_ONLY_JIT not in spark_conf(always_tiered, 0)[JAVA_OPTIONS[0]]
    # The user's options come after c360's, and a JVM takes the last of a repeated flag.
    mine = settings.model_copy(update={"spark_java_options": "-XX:TieredStopAtLevel=4"})
    line = spark_conf(mine, 0)[JAVA_OPTIONS[0]]
    assert line.index(C1_ONLY_JIT) < line.index("-XX:TieredStopAtLevel=4") and "  " not in line


def test_the_jvm_takes_the_later_c2_thresholds() -> None:
    # The JVM Spark starts (as spark-submit finds it: $JAVA_HOME/bin/java, else java on the
    # PATH) knows each flag and holds its value: an unknown one would stop a large run's JVM
    # from starting at all.
    java = f"{os.environ['JAVA_HOME']}/bin/java" if os.environ.get("JAVA_HOME") else "java"
    out = subprocess.run(
        [java, *LATE_C2_JIT.split(), "-XX:+PrintFlagsFinal", "-version"],
        capture_output=True, text=True, timeout=60, check=True,
    ).stdout  # fmt: skip
    final = {p[1]: p[3] for line in out.splitlines() if len(p := line.split()) >= 4 and p[2] == "="}
    wanted = dict(option.removeprefix("-XX:").split("=") for option in LATE_C2_JIT.split())
    assert wanted and {name: final.get(name) for name in wanted} == wanted


def test_a_session_started_for_few_rows_runs_c1_only_with_tiered_compilation_s_code_cache(
    spark: SparkSession,
) -> None:
    # The suite's session is started as `c360 run` starts one for mock_data (tests/conftest.py):
    # the options reach the running JVM. C1 alone would reserve 48 MB of code cache, which a
    # day's Spark code fills; HotSpot then stops compiling for good.
    assert _vm_option(spark, "TieredStopAtLevel") == "1"
    assert _vm_option(spark, "ReservedCodeCacheSize") == str(240 * 1024 * 1024)


def test_c360_s_jvms_run_the_parallel_collector_unless_the_user_chooses_one(settings: Settings) -> None:
    for rows in (None, 0):
        assert all(THROUGHPUT_GC in spark_conf(settings, rows)[k] for k in JAVA_OPTIONS)
    for theirs in ("-XX:+UseG1GC", "-Xmx2g -XX:+UseZGC -XX:+ZGenerational", "-XX:+UseSerialGC"):
        conf = spark_conf(settings.model_copy(update={"spark_java_options": theirs}), None)
        assert all(THROUGHPUT_GC not in conf[k] and conf[k].endswith(theirs) for k in JAVA_OPTIONS), conf
    # Options that only tune a collector do not choose one.
    tuned = settings.model_copy(update={"spark_java_options": "-XX:+UseGCOverheadLimit -XX:ParallelGCThreads=2"})
    assert THROUGHPUT_GC in spark_conf(tuned, None)[JAVA_OPTIONS[0]]


def test_the_suite_s_session_runs_the_parallel_collector(spark: SparkSession) -> None:
    # Started through spark_conf as every c360 session is: the option reaches the running JVM.
    assert (_vm_option(spark, "UseParallelGC"), _vm_option(spark, "UseG1GC")) == ("true", "false")


def test_an_ingest_is_sized_near_the_rows_it_reads(mock_retail_lake: MockRetailLake) -> None:
    # SOURCE_BYTES_PER_ROW against what ingest actually wrote: mock_data's retail extracts.
    files = [f for f in discover(MOCK) if f.contract is not None and f.contract.domain != "air_quality"]
    raw = lake_rows(LakeCatalog(mock_retail_lake.root), [c.raw_table for c in source_group("retail")])
    assert raw > 0
    assert 0.5 * raw <= delivered_rows(files) <= 2 * raw


def test_a_run_is_sized_by_its_extracts_and_the_sanitized_tables_its_later_steps_read(
    published_lake: PublishedLake, tmp_path: Path
) -> None:
    catalog = LakeCatalog(published_lake.root)
    day = published_lake.dates[-1]
    sanitized = product_rows(catalog, "retail") + product_rows(catalog, "air_quality")
    assert extract_rows(MOCK, [day]) > 0 and sanitized > 0
    assert run_rows(published_lake.root, MOCK, [day]) == extract_rows(MOCK, [day]) + sanitized
    # One source group's ingest sizes only that group's files, as the step reads them.
    groups = [extract_rows(MOCK, [day], g) for g in ("retail", "air_quality")]
    assert all(n > 0 for n in groups)
    assert 0 <= extract_rows(MOCK, [day]) - sum(groups) <= 1  # each estimate rounds its bytes down
    # A date without an extract folder sizes as nothing: its ingest reports it, as a failed step.
    assert extract_rows(MOCK, [date(1999, 1, 1)]) == 0
    assert run_rows(tmp_path / "no-lake-yet", MOCK, [date(1999, 1, 1)]) == 0
    # mock_data's whole history is a small run: its JVM compiles with C1 only.
    assert run_rows(published_lake.root, MOCK, published_lake.dates) < Settings().c2_jit_min_rows


def test_c360_run_starts_its_session_sized_for_the_run(settings: Settings, monkeypatch: pytest.MonkeyPatch) -> None:
    import c360.spark
    from c360.cli import app
    from c360.cli.state import state

    asked: list[int | None] = []

    def fake_get_spark(settings: Settings, rows: int | None = None) -> SparkSession:
        asked.append(rows)
        raise RuntimeError("no session in this test")

    monkeypatch.setattr(c360.spark, "get_spark", fake_get_spark)
    state._settings, state._spark = settings, None
    try:
        day = "2024-01-05"
        done = CliRunner().invoke(app, ["run", "--source", str(MOCK), "--run-date", day])
    finally:
        state._settings, state._spark = None, None
    assert isinstance(done.exception, RuntimeError), done.output
    assert asked == [run_rows(settings.lake_root, MOCK, [date.fromisoformat(day)])] and asked[0] > 0
