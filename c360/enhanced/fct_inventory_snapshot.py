"""fct_inventory_snapshot: daily stock. Grain: one row per product, location and snapshot day.

Keys: (product_id, location_id, snapshot_date); partition snapshot_date. When a day has
several snapshots of one product and location, the latest (by last_updated, then
delivery) is the day's stock.
"""

from __future__ import annotations

from pyspark.sql import DataFrame, Window
from pyspark.sql import functions as F
from pyspark.sql import types as T

from c360.enhanced.common import conform, date_key, lookup_key, lookup_scd
from c360.quality import TableSuite
from c360.registry import C360, Table, column

SCHEMA = T.StructType(
    [
        column("product_id", T.StringType(), "product", False),
        column("product_key", T.LongType(), "dim_product version valid at the snapshot (-1 unknown)", False),
        column("location_id", T.StringType(), "location", False),
        column("location_key", T.LongType(), "dim_location key (-1 unknown)", False),
        column("date_key", T.IntegerType(), "dim_date key", False),
        column("stock_quantity", T.LongType(), "on hand"),
        column("reserved_quantity", T.LongType(), "reserved"),
        column("available_quantity", T.LongType(), "on hand - reserved"),
        column("reorder_point", T.LongType(), "reorder point"),
        column("max_stock_level", T.LongType(), "capacity"),
        column("below_reorder_point", T.BooleanType(), "available stock at or below the reorder point"),
        column("source_extract_date", T.DateType(), "extract that delivered the snapshot", False),
        column("snapshot_date", T.DateType(), "day of the snapshot; the partition", False),
    ]
)
NAME = "enhanced.products.fct_inventory_snapshot"


def build(inventory: DataFrame, dim_product: DataFrame, dim_location: DataFrame) -> DataFrame:
    day = F.to_date("last_updated")
    w = Window.partitionBy("product_id", "location_id", day).orderBy(
        F.col("last_updated").desc(),
        F.col("_extract_date").desc(),
        F.col("_ingest_time").desc(),
        F.col("_line_number").desc(),
    )
    df = inventory.withColumn("__rn", F.row_number().over(w)).filter("__rn = 1")
    df = lookup_scd(df, dim_product, "product_id", "product_id", "last_updated", "product_key")
    df = lookup_key(df, dim_location, "location_id", "location_id", "location_key")
    available = F.col("stock_quantity") - F.coalesce("reserved_quantity", F.lit(0))
    out = df.select(
        "product_id",
        "product_key",
        "location_id",
        "location_key",
        date_key(day).alias("date_key"),
        "stock_quantity",
        "reserved_quantity",
        available.alias("available_quantity"),
        "reorder_point",
        "max_stock_level",
        (available <= F.col("reorder_point")).alias("below_reorder_point"),
        F.col("_extract_date").alias("source_extract_date"),
        day.alias("snapshot_date"),
    )
    return conform(out, SCHEMA)


SUITE = (
    TableSuite(NAME, key=("product_id", "location_id", "snapshot_date"), measures=("stock_quantity",))
    .foreign_key("product_key", "enhanced.products.dim_product")
    .foreign_key("location_key", "enhanced.logistics.dim_location")
    .in_range("stock_quantity", 0, 10_000_000)
)


TABLE = Table(
    name=NAME,
    schema=SCHEMA,
    description="Daily stock per product and location.",
    grain="one row per product, location and day",
    keys=("product_id", "location_id", "snapshot_date"),
    partition_by=("snapshot_date",),
    foreign_keys=("product_key", "location_key"),
    product=C360,
    owner="customer-analytics",
    inputs={
        "inventory": "sanitized.products.inventory",
        "dim_product": "enhanced.products.dim_product",
        "dim_location": "enhanced.logistics.dim_location",
    },
    build=build,
    publish="partitions",
    suite=SUITE,
    freshness_hours=36,
)
