"""fct_app_session: one row per app session. Keys: usage_id; partition session_date."""

from __future__ import annotations

from pyspark.sql import DataFrame
from pyspark.sql import functions as F
from pyspark.sql import types as T

from c360.enhanced.common import TableSpec, col_field, conform, date_key, latest_versions, lookup_scd
from c360.quality import TableSuite

SCHEMA = T.StructType(
    [
        col_field("usage_id", T.StringType(), "session id", False),
        col_field("customer_id", T.StringType(), "customer id as delivered"),
        col_field("customer_key", T.LongType(), "dim_customer version valid at the session (-1 unknown)", False),
        col_field("session_start", T.TimestampType(), "start (UTC)"),
        col_field("date_key", T.IntegerType(), "dim_date key", False),
        col_field("duration_minutes", T.IntegerType(), "length"),
        col_field("pages_viewed", T.IntegerType(), "pages viewed"),
        col_field("actions_taken", T.IntegerType(), "actions taken"),
        col_field("device_type", T.StringType(), "ios, android or web"),
        col_field("app_version", T.StringType(), "app version"),
        col_field("source_extract_date", T.DateType(), "extract that delivered this version", False),
        col_field("session_date", T.DateType(), "session day; the partition", False),
    ]
)
SPEC = TableSpec(
    name="enhanced.customer.fct_app_session",
    schema=SCHEMA,
    description="App sessions of customers.",
    grain="one row per app session",
    keys=("usage_id",),
    partition_by=("session_date",),
    sources=("sanitized.customer.app_usage",),
    foreign_keys=("customer_key",),
)


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
    TableSuite(SPEC.name, key=("usage_id",), measures=("duration_minutes",))
    .foreign_key("customer_key", "enhanced.customer.dim_customer")
    .in_range("duration_minutes", 0, 1440)
)
