"""bridge_product_supplier: which supplier delivers which product, at what cost and lead time.

Grain: one row per product and supplier (the latest delivered link). Keys: (product_id,
supplier_id), the pair as delivered; supplier_key is the foreign key to dim_supplier.
The product side is the durable natural key product_id, not a product_key: the link
holds for every version of the product in dim_product. A link
whose supplier is not in dim_supplier points at the unknown member (-1) and keeps its
supplier_id, so it stays visible.

The source delivers the full link list with each catalogue, so a link is replaced by a
later delivery of the same pair. A link that disappears from a later delivery is kept
(the extract does not say a link ended; the primary flag says which one is in use).
"""

from __future__ import annotations

from pyspark.sql import DataFrame
from pyspark.sql import functions as F
from pyspark.sql import types as T

from c360.enhanced.common import conform, latest_versions, lookup_key
from c360.quality import TableSuite
from c360.registry import C360, Incremental, Table, column

SCHEMA = T.StructType(
    [
        column("product_id", T.StringType(), "product (durable key of dim_product)", False),
        column("supplier_key", T.LongType(), "dim_supplier key (-1 unknown supplier)", False),
        column("supplier_id", T.StringType(), "supplier id as delivered", False),
        column("is_primary", T.BooleanType(), "the supplier the product is normally bought from"),
        column("cost_price", T.DecimalType(12, 2), "purchase price from this supplier"),
        column("lead_time_days", T.IntegerType(), "days from order to delivery"),
        column("delivered_date", T.DateType(), "extract date of the link's latest delivery", False),
    ]
)
NAME = "enhanced.products.bridge_product_supplier"


def build(links: DataFrame, dim_supplier: DataFrame) -> DataFrame:
    latest = latest_versions(links, ["product_id", "supplier_id"]).withColumn("delivered_date", F.col("_extract_date"))
    return conform(lookup_key(latest, dim_supplier, "supplier_id", "supplier_id", "supplier_key"), SCHEMA)


SUITE = (
    TableSuite(NAME, key=("product_id", "supplier_id"))
    .foreign_key("supplier_key", "enhanced.products.dim_supplier")
    .foreign_key("product_id", "enhanced.products.dim_product", severity="warn")
    .in_range("cost_price", 0, None)
    .in_range("lead_time_days", 0, None)
)


TABLE = Table(
    name=NAME,
    schema=SCHEMA,
    description="Product to supplier links with cost price and lead time (latest delivered).",
    grain="one row per product and supplier",
    keys=("product_id", "supplier_id"),
    product=C360,
    owner="customer-analytics",
    inputs={"links": "sanitized.products.product_suppliers", "dim_supplier": "enhanced.products.dim_supplier"},
    build=build,
    publish="whole",
    incremental=Incremental(),  # small: rebuilt whole when an input changed, not at all otherwise
    suite=SUITE,
    freshness_hours=36,
)
