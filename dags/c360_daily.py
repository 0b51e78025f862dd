"""c360_daily: the retailer's extract of one logical date through raw, sanitized and enhanced.

Only orchestration lives here: each task is a spark-submit batch of ``c360/jobs/<step>.py``
(see ``c360_airflow.steps``), so parsing this file imports neither pyspark nor c360.
"""

from __future__ import annotations

from datetime import datetime, timedelta

from airflow.sdk import DAG, CronDataIntervalTimetable
from c360_airflow.steps import MACROS, deadline, default_args, spark_steps

with DAG(
    dag_id="c360_daily",
    description="Retail extracts -> raw -> sanitized -> enhanced star and Customer 360 marts, one logical date per run",
    # A data-interval schedule: the run for day D starts once D is over, and {{ ds }} is D itself.
    schedule=CronDataIntervalTimetable("0 0 * * *", timezone="UTC"),
    start_date=datetime(2024, 1, 1),  # the first extract in mock_data
    # Unpausing must not queue every day since 2024; ranges are backfilled on purpose (docs/airflow.md).
    catchup=False,
    # Dates run in order: sanitize and model carry state (dedupe, SCD2) from earlier dates.
    max_active_runs=1,
    dagrun_timeout=timedelta(hours=4),
    # Late data products alert (e-mail, webhook) 3 h after the run was queued;
    # C360_DEADLINE_MINUTES_C360_DAILY overrides it (docs/airflow.md).
    deadline=deadline("c360_daily", timedelta(hours=3)),
    default_args=default_args(),
    user_defined_macros=MACROS,
    tags=["c360", "retail", "customer360"],
    doc_md=__doc__,
) as dag:
    spark_steps("ingest", "sanitize", "model", sources="retail")
