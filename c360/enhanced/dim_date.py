"""dim_date: one row per calendar day, 2015-01-01 to 2035-12-31. Key: date_key (yyyymmdd).

A static calendar (it depends on no data, so every run writes the same rows). The fiscal
year starts on 1 February, as in the US retail (NRF 4-5-4) calendar: fiscal year N runs
from 1 Feb N-1 to 31 Jan N.
"""

from __future__ import annotations

from datetime import date

from pyspark.sql import DataFrame, SparkSession
from pyspark.sql import functions as F
from pyspark.sql import types as T

from c360.enhanced.common import conform, date_key
from c360.quality import TableSuite
from c360.registry import C360, Incremental, Table, column

FIRST, LAST = date(2015, 1, 1), date(2035, 12, 31)
SCHEMA = T.StructType(
    [
        column("date_key", T.IntegerType(), "yyyymmdd", False),
        column("date", T.DateType(), "calendar day", False),
        column("year", T.IntegerType(), "calendar year"),
        column("quarter", T.IntegerType(), "calendar quarter 1-4"),
        column("month", T.IntegerType(), "month 1-12"),
        column("month_name", T.StringType(), "January..December"),
        column("day_of_month", T.IntegerType(), "1-31"),
        column("day_of_week", T.IntegerType(), "ISO weekday, 1 = Monday"),
        column("day_name", T.StringType(), "Monday..Sunday"),
        column("is_weekend", T.BooleanType(), "Saturday or Sunday"),
        column("iso_week", T.IntegerType(), "ISO week of year"),
        column("fiscal_year", T.IntegerType(), "fiscal year (starts 1 February)"),
        column("fiscal_quarter", T.IntegerType(), "fiscal quarter 1-4"),
        column("fiscal_month", T.IntegerType(), "fiscal month 1-12 (1 = February)"),
    ]
)
NAME = "enhanced.shared.dim_date"


def build(spark: SparkSession) -> DataFrame:
    days = (LAST - FIRST).days + 1
    d = spark.range(days).select(F.date_add(F.lit(FIRST), F.col("id").cast("int")).alias("date"))
    fiscal_month = ((F.month("date") + 10) % 12) + 1
    out = d.select(
        date_key(F.col("date")).alias("date_key"),
        "date",
        F.year("date").alias("year"),
        F.quarter("date").alias("quarter"),
        F.month("date").alias("month"),
        F.date_format("date", "MMMM").alias("month_name"),
        F.dayofmonth("date").alias("day_of_month"),
        (((F.dayofweek("date") + 5) % 7) + 1).alias("day_of_week"),
        F.date_format("date", "EEEE").alias("day_name"),
        F.dayofweek("date").isin(1, 7).alias("is_weekend"),
        F.weekofyear("date").alias("iso_week"),
        (F.year("date") + F.when(F.month("date") >= 2, 1).otherwise(0)).alias("fiscal_year"),
        (F.floor((fiscal_month - 1) / 3) + 1).alias("fiscal_quarter"),
        fiscal_month.alias("fiscal_month"),
    )
    return conform(out, SCHEMA)


SUITE = (
    TableSuite(NAME, key=("date_key",))
    .unique("date")
    .row_count(7000, 8000)
    .in_range("day_of_week", 1, 7)
    .in_range("fiscal_quarter", 1, 4)
)


TABLE = Table(
    name=NAME,
    schema=SCHEMA,
    description="Calendar and fiscal attributes of every day.",
    grain="one row per calendar day",
    keys=("date_key",),
    product=C360,
    owner="customer-analytics",
    build=build,
    publish="whole",
    incremental=Incremental(),  # small: rebuilt whole when an input changed, not at all otherwise
    suite=SUITE,
    freshness_hours=36,
)
