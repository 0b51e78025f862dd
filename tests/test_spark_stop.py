"""Stopping a session without waiting for PySpark's accumulator server (c360.spark.stop_spark).

In a process of its own: the suite's one session must stay up."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

_STOP_AND_START_AGAIN = """
import gc, time
from c360.settings import load_settings
from c360.spark import get_spark, stop_spark

def summed(spark):
    total = spark.sparkContext.accumulator(0)
    spark.sparkContext.parallelize(range(10), 2).foreach(lambda x: total.add(x))
    return total.value

settings = load_settings(spark_ui=False, spark_log_level="ERROR")
spark = get_spark(settings, rows=0)
print("sum", summed(spark))  # the tasks' updates reach the driver through the server
server = spark.sparkContext._accumulatorServer
stop_spark(spark)
deadline = time.monotonic() + 30  # its handler looks once a second
while server.socket.fileno() != -1 and time.monotonic() < deadline:
    time.sleep(0.05)
print("old server closed", server.socket.fileno() == -1)
again = get_spark(settings, rows=0)
print("sum again", summed(again))
print("frozen before", gc.get_freeze_count() > 0)
stop_spark(again, exiting=True)
print("frozen at the end", gc.get_freeze_count() > 0)
"""


def test_a_stopped_sessions_accumulator_server_closes_and_a_new_session_counts_again(tmp_path: Path) -> None:
    env = os.environ | {"C360_LAKE_ROOT": str(tmp_path)}
    done = subprocess.run(
        [sys.executable, "-c", _STOP_AND_START_AGAIN], env=env, capture_output=True, text=True, timeout=300
    )
    assert done.returncode == 0, done.stderr[-3000:]
    assert done.stdout.split("\n")[:-1] == [
        "sum 45",
        "old server closed True",  # shut down in its own thread: no socket or thread left behind
        "sum again 45",
        "frozen before False",
        "frozen at the end True",  # only a process that ends next skips the last collections
    ], done.stdout
