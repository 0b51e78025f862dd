"""sales_by_segment_daily: completed sales by day, channel, product category/line and customer segment.

Grain and keys: one row per (``sales_date``, ``channel``, ``category``, ``product_line``,
``customer_segment``) with at least one completed order line. Partitioned by
``sales_date``. It answers "which customer segments buy the new product line": filter a
category (the mock's Smart Home line is a category launched mid-period; its products'
subcategories are the ``product_line``) and compare segments, or use
``category_launch_date`` to find lines launched recently.

Rules:

- Only lines of COMPLETED orders count; pending, cancelled, returned and refunded lines
  never do. Lines are not filtered by product status: inactive and discontinued products
  sell (and count) like any other.
- ``customer_segment`` is the segment of the ``dim_customer`` row the line's
  ``customer_key`` points to, i.e. the row valid at the sale (the fact is keyed that way),
  so a customer who moved from Standard to Premium counts as Standard before the change
  and Premium after. The unknown member and keys without a dimension row give "Unknown".
- ``category`` and ``product_line`` come from the ``dim_product`` row of the line's
  ``product_key`` (the version valid at the sale); a product without one is "Unknown", and
  its revenue still counts.
- ``category_launch_date``: the earliest ``launch_date`` of any product of the category.
- ``revenue`` = sum of ``line_amount`` (net of line discounts); ``units`` = sum of
  ``quantity``; ``orders`` and ``customers`` are distinct counts within the row, so they do
  not add up across rows (a customer buying two lines is one customer in each row);
  ``margin_amount`` sums the margin of lines whose cost is known.
- Built for the sales dates passed in: the model step passes the run date plus the days
  whose orders can still arrive late or change status, and replaces those partitions.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from datetime import date, timedelta

from pyspark.sql import DataFrame
from pyspark.sql import functions as F
from pyspark.sql import types as T

from c360.quality import TableSuite
from c360.registry import C360, Table, column

UNKNOWN = "Unknown"
AMOUNT = T.DecimalType(18, 2)

SCHEMA = T.StructType(
    [
        column("sales_date", T.DateType(), "transaction date of the order (partition)", False),
        column("channel", T.StringType(), "online, store or mobile", False),
        column("category", T.StringType(), "product category at the sale ('Unknown' without a product row)", False),
        column("product_line", T.StringType(), "product line (source subcategory) at the sale", False),
        column("customer_segment", T.StringType(), "customer segment valid at the sale ('Unknown' if unknown)", False),
        column("category_launch_date", T.DateType(), "earliest launch date of a product of the category"),
        column("revenue", AMOUNT, "sum of line_amount of completed order lines", False),
        column("units", T.LongType(), "sum of quantity", False),
        column("orders", T.LongType(), "distinct completed orders (not additive across rows)", False),
        column("customers", T.LongType(), "distinct customers (not additive across rows)", False),
        column("margin_amount", AMOUNT, "sum of margin_amount of lines with a known cost"),
    ]
)

NAME = "enhanced.sales.sales_by_segment_daily"
KEYS = ("sales_date", "channel", "category", "product_line", "customer_segment")
# Orders arrive up to a few days late and returns weeks later (docs/source-data.md).
SALES_RESTATEMENT_DAYS = 30


def build_sales_by_segment_daily(
    fct_sales_line: DataFrame, dim_product: DataFrame, dim_customer: DataFrame, dates: Iterable[date]
) -> DataFrame:
    """Completed sales of ``dates`` by channel, product category/line and customer segment."""
    days = sorted(set(dates))
    lines = fct_sales_line.filter(F.col("transaction_date").isin(days) & (F.col("order_status") == "completed"))
    products = dim_product.select("product_key", "category", "product_line")
    launches = dim_product.groupBy("category").agg(F.min("launch_date").alias("category_launch_date"))
    segments = dim_customer.select("customer_key", "customer_segment")
    enriched = (
        lines.join(products, on="product_key", how="left")
        .join(segments, on="customer_key", how="left")
        .select(
            F.col("transaction_date").alias("sales_date"),
            F.coalesce(F.col("channel"), F.lit(UNKNOWN)).alias("channel"),
            F.coalesce(F.col("category"), F.lit(UNKNOWN)).alias("category"),
            F.coalesce(F.col("product_line"), F.lit(UNKNOWN)).alias("product_line"),
            F.coalesce(F.col("customer_segment"), F.lit(UNKNOWN)).alias("customer_segment"),
            "transaction_id",
            "customer_id",
            "quantity",
            "line_amount",
            "margin_amount",
        )
    )
    grouped = enriched.groupBy("sales_date", "channel", "category", "product_line", "customer_segment").agg(
        F.sum("line_amount").cast(AMOUNT).alias("revenue"),
        F.sum("quantity").cast("long").alias("units"),
        F.countDistinct("transaction_id").alias("orders"),
        F.countDistinct("customer_id").alias("customers"),
        F.sum("margin_amount").cast(AMOUNT).alias("margin_amount"),
    )
    return grouped.join(launches, on="category", how="left").select(
        "sales_date",
        "channel",
        "category",
        "product_line",
        "customer_segment",
        "category_launch_date",
        "revenue",
        "units",
        "orders",
        "customers",
        "margin_amount",
    )


def restatement_dates(run_dates: Sequence[date]) -> list[date]:
    """The partitions a run rewrites: late orders and returns change past days' sales, so each
    run date restates the trailing window of SALES_RESTATEMENT_DAYS days."""
    return sorted({d - timedelta(days=i) for d in run_dates for i in range(SALES_RESTATEMENT_DAYS)})


def build(
    fct_sales_line: DataFrame, dim_product: DataFrame, dim_customer: DataFrame, run_dates: Sequence[date]
) -> DataFrame:
    """The mart for the restated window of the run dates."""
    return build_sales_by_segment_daily(fct_sales_line, dim_product, dim_customer, restatement_dates(run_dates))


SUITE = (
    TableSuite(NAME, key=KEYS, measures=("revenue", "units"))
    .in_set("channel", ["online", "store", "mobile", UNKNOWN])
    .invariant("revenue_not_negative", "revenue >= 0")
    .invariant("customers_within_orders", "customers <= orders")
)


TABLE = Table(
    name=NAME,
    schema=SCHEMA,
    description="Completed sales per day x channel x product category/line x customer segment: "
    "which customer segments buy which product line.",
    grain="one row per sales date, channel, category, product line and customer segment",
    keys=KEYS,
    partition_by=("sales_date",),
    product=C360,
    owner="customer-analytics",
    inputs={
        "fct_sales_line": "enhanced.sales.fct_sales_line",
        "dim_product": "enhanced.products.dim_product",
        "dim_customer": "enhanced.customer.dim_customer",
    },
    build=build,
    publish="partitions",
    partitions=restatement_dates,
    suite=SUITE,
    freshness_hours=36,
)
