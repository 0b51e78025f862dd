"""dim_product: the catalogue with type-2 history. Grain: one row per product per version.

Keys: product_key (hash of product_id + valid_from); natural key product_id; one
``is_current`` row per product. Tracked (type 2): price, cost, category, status, so a
sale is valued at the cost valid when it happened. Name, product line, brand and launch
date are type 1. Inactive and discontinued products stay in the dimension: their past
sales must never vanish from totals.
"""

from __future__ import annotations

from pyspark.sql import DataFrame, Window
from pyspark.sql import functions as F
from pyspark.sql import types as T

from c360.enhanced.common import UNKNOWN_KEY, VERSION_ORDER, conform, scd2, unknown_member
from c360.quality import TableSuite
from c360.registry import C360, Incremental, Table, column

TRACKED = ("price", "cost", "category", "status")
MONEY = T.DecimalType(12, 2)
SCHEMA = T.StructType(
    [
        column("product_key", T.LongType(), "surrogate key of this version", False),
        column("product_id", T.StringType(), "product id", False),
        column("product_name", T.StringType(), "name"),
        column("category", T.StringType(), "category (type 2)"),
        column("product_line", T.StringType(), "product line (the source's subcategory)"),
        column("brand", T.StringType(), "brand"),
        column("price", MONEY, "list price (type 2)"),
        column("cost", MONEY, "unit cost (type 2)"),
        column("status", T.StringType(), "active, inactive, seasonal or discontinued (type 2)"),
        column("launch_date", T.DateType(), "catalogue entry date"),
        column("valid_from", T.TimestampType(), "version valid from (inclusive, UTC)", False),
        column("valid_to", T.TimestampType(), "version valid until (exclusive); NULL = current"),
        column("is_current", T.BooleanType(), "the product's current version", False),
        column("version", T.IntegerType(), "1 = first version", False),
    ]
)
NAME = "enhanced.products.dim_product"


def build(products: DataFrame) -> DataFrame:
    first = Window.partitionBy("product_id").orderBy(*VERSION_ORDER)
    delivered = F.to_timestamp(F.col("_extract_date"))
    launched = F.to_timestamp(F.col("created_date"))
    versions = (
        products.withColumn("__n", F.row_number().over(first))
        .withColumn(
            "__ts",
            F.when(F.col("__n") == 1, F.least(F.coalesce(launched, delivered), delivered)).otherwise(delivered),
        )
        .select(
            "product_id",
            "__ts",
            "product_name",
            "category",
            F.col("subcategory").alias("product_line"),
            "brand",
            "price",
            "cost",
            "status",
            F.col("created_date").alias("launch_date"),
        )
    )
    # Sanitize keeps one version per product and extract date, so each __ts is unique per product.
    history = scd2(versions, key="product_id", change_ts="__ts", tracked=TRACKED, sk_name="product_key")
    unknown = unknown_member(
        history.sparkSession, SCHEMA, product_key=UNKNOWN_KEY, product_id="UNKNOWN", is_current=True, version=1
    )
    return conform(history, SCHEMA).unionByName(unknown)


SUITE = (
    TableSuite(NAME, key=("product_key",))
    .not_null("product_id")
    .invariant("valid_interval", "valid_to IS NULL OR valid_to > valid_from")
    .invariant("current_iff_open", "is_current = (valid_to IS NULL)")
    .invariant("price_positive", "product_key = -1 OR price > 0")
)


TABLE = Table(
    name=NAME,
    schema=SCHEMA,
    description="Products with type-2 history of price, cost, category and status.",
    grain="one row per product per version",
    keys=("product_key",),
    product=C360,
    owner="customer-analytics",
    inputs={"products": "sanitized.products.products"},
    build=build,
    publish="whole",
    incremental=Incremental(),  # small: rebuilt whole when an input changed, not at all otherwise
    suite=SUITE,
    freshness_hours=36,
)
