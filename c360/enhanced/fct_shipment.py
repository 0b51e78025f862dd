"""fct_shipment: one row per shipment (latest state). Keys: shipment_id; partition ship_date.

Promised (estimated) vs actual delivery: delay_days = actual - promised (NULL until
delivered), on_time = delivered on or before the promise. A shipment not yet shipped is
dated by its extract date so it still has a partition.
"""

from __future__ import annotations

from pyspark.sql import DataFrame
from pyspark.sql import functions as F
from pyspark.sql import types as T

from c360.enhanced.common import conform, date_key, latest_versions, lookup_key, lookup_scd
from c360.quality import TableSuite
from c360.registry import C360, Table, column

SCHEMA = T.StructType(
    [
        column("shipment_id", T.StringType(), "shipment id", False),
        column("transaction_id", T.StringType(), "order shipped"),
        column("customer_key", T.LongType(), "customer version valid when the order was placed (-1 unknown)", False),
        column("origin_location_key", T.LongType(), "dim_location key of the origin (-1 unknown)", False),
        column("date_key", T.IntegerType(), "dim_date key of the ship day", False),
        column("carrier", T.StringType(), "carrier"),
        column("service_level", T.StringType(), "service"),
        column("estimated_delivery", T.DateType(), "promised delivery"),
        column("actual_delivery", T.DateType(), "delivered on"),
        column("delivery_status", T.StringType(), "state"),
        column("delay_days", T.IntegerType(), "actual - promised days (NULL until delivered)"),
        column("is_on_time", T.BooleanType(), "delivered on or before the promise (NULL until delivered)"),
        column("shipping_cost", T.DecimalType(12, 2), "cost"),
        column("weight_kg", T.DecimalType(12, 3), "weight"),
        column("source_extract_date", T.DateType(), "latest extract that delivered this row's inputs", False),
        column("ship_date", T.DateType(), "shipped on (extract date until shipped); the partition", False),
    ]
)
NAME = "enhanced.logistics.fct_shipment"


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
    TableSuite(NAME, key=("shipment_id",), measures=("shipping_cost",))
    .foreign_key("customer_key", "enhanced.customer.dim_customer")
    .foreign_key("origin_location_key", "enhanced.logistics.dim_location", "location_key")
    .invariant("on_time_matches_delay", "delay_days IS NULL OR is_on_time = (delay_days <= 0)")
)


TABLE = Table(
    name=NAME,
    schema=SCHEMA,
    description="Shipments with promised vs actual delivery.",
    grain="one row per shipment",
    keys=("shipment_id",),
    partition_by=("ship_date",),
    foreign_keys=("customer_key", "origin_location_key"),
    product=C360,
    owner="customer-analytics",
    inputs={
        "shipments": "sanitized.logistics.shipments",
        "transactions": "sanitized.sales.transactions",
        "dim_customer": "enhanced.customer.dim_customer",
        "dim_location": "enhanced.logistics.dim_location",
    },
    build=build,
    publish="partitions",
    suite=SUITE,
    freshness_hours=36,
)
