"""The warm-up query a run starts before ingest (c360.spark.warm_up)."""

from __future__ import annotations

import logging

import pytest
from pyspark.sql import SparkSession

from c360.spark import warm_up
from tests.conftest import spark_job_ids


def test_the_warm_up_query_runs_in_its_own_thread_and_leaves_the_session_as_it_was(spark: SparkSession) -> None:
    conf = dict(spark.sparkContext.getConf().getAll())
    sql_conf = spark.conf.getAll
    last_job = max(spark_job_ids(spark), default=-1)  # ids grow; the tracker keeps only the newest 1,000
    thread = warm_up(spark)
    assert thread.name == "c360-warm-up" and thread.daemon
    thread.join(timeout=120)
    assert not thread.is_alive()
    assert max(spark_job_ids(spark), default=-1) > last_job  # it ran Spark jobs
    assert dict(spark.sparkContext.getConf().getAll()) == conf and spark.conf.getAll == sql_conf


def test_a_failing_warm_up_is_logged_and_never_raised(caplog: pytest.LogCaptureFixture) -> None:
    class Broken:
        def range(self, n: int) -> None:
            raise RuntimeError("the JVM went away")

    with caplog.at_level(logging.DEBUG, logger="c360.spark"):
        thread = warm_up(Broken())  # type: ignore[arg-type]
        thread.join(timeout=10)
    assert not thread.is_alive()
    assert any("warm-up query failed" in r.message and r.exc_info for r in caplog.records)
