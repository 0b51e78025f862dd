"""dim_channel: one row per sales channel. Key: channel_key; natural key: channel.

The channels are a closed list in the transactions contract, so the dimension is
derived from it (plus the unknown member), not from data.
"""

from __future__ import annotations

from pyspark.sql import DataFrame, SparkSession
from pyspark.sql import types as T

from c360.contracts.retail import CHANNELS
from c360.enhanced.common import UNKNOWN_KEY
from c360.quality import TableSuite
from c360.registry import C360, Incremental, Table, column
from c360.storage.schema import local_frame

SCHEMA = T.StructType(
    [
        column("channel_key", T.IntegerType(), "surrogate key", False),
        column("channel", T.StringType(), "online, store, mobile or unknown", False),
        column("channel_group", T.StringType(), "physical or digital"),
        column("is_digital", T.BooleanType(), "ordered online or in the app"),
    ]
)
NAME = "enhanced.sales.dim_channel"
CHANNEL_KEYS = {name: i + 1 for i, name in enumerate(CHANNELS)}


def build(spark: SparkSession) -> DataFrame:
    rows: list[tuple[int, str, str | None, bool | None]] = [
        (key, name, "physical" if name == "store" else "digital", name != "store") for name, key in CHANNEL_KEYS.items()
    ]
    rows.append((UNKNOWN_KEY, "unknown", None, None))
    return local_frame(spark, rows, SCHEMA)


SUITE = TableSuite(NAME, key=("channel_key",)).unique("channel").in_set("channel", [*CHANNEL_KEYS, "unknown"])


TABLE = Table(
    name=NAME,
    schema=SCHEMA,
    description="Sales channels.",
    grain="one row per channel",
    keys=("channel_key",),
    product=C360,
    owner="customer-analytics",
    build=build,
    publish="whole",
    incremental=Incremental(),  # small: rebuilt whole when an input changed, not at all otherwise
    suite=SUITE,
    freshness_hours=36,
)
