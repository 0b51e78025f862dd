"""fct_support_ticket: one row per ticket (latest state). Keys: ticket_id; partition created_date.

Open tickets are re-sent when they are resolved; the latest version wins. A missing
satisfaction score stays NULL (not answered) and is never read as a bad score.
"""

from __future__ import annotations

from pyspark.sql import DataFrame
from pyspark.sql import functions as F
from pyspark.sql import types as T

from c360.enhanced.common import conform, date_key, latest_versions, lookup_scd
from c360.quality import TableSuite
from c360.registry import C360, SUBJECT, Table, column

SCHEMA = T.StructType(
    [
        column("ticket_id", T.StringType(), "ticket id", False),
        column("customer_id", T.StringType(), "customer id as delivered", tags=(SUBJECT,)),
        column("customer_key", T.LongType(), "dim_customer version valid when opened (-1 unknown)", False),
        column("created_ts", T.TimestampType(), "opened at (UTC)", False),
        column("date_key", T.IntegerType(), "dim_date key of the opening day", False),
        column("resolved_ts", T.TimestampType(), "resolved at (UTC); NULL while open"),
        column("status", T.StringType(), "open, in_progress, resolved or closed"),
        column("category", T.StringType(), "topic"),
        column("priority", T.StringType(), "priority"),
        column("channel", T.StringType(), "contact channel"),
        column("satisfaction_score", T.IntegerType(), "1-5; NULL = not answered"),
        column("resolution_hours", T.DoubleType(), "hours from opening to resolution"),
        column("source_extract_date", T.DateType(), "extract that delivered this version", False),
        column("created_date", T.DateType(), "opening day (UTC); the partition", False),
    ]
)
NAME = "enhanced.customer.fct_support_ticket"


def build(tickets: DataFrame, dim_customer: DataFrame) -> DataFrame:
    df = latest_versions(tickets, ["ticket_id"]).withColumnRenamed("created_date", "created_ts")
    df = lookup_scd(df, dim_customer, "customer_id", "customer_id", "created_ts", "customer_key")
    hours = (F.unix_timestamp("resolved_date") - F.unix_timestamp("created_ts")) / 3600.0
    out = df.select(
        "ticket_id",
        "customer_id",
        "customer_key",
        "created_ts",
        date_key(F.col("created_ts")).alias("date_key"),
        F.col("resolved_date").alias("resolved_ts"),
        "status",
        "category",
        "priority",
        "channel",
        "satisfaction_score",
        hours.alias("resolution_hours"),
        F.col("_extract_date").alias("source_extract_date"),
        F.to_date("created_ts").alias("created_date"),
    )
    return conform(out, SCHEMA)


SUITE = (
    TableSuite(NAME, key=("ticket_id",))
    .foreign_key("customer_key", "enhanced.customer.dim_customer")
    .foreign_key("date_key", "enhanced.shared.dim_date")
    .in_range("satisfaction_score", 1, 5)
    .invariant("resolved_after_created", "resolved_ts IS NULL OR resolved_ts >= created_ts")
)


TABLE = Table(
    name=NAME,
    schema=SCHEMA,
    description="Support tickets in their latest state, keyed to the customer version of the opening time.",
    grain="one row per ticket",
    keys=("ticket_id",),
    partition_by=("created_date",),
    foreign_keys=("customer_key",),
    product=C360,
    owner="customer-analytics",
    inputs={"tickets": "sanitized.customer.support_tickets", "dim_customer": "enhanced.customer.dim_customer"},
    build=build,
    publish="partitions",
    suite=SUITE,
    freshness_hours=36,
)
