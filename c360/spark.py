"""The one place a SparkSession is built (from settings, never at import)."""

from __future__ import annotations

import os
import sys
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from pyspark.sql import SparkSession

    from c360.settings import Settings


LOG4J_CONFIG = Path(__file__).with_name("log4j2.properties")


def spark_conf(settings: Settings) -> dict[str, str]:
    """The session configuration c360 relies on (also used to build spark-submit lines)."""
    java_opts = f"-Duser.timezone=UTC -Dlog4j2.configurationFile=file:{LOG4J_CONFIG} {settings.spark_java_options}"
    return {
        "spark.sql.session.timeZone": "UTC",
        "spark.sql.parquet.outputTimestampType": "TIMESTAMP_MICROS",
        "spark.sql.shuffle.partitions": str(settings.shuffle_partitions),
        "spark.default.parallelism": str(settings.shuffle_partitions),
        "spark.ui.enabled": "true" if settings.spark_ui else "false",
        "spark.ui.showConsoleProgress": "false",
        "spark.driver.memory": settings.spark_driver_memory,
        # Spark's own timestamps in files are UTC micros; keep Parquet legacy rebasing off.
        "spark.sql.parquet.datetimeRebaseModeInWrite": "CORRECTED",
        "spark.sql.parquet.int96RebaseModeInWrite": "CORRECTED",
        "spark.sql.sources.partitionOverwriteMode": "static",
        "spark.sql.ansi.enabled": "false",
        # Constraint inference is quadratic in predicate size: over the sanitize plan (a
        # hundred rule expressions, then a self-join) it ran for minutes per table.
        "spark.sql.constraintPropagation.enabled": "false",
        # HotSpot does not JIT-compile a method over 8000 bytes of bytecode. Spark's default
        # limit (64 KB) lets whole-stage codegen emit such methods (the AQI plan's is ~40 KB),
        # and they then run interpreted. At 8000 Spark runs those stages operator by operator
        # with split, compiled code instead (AQI: 17k -> 25k rows/s in one A/B run).
        "spark.sql.codegen.hugeMethodLimit": "8000",
        # PySpark's DataFrame debugging records the Python call site of every DataFrame and
        # function call in the JVM: five more Py4J round trips per call, 10% of a sanitize run
        # over one day of mock data. Errors still name the failing expression.
        "spark.python.sql.dataFrameDebugging.enabled": "false",
        "spark.driver.extraJavaOptions": java_opts.strip(),
        "spark.executor.extraJavaOptions": java_opts.strip(),
    }


def launched_by_spark_submit() -> bool:
    """Whether this Python process was started by spark-submit (which passes its gateway)."""
    return "PYSPARK_GATEWAY_PORT" in os.environ


def get_spark(settings: Settings) -> SparkSession:
    """Build (or reuse) the process's SparkSession configured from ``settings``.

    Under spark-submit the master comes from ``--master`` unless C360_SPARK_MASTER is set
    explicitly: setting the settings' default (``local[*]``) on the builder would override
    the submitted master and run the job on the driver alone.

    Python tasks (ingest reads and parses source files in them) run with ``PYSPARK_PYTHON``
    when it is set; otherwise with this interpreter, not PySpark's default ``python3`` from
    ``PATH``, which outside an activated virtualenv is a Python without pyspark or c360."""
    from pyspark.sql import SparkSession

    builder = SparkSession.builder.appName(settings.spark_app_name)
    if not launched_by_spark_submit() or "spark_master" in settings.model_fields_set:
        builder = builder.master(settings.spark_master)
    for key, value in spark_conf(settings).items():
        builder = builder.config(key, value)
    spark = builder.getOrCreate()
    if "PYSPARK_PYTHON" not in os.environ:
        spark.sparkContext.pythonExec = sys.executable
    spark.sparkContext.setLogLevel(settings.spark_log_level)
    return spark
