"""What ``make demo`` prints at the end: the Customer 360 profile and where to look next."""

from __future__ import annotations

from datetime import date

from pyspark.sql import SparkSession
from pyspark.sql import functions as F
from rich.console import Console
from rich.table import Table

from c360.settings import Settings
from c360.storage import DeltaStorage

PROFILE = "enhanced.customer.customer360_profile"
SHOWN = (
    "customer_id",
    "customer_segment",
    "loyalty_tier",
    "orders_count",
    "total_spent",
    "recency_days",
    "rfm_segment",
    "predicted_clv_12m",
    "churn_risk_score",
    "churn_risk_label",
    "support_satisfaction",
)


def show_profile_head(console: Console, spark: SparkSession, settings: Settings, as_of: date, rows: int = 10) -> None:
    storage = DeltaStorage(spark, settings.lake_root)
    if storage.exists(PROFILE):
        df = storage.read(PROFILE, partitions={"as_of_date": as_of})
        cols = [c for c in SHOWN if c in df.columns]
        head = df.orderBy(F.col("total_spent").desc_nulls_last(), "customer_id").select(*cols).limit(rows).collect()
        out = Table(*cols, title=f"{PROFILE} as of {as_of} (top {rows} by total spent)")
        for r in head:
            out.add_row(*("" if v is None else str(v) for v in r))
        console.print(out)
    root = settings.lake_root
    console.print(
        "\nWhere to look:\n"
        f"  lake            {root}  (tier/domain/table folders, Delta tables)\n"
        "  tables          .venv/bin/c360 table list | table show NAME | table history NAME\n"
        "  quarantine      .venv/bin/c360 table show quarantine.sales.transactions\n"
        "  air quality     .venv/bin/c360 table show enhanced.air_quality.fct_aqi_daily\n"
        f"  quality         .venv/bin/c360 quality report   (Data Docs under {root / 'ops'})\n"
        "  orchestration   make airflow (Airflow UI with the daily DAGs)"
    )
