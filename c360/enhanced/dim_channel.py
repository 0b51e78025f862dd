"""dim_channel: one row per sales channel. Key: channel_key; natural key: channel.

The channels are a closed list in the transactions contract, so the dimension is
derived from it (plus the unknown member), not from data.
"""

from __future__ import annotations

from pyspark.sql import DataFrame, SparkSession
from pyspark.sql import types as T

from c360.contracts.retail import CHANNELS
from c360.enhanced.common import UNKNOWN_KEY, TableSpec, col_field
from c360.quality import TableSuite

SCHEMA = T.StructType(
    [
        col_field("channel_key", T.IntegerType(), "surrogate key", False),
        col_field("channel", T.StringType(), "online, store, mobile or unknown", False),
        col_field("channel_group", T.StringType(), "physical or digital"),
        col_field("is_digital", T.BooleanType(), "ordered online or in the app"),
    ]
)
SPEC = TableSpec(
    name="enhanced.sales.dim_channel",
    schema=SCHEMA,
    description="Sales channels.",
    grain="one row per channel",
    keys=("channel_key",),
)
CHANNEL_KEYS = {name: i + 1 for i, name in enumerate(CHANNELS)}


def build(spark: SparkSession) -> DataFrame:
    rows = [
        (key, name, "physical" if name == "store" else "digital", name != "store") for name, key in CHANNEL_KEYS.items()
    ]
    rows.append((UNKNOWN_KEY, "unknown", None, None))
    return spark.createDataFrame(rows, SCHEMA)


SUITE = TableSuite(SPEC.name, key=("channel_key",)).unique("channel").in_set("channel", [*CHANNEL_KEYS, "unknown"])
