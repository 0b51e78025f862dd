"""air_quality_daily: the sensors' readings of one logical date through the tiers to daily AQI.

Only orchestration lives here: each task is a spark-submit batch of ``c360/jobs/<step>.py``
(see ``c360_airflow.steps``), so parsing this file imports neither pyspark nor c360.
"""

from __future__ import annotations

from datetime import datetime, timedelta

from airflow.sdk import DAG, CronDataIntervalTimetable
from c360_airflow.steps import MACROS, deadline, default_args, spark_steps

with DAG(
    dag_id="air_quality_daily",
    description="Sensor readings -> raw -> sanitized -> per-reading and per-station daily AQI, one date per run",
    # A data-interval schedule: the run for day D starts once D is over, and {{ ds }} is D itself.
    schedule=CronDataIntervalTimetable("0 0 * * *", timezone="UTC"),
    start_date=datetime(2024, 1, 1),  # the first extract in mock_data
    # Unpausing must not queue every day since 2024; ranges are backfilled on purpose (docs/airflow.md).
    catchup=False,
    # Dates run in order: daily AQI averages need the previous day's readings settled.
    max_active_runs=1,
    dagrun_timeout=timedelta(hours=3),
    # Late data products alert (e-mail, webhook) 2 h after the run was queued;
    # C360_DEADLINE_MINUTES_AIR_QUALITY_DAILY overrides it (docs/airflow.md).
    deadline=deadline("air_quality_daily", timedelta(hours=2)),
    default_args=default_args(),
    user_defined_macros=MACROS,
    tags=["c360", "air_quality", "environment"],
    doc_md=__doc__,
) as dag:
    spark_steps("ingest", "sanitize", "air_quality", sources="air_quality")
