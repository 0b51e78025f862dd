"""dim_product: type-2 history of price, cost, category and status."""

from __future__ import annotations

from datetime import date, datetime
from decimal import Decimal
from typing import Any

from chispa import assert_df_equality
from pyspark.sql import DataFrame, SparkSession

from c360.enhanced import dim_product
from tests.enhanced.frames import D1, D2, D3, D4, at, sanitized, scd2_violations

COLS = [
    "product_id",
    "category",
    "price",
    "cost",
    "status",
    "product_name",
    "valid_from",
    "valid_to",
    "is_current",
    "version",
]
HISTORY = (
    "product_id string, category string, price decimal(12,2), cost decimal(12,2), status string, product_name string, "
    "valid_from timestamp, valid_to timestamp, is_current boolean, version int"
)
UNKNOWN = ("UNKNOWN", None, None, None, None, None, datetime(1900, 1, 1), None, True, 1)


def product(extract: date, **values: Any) -> dict[str, Any]:
    row = {
        "product_id": "P1",
        "product_name": "Trail shoe",
        "category": "Footwear",
        "subcategory": "Running",
        "price": Decimal("100.00"),
        "cost": Decimal("40.00"),
        "status": "active",
        "created_date": D1,
        "_extract_date": extract,
    }
    row.update(values)
    return row


def build(spark: SparkSession, rows: list[dict[str, Any]]) -> DataFrame:
    return dim_product.build(sanitized(spark, "products.products", rows))


def test_each_tracked_attribute_change_is_a_version(spark: SparkSession) -> None:
    dim = build(
        spark,
        [
            product(D1),
            product(D2, price=Decimal("90.00"), cost=Decimal("38.00")),
            product(D3, price=Decimal("90.00"), cost=Decimal("38.00"), category="Outdoor"),
            product(D4, price=Decimal("90.00"), cost=Decimal("38.00"), category="Outdoor", status="inactive"),
        ],
    )

    p90, c38 = Decimal("90.00"), Decimal("38.00")
    expected = spark.createDataFrame(
        [
            ("P1", "Footwear", Decimal("100.00"), Decimal("40.00"), "active", "Trail shoe", at(D1), at(D2), False, 1),
            ("P1", "Footwear", p90, c38, "active", "Trail shoe", at(D2), at(D3), False, 2),
            ("P1", "Outdoor", p90, c38, "active", "Trail shoe", at(D3), at(D4), False, 3),
            ("P1", "Outdoor", p90, c38, "inactive", "Trail shoe", at(D4), None, True, 4),
            UNKNOWN,
        ],
        HISTORY,
    )
    assert_df_equality(dim.select(COLS), expected, ignore_row_order=True, ignore_nullable=True)
    assert scd2_violations(dim, "product_id") == []


def test_resend_without_change_adds_nothing_and_type1_shows_latest(spark: SparkSession) -> None:
    dim = build(
        spark,
        [
            product(D1, created_date=date(2023, 6, 1)),
            product(D2, created_date=date(2023, 6, 1), cost=Decimal("41.00")),
            product(D3, created_date=date(2023, 6, 1), cost=Decimal("41.00"), product_name="Trail shoe II"),
        ],
    )

    expected = spark.createDataFrame(
        [
            # Launched before the first extract: the first version starts at the launch.
            (
                "P1",
                "Footwear",
                Decimal("100.00"),
                Decimal("40.00"),
                "active",
                "Trail shoe II",
                at(date(2023, 6, 1)),
                at(D2),
                False,
                1,
            ),
            ("P1", "Footwear", Decimal("100.00"), Decimal("41.00"), "active", "Trail shoe II", at(D2), None, True, 2),
            UNKNOWN,
        ],
        HISTORY,
    )
    assert_df_equality(dim.select(COLS), expected, ignore_row_order=True, ignore_nullable=True)


def test_inactive_products_stay_in_the_dimension(spark: SparkSession) -> None:
    dim = build(spark, [product(D1, status="discontinued"), product(D1, product_id="P2")])

    actual = dim.filter("product_id <> 'UNKNOWN'").select("product_id", "status", "is_current", "product_line")
    expected = spark.createDataFrame(
        [("P1", "discontinued", True, "Running"), ("P2", "active", True, "Running")],
        "product_id string, status string, is_current boolean, product_line string",
    )
    assert_df_equality(actual, expected, ignore_row_order=True, ignore_nullable=True)


def test_product_keys_are_stable_when_history_grows(spark: SparkSession) -> None:
    first = build(spark, [product(D1)])
    later = build(spark, [product(D1), product(D2, status="seasonal")])

    key = first.filter("product_id = 'P1'").select("product_key").first()[0]
    rows = later.filter("product_id = 'P1'").orderBy("version").select("product_key", "valid_to").collect()
    assert rows[0] == (key, at(D2))
    assert rows[1][0] not in (key, -1)
