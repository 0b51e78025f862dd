"""c360_maintenance: the retention policies of the table registry, applied once a day.

Expired raw and quarantine partitions are removed and every table is vacuumed with its own
time-travel window (docs/retention.md). Only orchestration lives here: the task is a
spark-submit batch of ``c360/jobs/maintenance.py``, so parsing imports neither pyspark nor c360.
"""

from __future__ import annotations

from datetime import datetime, timedelta

from airflow.sdk import DAG, CronDataIntervalTimetable
from c360_airflow.steps import MACROS, default_args, spark_steps

with DAG(
    dag_id="c360_maintenance",
    description="Retention: expire old raw/quarantine partitions and vacuum old versions, per table policy",
    # After the day is over and the daily pipelines have had their window.
    schedule=CronDataIntervalTimetable("0 3 * * *", timezone="UTC"),
    start_date=datetime(2024, 1, 1),
    # Retention as of a past date removes nothing today's run would not: no catch-up needed.
    catchup=False,
    # One at a time: two vacuums of one table race for the same files.
    max_active_runs=1,
    dagrun_timeout=timedelta(hours=2),
    default_args=default_args(),
    user_defined_macros=MACROS,
    tags=["c360", "maintenance", "governance"],
    doc_md=__doc__,
) as dag:
    spark_steps("maintenance")
