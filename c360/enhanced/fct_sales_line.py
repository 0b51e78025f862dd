"""fct_sales_line: one row per order line. Keys: item_id; partition transaction_date.

Measures: quantity, unit price, gross (quantity x unit price), discount, line amount
(gross - discount), unit cost and cost (the product version valid at the order time),
margin (line amount - cost). A line whose order was never delivered keeps its place:
it is dated by its extract date and keyed to the unknown customer (order_is_missing).
Lines of inactive products are kept: status never filters revenue.
"""

from __future__ import annotations

from pyspark.sql import DataFrame
from pyspark.sql import functions as F
from pyspark.sql import types as T

from c360.enhanced.common import conform, date_key, latest_versions, lookup_scd
from c360.quality import TableSuite
from c360.registry import C360, SUBJECT, Incremental, Table, column

MONEY = T.DecimalType(12, 2)
AMOUNT = T.DecimalType(14, 2)
SCHEMA = T.StructType(
    [
        column("item_id", T.StringType(), "order line id", False),
        column("transaction_id", T.StringType(), "order id", False),
        column("transaction_ts", T.TimestampType(), "ordered at (UTC)", False),
        column("date_key", T.IntegerType(), "dim_date key", False),
        column("customer_id", T.StringType(), "customer id of the order", tags=(SUBJECT,)),
        column("customer_key", T.LongType(), "dim_customer version valid at the order time (-1 unknown)", False),
        column("product_id", T.StringType(), "product id", False),
        column("product_key", T.LongType(), "dim_product version valid at the order time (-1 unknown)", False),
        column("channel", T.StringType(), "sales channel of the order"),
        column("order_status", T.StringType(), "status of the order"),
        column("order_is_missing", T.BooleanType(), "the order itself was never delivered", False),
        column("quantity", T.IntegerType(), "units"),
        column("unit_price", MONEY, "price per unit"),
        column("gross_amount", AMOUNT, "quantity x unit price"),
        column("discount_amount", MONEY, "line discount"),
        column("line_amount", AMOUNT, "gross - discount"),
        column("unit_cost", MONEY, "unit cost valid at the order time (NULL unknown)"),
        column("cost_amount", AMOUNT, "quantity x unit cost"),
        column("margin_amount", AMOUNT, "line amount - cost"),
        column("source_extract_date", T.DateType(), "latest extract that delivered this row's inputs", False),
        column("transaction_date", T.DateType(), "order day (UTC); the partition", False),
    ]
)
NAME = "enhanced.sales.fct_sales_line"


def build(items: DataFrame, transactions: DataFrame, dim_customer: DataFrame, dim_product: DataFrame) -> DataFrame:
    lines = latest_versions(items, ["item_id"])
    orders = latest_versions(transactions, ["transaction_id"]).select(
        "transaction_id",
        F.col("transaction_date").alias("__order_ts"),
        "customer_id",
        "channel",
        F.col("status").alias("order_status"),
        F.col("_extract_date").alias("__order_extract"),
    )
    df = lines.join(orders, on="transaction_id", how="left")
    df = df.withColumn("order_is_missing", F.col("__order_ts").isNull()).withColumn(
        "transaction_ts", F.coalesce("__order_ts", F.to_timestamp("_extract_date"))
    )
    df = lookup_scd(df, dim_customer, "customer_id", "customer_id", "transaction_ts", "customer_key")
    df = lookup_scd(df, dim_product, "product_id", "product_id", "transaction_ts", "product_key")
    costs = dim_product.select(F.col("product_key").alias("__pk"), F.col("cost").alias("unit_cost"))
    df = df.join(costs, on=df["product_key"] == costs["__pk"], how="left")
    gross = (F.col("quantity") * F.col("unit_price")).cast(AMOUNT)
    discount = F.coalesce(F.col("discount_applied"), F.lit(0)).cast(MONEY)
    cost = (F.col("quantity") * F.col("unit_cost")).cast(AMOUNT)
    out = df.select(
        "item_id",
        "transaction_id",
        "transaction_ts",
        date_key(F.col("transaction_ts")).alias("date_key"),
        "customer_id",
        "customer_key",
        "product_id",
        "product_key",
        "channel",
        "order_status",
        "order_is_missing",
        "quantity",
        "unit_price",
        gross.alias("gross_amount"),
        discount.alias("discount_amount"),
        (gross - discount).cast(AMOUNT).alias("line_amount"),
        "unit_cost",
        cost.alias("cost_amount"),
        (gross - discount - cost).cast(AMOUNT).alias("margin_amount"),
        F.greatest("_extract_date", F.coalesce("__order_extract", "_extract_date")).alias("source_extract_date"),
        F.to_date("transaction_ts").alias("transaction_date"),
    )
    return conform(out, SCHEMA)


SUITE = (
    TableSuite(NAME, key=("item_id",), measures=("line_amount", "quantity", "margin_amount"))
    .foreign_key("customer_key", "enhanced.customer.dim_customer")
    .foreign_key("product_key", "enhanced.products.dim_product")
    .foreign_key("date_key", "enhanced.shared.dim_date")
    .in_range("quantity", 1, 100_000)
    .invariant("line_amount", "line_amount = quantity * unit_price - discount_amount")
    .invariant("margin", "cost_amount IS NULL OR margin_amount = line_amount - cost_amount")
    .invariant("known_product", "product_key <> -1")
    .invariant("order_delivered", "NOT order_is_missing", severity="warn")
)


TABLE = Table(
    name=NAME,
    schema=SCHEMA,
    description="Order lines with amounts, cost and margin at the product cost valid when sold.",
    grain="one row per order line",
    keys=("item_id",),
    partition_by=("transaction_date",),
    foreign_keys=("customer_key", "product_key"),
    product=C360,
    owner="customer-analytics",
    inputs={
        "items": "sanitized.sales.transaction_items",
        "transactions": "sanitized.sales.transactions",
        "dim_customer": "enhanced.customer.dim_customer",
        "dim_product": "enhanced.products.dim_product",
    },
    build=build,
    publish="partitions",
    suite=SUITE,
    # A line is built with its order (a re-sent line can name another order).
    incremental=Incremental(
        key="transaction_id",
        ids={"items": "item_id"},
        lookups={"dim_customer": ("customer_id", "customer_id"), "dim_product": ("product_id", "product_id")},
    ),
    freshness_hours=36,
)
