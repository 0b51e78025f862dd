"""dim_date, dim_channel and dim_location."""

from __future__ import annotations

from datetime import date
from decimal import Decimal

from chispa import assert_df_equality
from pyspark.sql import SparkSession
from pyspark.sql import functions as F

from c360.enhanced import bridge_product_supplier, dim_channel, dim_date, dim_location, dim_supplier
from c360.enhanced.common import surrogate_key
from tests.enhanced.frames import D1, D2, sanitized


def test_dim_date_calendar_and_fiscal_attributes(spark: SparkSession) -> None:
    dim = dim_date.build(spark)
    days = [date(2023, 1, 1), date(2024, 1, 31), date(2024, 2, 1), date(2024, 2, 29), date(2024, 12, 30)]

    actual = dim.filter(F.col("date").isin(*days)).drop("month_name", "quarter")
    expected = spark.createDataFrame(
        [
            (20230101, date(2023, 1, 1), 2023, 1, 1, 7, "Sunday", True, 52, 2023, 4, 12),
            (20240131, date(2024, 1, 31), 2024, 1, 31, 3, "Wednesday", False, 5, 2024, 4, 12),
            (20240201, date(2024, 2, 1), 2024, 2, 1, 4, "Thursday", False, 5, 2025, 1, 1),
            (20240229, date(2024, 2, 29), 2024, 2, 29, 4, "Thursday", False, 9, 2025, 1, 1),
            (20241230, date(2024, 12, 30), 2024, 12, 30, 1, "Monday", False, 1, 2025, 4, 11),
        ],
        "date_key int, date date, year int, month int, day_of_month int, day_of_week int, day_name string, "
        "is_weekend boolean, iso_week int, fiscal_year int, fiscal_quarter int, fiscal_month int",
    )
    assert_df_equality(actual, expected, ignore_row_order=True, ignore_nullable=True)
    span = dim.agg(F.count("*"), F.countDistinct("date_key"), F.min("date"), F.max("date")).first()
    assert tuple(span) == (7670, 7670, date(2015, 1, 1), date(2035, 12, 31))


def test_dim_channel_is_the_contract_list_plus_unknown(spark: SparkSession) -> None:
    expected = spark.createDataFrame(
        [
            (1, "online", "digital", True),
            (2, "store", "physical", False),
            (3, "mobile", "digital", True),
            (-1, "unknown", None, None),
        ],
        dim_channel.SCHEMA,
    )
    assert_df_equality(dim_channel.build(spark), expected, ignore_row_order=True, ignore_nullable=True)


def test_dim_location_latest_record_wins_and_has_an_unknown_member(spark: SparkSession) -> None:
    locations = sanitized(
        spark,
        "logistics.warehouse_locations",
        [
            {
                "location_id": "ST01",
                "location_name": "Main St",
                "location_type": "store",
                "city": "Austin",
                "_extract_date": D1,
            },
            {
                "location_id": "ST01",
                "location_name": "Main Street",
                "location_type": "store",
                "city": "Austin",
                "_extract_date": D2,
            },
            {
                "location_id": "WH01",
                "location_name": "North",
                "location_type": "warehouse",
                "city": "Reno",
                "_extract_date": D1,
            },
        ],
    )
    dim = dim_location.build(locations)

    expected = (
        spark.createDataFrame(
            [
                ("ST01", "Main Street", "store", True, "Austin"),
                ("WH01", "North", "warehouse", False, "Reno"),
            ],
            "location_id string, location_name string, location_type string, is_store boolean, city string",
        )
        .withColumn("location_key", surrogate_key("location_id"))
        .unionByName(
            spark.createDataFrame(
                [(-1, "UNKNOWN", None, None, None)],
                "location_key bigint, location_id string, location_name string, location_type string, is_store boolean",
            ).withColumn("city", F.lit(None).cast("string"))
        )
    )
    actual = dim.select("location_id", "location_name", "location_type", "is_store", "city", "location_key")
    assert_df_equality(actual, expected.select(actual.columns), ignore_row_order=True, ignore_nullable=True)


def test_dim_supplier_latest_record_wins_and_keeps_contact_tokens(spark: SparkSession) -> None:
    suppliers = sanitized(
        spark,
        "products.suppliers",
        [
            {
                "supplier_id": "SUP1",
                "supplier_name": "Acme",
                "email_token": "t1",
                "quality_rating": 4.0,
                "_extract_date": D1,
            },
            {
                "supplier_id": "SUP1",
                "supplier_name": "Acme",
                "email_token": "t2",
                "quality_rating": 4.5,
                "_extract_date": D2,
            },
            {"supplier_id": "SUP2", "supplier_name": "Bolt", "payment_terms": "Net 30", "_extract_date": D1},
        ],
    )
    dim = dim_supplier.build(suppliers)

    actual = dim.select(
        "supplier_key", "supplier_id", "supplier_name", "email_token", "payment_terms", "quality_rating"
    )
    expected = spark.createDataFrame(
        [
            ("SUP1", "Acme", "t2", None, 4.5),
            ("SUP2", "Bolt", None, "Net 30", None),
            ("UNKNOWN", None, None, None, None),
        ],
        "supplier_id string, supplier_name string, email_token string, payment_terms string, quality_rating double",
    ).withColumn("supplier_key", F.when(F.col("supplier_id") == "UNKNOWN", -1).otherwise(surrogate_key("supplier_id")))
    assert_df_equality(actual, expected.select(actual.columns), ignore_row_order=True, ignore_nullable=True)
    assert dim_supplier.TABLE.pii_columns == ["contact_person_token", "email_token", "phone_token"]


def test_bridge_product_supplier_latest_link_and_unknown_supplier(spark: SparkSession) -> None:
    suppliers = dim_supplier.build(
        sanitized(spark, "products.suppliers", [{"supplier_id": "SUP1", "supplier_name": "Acme", "_extract_date": D1}])
    )
    links = sanitized(
        spark,
        "products.product_suppliers",
        [
            {
                "product_id": "P1",
                "supplier_id": "SUP1",
                "is_primary": True,
                "cost_price": Decimal("9.00"),
                "_extract_date": D1,
            },
            {
                "product_id": "P1",
                "supplier_id": "SUP1",
                "is_primary": True,
                "cost_price": Decimal("9.50"),
                "_extract_date": D2,
            },
            {"product_id": "P1", "supplier_id": "SUP9", "is_primary": False, "lead_time_days": 21, "_extract_date": D1},
        ],
    )
    bridge = bridge_product_supplier.build(links, suppliers)

    expected = spark.createDataFrame(
        [
            ("P1", "SUP1", True, Decimal("9.50"), None, D2),
            ("P1", "SUP9", False, None, 21, D1),
        ],
        "product_id string, supplier_id string, is_primary boolean, cost_price decimal(12,2), lead_time_days int, "
        "delivered_date date",
    ).withColumn("supplier_key", F.when(F.col("supplier_id") == "SUP9", -1).otherwise(surrogate_key("supplier_id")))
    assert_df_equality(
        bridge, expected.select(bridge.columns), ignore_row_order=True, ignore_nullable=True, ignore_metadata=True
    )
