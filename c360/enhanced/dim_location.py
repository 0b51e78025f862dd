"""dim_location: stores, warehouses and distribution centres. Grain: one row per location.

Keys: location_key (hash of location_id); natural key location_id. Type 1: the latest
delivered record of each location (sites do not move; a correction replaces).
"""

from __future__ import annotations

from pyspark.sql import DataFrame
from pyspark.sql import functions as F
from pyspark.sql import types as T

from c360.enhanced.common import (
    UNKNOWN_KEY,
    conform,
    latest_versions,
    surrogate_key,
    unknown_member,
)
from c360.quality import TableSuite
from c360.registry import C360, Incremental, Table, column

SCHEMA = T.StructType(
    [
        column("location_key", T.LongType(), "surrogate key", False),
        column("location_id", T.StringType(), "location id (WH..., ST...)", False),
        column("location_name", T.StringType(), "name"),
        column("location_type", T.StringType(), "warehouse, distribution_center or store"),
        column("is_store", T.BooleanType(), "a store customers walk into"),
        column("city", T.StringType(), "city"),
        column("state", T.StringType(), "state"),
        column("country", T.StringType(), "ISO country"),
        column("capacity_cubic_meters", T.LongType(), "capacity"),
    ]
)
NAME = "enhanced.logistics.dim_location"


def build(locations: DataFrame) -> DataFrame:
    latest = latest_versions(locations, ["location_id"])
    out = latest.select(
        surrogate_key("location_id").alias("location_key"),
        "location_id",
        "location_name",
        "location_type",
        (F.col("location_type") == "store").alias("is_store"),
        "city",
        "state",
        "country",
        "capacity_cubic_meters",
    )
    unknown = unknown_member(out.sparkSession, SCHEMA, location_key=UNKNOWN_KEY, location_id="UNKNOWN")
    return conform(out, SCHEMA).unionByName(unknown)


SUITE = (
    TableSuite(NAME, key=("location_key",))
    .unique("location_id")
    .in_set("location_type", ["warehouse", "distribution_center", "store"])
)


TABLE = Table(
    name=NAME,
    schema=SCHEMA,
    description="Stores, warehouses and distribution centres.",
    grain="one row per location",
    keys=("location_key",),
    product=C360,
    owner="customer-analytics",
    inputs={"locations": "sanitized.logistics.warehouse_locations"},
    build=build,
    publish="whole",
    incremental=Incremental(),  # small: rebuilt whole when an input changed, not at all otherwise
    suite=SUITE,
    freshness_hours=36,
)
