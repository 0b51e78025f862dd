"""fct_app_session: one row per app session. Keys: usage_id; partition session_date."""

from __future__ import annotations

from pyspark.sql import DataFrame
from pyspark.sql import functions as F
from pyspark.sql import types as T

from c360.enhanced.common import conform, date_key, latest_versions, lookup_scd
from c360.quality import TableSuite
from c360.registry import C360, SUBJECT, Table, column

SCHEMA = T.StructType(
    [
        column("usage_id", T.StringType(), "session id", False),
        column("customer_id", T.StringType(), "customer id as delivered", tags=(SUBJECT,)),
        column("customer_key", T.LongType(), "dim_customer version valid at the session (-1 unknown)", False),
        column("session_start", T.TimestampType(), "start (UTC)"),
        column("date_key", T.IntegerType(), "dim_date key", False),
        column("duration_minutes", T.IntegerType(), "length"),
        column("pages_viewed", T.IntegerType(), "pages viewed"),
        column("actions_taken", T.IntegerType(), "actions taken"),
        column("device_type", T.StringType(), "ios, android or web"),
        column("app_version", T.StringType(), "app version"),
        column("source_extract_date", T.DateType(), "extract that delivered this version", False),
        column("session_date", T.DateType(), "session day; the partition", False),
    ]
)
NAME = "enhanced.customer.fct_app_session"


def build(sessions: DataFrame, dim_customer: DataFrame) -> DataFrame:
    df = latest_versions(sessions, ["usage_id"]).withColumn(
        "__event_ts", F.coalesce("session_start", F.to_timestamp("session_date"))
    )
    df = lookup_scd(df, dim_customer, "customer_id", "customer_id", "__event_ts", "customer_key")
    out = df.select(
        "usage_id",
        "customer_id",
        "customer_key",
        "session_start",
        date_key(F.col("session_date")).alias("date_key"),
        F.col("session_duration_minutes").alias("duration_minutes"),
        "pages_viewed",
        "actions_taken",
        "device_type",
        "app_version",
        F.col("_extract_date").alias("source_extract_date"),
        "session_date",
    )
    return conform(out, SCHEMA)


SUITE = (
    TableSuite(NAME, key=("usage_id",), measures=("duration_minutes",))
    .foreign_key("customer_key", "enhanced.customer.dim_customer")
    .in_range("duration_minutes", 0, 1440)
)


TABLE = Table(
    name=NAME,
    schema=SCHEMA,
    description="App sessions of customers.",
    grain="one row per app session",
    keys=("usage_id",),
    partition_by=("session_date",),
    foreign_keys=("customer_key",),
    product=C360,
    owner="customer-analytics",
    inputs={"sessions": "sanitized.customer.app_usage", "dim_customer": "enhanced.customer.dim_customer"},
    build=build,
    publish="partitions",
    suite=SUITE,
    freshness_hours=36,
)
