"""A separate writer process for the crash and concurrency tests (run as a script).

usage: writer_proc.py LAKE_ROOT kill-before-commit
       writer_proc.py LAKE_ROOT append N TAG
"""

from __future__ import annotations

import os
import signal
import sys
from pathlib import Path

from pyspark.sql import types as T

from c360.settings import Settings
from c360.spark import get_spark
from c360.storage import DeltaStorage

NAME = "raw.test.procs"
SCHEMA = T.StructType([T.StructField("writer", T.StringType(), False), T.StructField("seq", T.LongType(), False)])


def main() -> None:
    lake_root, action = Path(sys.argv[1]), sys.argv[2]
    settings = Settings(
        lake_root=lake_root,
        spark_master="local[1]",
        spark_ui=False,
        spark_shuffle_partitions=1,
        spark_log_level="ERROR",
        spark_driver_memory="1g",
    )
    spark = get_spark(settings, rows=0)  # a few rows: C1 only, as c360 starts a small run's JVM
    storage = DeltaStorage(spark, lake_root)
    if action == "kill-before-commit":

        def die(*_args: object, **_kwargs: object) -> None:
            os.kill(os.getpid(), signal.SIGKILL)  # Spark's files are in place; the commit never happens

        storage._commit = die  # type: ignore[method-assign]
        storage.append(spark.createDataFrame([("killed", i) for i in range(5)], SCHEMA).repartition(2), NAME)
    elif action == "append":
        count, tag = int(sys.argv[3]), sys.argv[4]
        for i in range(count):
            storage.append(spark.createDataFrame([(tag, i), (tag, i + 1000)], SCHEMA), NAME)
    spark.stop()


if __name__ == "__main__":
    main()
