"""fct_shipment: one row per shipment (latest state). Keys: shipment_id; partition ship_date.

Promised (estimated) vs actual delivery: delay_days = actual - promised (NULL until
delivered), on_time = delivered on or before the promise. A shipment not yet shipped is
dated by its extract date so it still has a partition.
"""

from __future__ import annotations

from pyspark.sql import DataFrame
from pyspark.sql import functions as F
from pyspark.sql import types as T

from c360.enhanced.common import TableSpec, col_field, conform, date_key, latest_versions, lookup_key, lookup_scd
from c360.quality import TableSuite

SCHEMA = T.StructType(
    [
        col_field("shipment_id", T.StringType(), "shipment id", False),
        col_field("transaction_id", T.StringType(), "order shipped"),
        col_field("customer_key", T.LongType(), "customer version valid when the order was placed (-1 unknown)", False),
        col_field("origin_location_key", T.LongType(), "dim_location key of the origin (-1 unknown)", False),
        col_field("date_key", T.IntegerType(), "dim_date key of the ship day", False),
        col_field("carrier", T.StringType(), "carrier"),
        col_field("service_level", T.StringType(), "service"),
        col_field("estimated_delivery", T.DateType(), "promised delivery"),
        col_field("actual_delivery", T.DateType(), "delivered on"),
        col_field("delivery_status", T.StringType(), "state"),
        col_field("delay_days", T.IntegerType(), "actual - promised days (NULL until delivered)"),
        col_field("is_on_time", T.BooleanType(), "delivered on or before the promise (NULL until delivered)"),
        col_field("shipping_cost", T.DecimalType(12, 2), "cost"),
        col_field("weight_kg", T.DecimalType(12, 3), "weight"),
        col_field("source_extract_date", T.DateType(), "latest extract that delivered this row's inputs", False),
        col_field("ship_date", T.DateType(), "shipped on (extract date until shipped); the partition", False),
    ]
)
SPEC = TableSpec(
    name="enhanced.logistics.fct_shipment",
    schema=SCHEMA,
    description="Shipments with promised vs actual delivery.",
    grain="one row per shipment",
    keys=("shipment_id",),
    partition_by=("ship_date",),
    sources=("sanitized.logistics.shipments", "sanitized.sales.transactions"),
    foreign_keys=("customer_key", "origin_location_key"),
)


def build(shipments: DataFrame, transactions: DataFrame, dim_customer: DataFrame, dim_location: DataFrame) -> DataFrame:
    df = latest_versions(shipments, ["shipment_id"])
    orders = latest_versions(transactions, ["transaction_id"]).select(
        "transaction_id",
        "customer_id",
        F.col("transaction_date").alias("__order_ts"),
        F.col("_extract_date").alias("__order_extract"),
    )
    df = df.join(orders, on="transaction_id", how="left").withColumn(
        "__event_ts", F.coalesce("__order_ts", F.to_timestamp("ship_date"), F.to_timestamp("_extract_date"))
    )
    df = lookup_scd(df, dim_customer, "customer_id", "customer_id", "__event_ts", "customer_key")
    df = lookup_key(df, dim_location, "origin_location", "location_id", "location_key")
    shipped = F.coalesce("ship_date", "_extract_date")
    delay = F.datediff("actual_delivery", "estimated_delivery")
    out = df.select(
        "shipment_id",
        "transaction_id",
        "customer_key",
        F.col("location_key").alias("origin_location_key"),
        date_key(shipped).alias("date_key"),
        "carrier",
        "service_level",
        "estimated_delivery",
        "actual_delivery",
        "delivery_status",
        delay.alias("delay_days"),
        (delay <= 0).alias("is_on_time"),
        "shipping_cost",
        "weight_kg",
        # The order gives the customer key: its late arrival must re-open the shipment's day.
        F.greatest("_extract_date", F.coalesce("__order_extract", "_extract_date")).alias("source_extract_date"),
        shipped.alias("ship_date"),
    )
    return conform(out, SCHEMA)


SUITE = (
    TableSuite(SPEC.name, key=("shipment_id",), measures=("shipping_cost",))
    .foreign_key("customer_key", "enhanced.customer.dim_customer")
    .foreign_key("origin_location_key", "enhanced.logistics.dim_location", "location_key")
    .invariant("on_time_matches_delay", "delay_days IS NULL OR is_on_time = (delay_days <= 0)")
)
