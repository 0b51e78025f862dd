"""fct_order: one row per order (transaction). Keys: transaction_id; partition transaction_date.

The latest delivered version of each order (a return re-sends the order with status
``returned``), keyed to the customer version valid when it was placed. Cancelled and
returned orders stay in the fact with their status: marts decide what counts.
"""

from __future__ import annotations

from pyspark.sql import DataFrame
from pyspark.sql import functions as F
from pyspark.sql import types as T

from c360.enhanced.common import conform, date_key, latest_versions, lookup_key, lookup_scd
from c360.enhanced.dim_channel import CHANNEL_KEYS
from c360.quality import TableSuite
from c360.registry import C360, SUBJECT, Incremental, Table, column

MONEY = T.DecimalType(12, 2)
SCHEMA = T.StructType(
    [
        column("transaction_id", T.StringType(), "order id", False),
        column("transaction_ts", T.TimestampType(), "ordered at (UTC)", False),
        column("date_key", T.IntegerType(), "dim_date key of the order day", False),
        column("customer_id", T.StringType(), "customer id as delivered", tags=(SUBJECT,)),
        column("customer_key", T.LongType(), "dim_customer version valid at the order time (-1 unknown)", False),
        column("channel", T.StringType(), "online, store or mobile"),
        column("channel_key", T.IntegerType(), "dim_channel key", False),
        column("store_id", T.StringType(), "store of a store order"),
        column("store_location_key", T.LongType(), "dim_location key of the store (-1 none/unknown)", False),
        column("payment_method", T.StringType(), "payment"),
        column("order_status", T.StringType(), "completed, pending, cancelled, returned or refunded"),
        column("subtotal", MONEY, "sum of lines"),
        column("tax_amount", MONEY, "tax"),
        column("discount_amount", MONEY, "order discount"),
        column("total_amount", MONEY, "subtotal + tax - discount"),
        column("currency", T.StringType(), "ISO 4217"),
        column("line_count", T.IntegerType(), "order lines delivered for the order"),
        column("source_extract_date", T.DateType(), "latest extract that delivered this row's inputs", False),
        column("transaction_date", T.DateType(), "order day (UTC); the partition", False),
    ]
)
NAME = "enhanced.sales.fct_order"


def channel_key(col: str) -> F.Column:
    mapping = F.create_map(*[F.lit(x) for kv in CHANNEL_KEYS.items() for x in kv])
    return F.coalesce(mapping[F.col(col)], F.lit(-1))


def build(transactions: DataFrame, items: DataFrame, dim_customer: DataFrame, dim_location: DataFrame) -> DataFrame:
    orders = latest_versions(transactions, ["transaction_id"])
    lines = (
        latest_versions(items, ["item_id"])
        .groupBy("transaction_id")
        .agg(F.count("*").alias("line_count"), F.max("_extract_date").alias("__lines_extract"))
    )
    df = orders.withColumnRenamed("transaction_date", "transaction_ts").join(lines, on="transaction_id", how="left")
    df = lookup_scd(df, dim_customer, "customer_id", "customer_id", "transaction_ts", "customer_key")
    df = lookup_key(df, dim_location, "store_id", "location_id", "location_key").withColumnRenamed(
        "location_key", "store_location_key"
    )
    out = df.select(
        "transaction_id",
        "transaction_ts",
        date_key(F.col("transaction_ts")).alias("date_key"),
        "customer_id",
        "customer_key",
        "channel",
        channel_key("channel").alias("channel_key"),
        "store_id",
        "store_location_key",
        "payment_method",
        F.col("status").alias("order_status"),
        "subtotal",
        "tax_amount",
        "discount_amount",
        "total_amount",
        "currency",
        F.coalesce("line_count", F.lit(0)).alias("line_count"),
        F.greatest("_extract_date", F.coalesce("__lines_extract", "_extract_date")).alias("source_extract_date"),
        F.to_date("transaction_ts").alias("transaction_date"),
    )
    return conform(out, SCHEMA)


SUITE = (
    TableSuite(NAME, key=("transaction_id",), measures=("total_amount", "subtotal"))
    .foreign_key("customer_key", "enhanced.customer.dim_customer")
    .foreign_key("store_location_key", "enhanced.logistics.dim_location", "location_key")
    .foreign_key("date_key", "enhanced.shared.dim_date")
    .in_set("channel", ["online", "store", "mobile"])
    .invariant(
        "total_adds_up",
        "abs(total_amount - (subtotal + coalesce(tax_amount, 0) - coalesce(discount_amount, 0))) <= 0.01",
    )
    .invariant("known_customer", "customer_key <> -1", severity="warn")
)


TABLE = Table(
    name=NAME,
    schema=SCHEMA,
    description="Orders with their totals and status, keyed to the customer version of the order time.",
    grain="one row per order",
    keys=("transaction_id",),
    partition_by=("transaction_date",),
    foreign_keys=("customer_key", "store_location_key"),
    product=C360,
    owner="customer-analytics",
    inputs={
        "transactions": "sanitized.sales.transactions",
        "items": "sanitized.sales.transaction_items",
        "dim_customer": "enhanced.customer.dim_customer",
        "dim_location": "enhanced.logistics.dim_location",
    },
    build=build,
    publish="partitions",
    suite=SUITE,
    # An order is built from its latest version and its lines (a re-sent line can name another order).
    incremental=Incremental(
        key="transaction_id",
        ids={"items": "item_id"},
        lookups={"dim_customer": ("customer_id", "customer_id"), "dim_location": ("location_id", "store_id")},
    ),
    freshness_hours=36,
)
