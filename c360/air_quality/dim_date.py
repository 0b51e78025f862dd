"""dim_date: one row per calendar date a fact of this product refers to (key: date).

The retail star will own the shared date dimension (``c360/enhanced/dim_date.py``); it does
not exist yet, so this product publishes its own small one with the same meaning.
Partitioned by ``date``: a run writes the day it publishes, so re-runs never duplicate.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import date

from pyspark.sql import DataFrame, SparkSession
from pyspark.sql import functions as F
from pyspark.sql import types as T

from c360.quality import TableSuite

NAME = "enhanced.air_quality.dim_date"
PARTITION_BY = ["date"]
DESCRIPTION = "Calendar attributes of the dates the air-quality facts refer to."


def _field(name: str, dtype: T.DataType, comment: str) -> T.StructField:
    return T.StructField(name, dtype, False, {"comment": comment})


SCHEMA = T.StructType(
    [
        _field("year", T.IntegerType(), "calendar year"),
        _field("quarter", T.IntegerType(), "1-4"),
        _field("month", T.IntegerType(), "1-12"),
        _field("month_name", T.StringType(), "January..December"),
        _field("day_of_month", T.IntegerType(), "1-31"),
        _field("iso_week", T.IntegerType(), "ISO 8601 week number"),
        _field("iso_day_of_week", T.IntegerType(), "1 = Monday .. 7 = Sunday"),
        _field("day_name", T.StringType(), "Monday..Sunday"),
        _field("is_weekend", T.BooleanType(), "Saturday or Sunday"),
        _field("date", T.DateType(), "the date (key and partition)"),
    ]
)


def build(spark: SparkSession, dates: Sequence[date]) -> DataFrame:
    d = F.col("date")
    dow = F.weekday(d) + 1  # weekday(): 0 = Monday
    df = spark.createDataFrame([(x,) for x in sorted(set(dates))], "date date")
    return df.select(
        F.year(d).alias("year"),
        F.quarter(d).alias("quarter"),
        F.month(d).alias("month"),
        F.date_format(d, "MMMM").alias("month_name"),
        F.dayofmonth(d).alias("day_of_month"),
        F.weekofyear(d).alias("iso_week"),
        dow.alias("iso_day_of_week"),
        F.date_format(d, "EEEE").alias("day_name"),
        (dow >= 6).alias("is_weekend"),
        d.alias("date"),
    )


SUITE = TableSuite(NAME, key=("date",)).in_range("iso_day_of_week", 1, 7)
