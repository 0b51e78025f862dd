"""sales_by_segment_daily: grouping, the segment valid at the sale, inactive and unknown products."""

from __future__ import annotations

from datetime import date, datetime
from decimal import Decimal

from chispa import assert_df_equality
from marts_frames import dim_customer, dim_product, fct_sales_line
from pyspark.sql import SparkSession

from c360.enhanced.marts.sales_by_segment_daily import TABLE as SALES_BY_SEGMENT_DAILY
from c360.enhanced.marts.sales_by_segment_daily import build_sales_by_segment_daily

D1, D2 = date(2024, 3, 5), date(2024, 3, 12)
SMART_HOME_LAUNCH = date(2024, 2, 15)


def test_sales_by_segment_daily(spark: SparkSession) -> None:
    customers = dim_customer(
        spark,
        {"customer_key": -1, "customer_id": "UNKNOWN", "customer_segment": None},
        # C1 moved from Standard to Premium on 2024-03-10; lines carry the key valid at the sale.
        {"customer_key": 1, "customer_id": "C1", "customer_segment": "Standard", "valid_to": datetime(2024, 3, 10)},
        {"customer_key": 2, "customer_id": "C1", "customer_segment": "Premium", "valid_from": datetime(2024, 3, 10)},
        {"customer_key": 3, "customer_id": "C2", "customer_segment": "Basic"},
    )
    products = dim_product(
        spark,
        {"product_key": 1, "category": "Electronics", "product_line": "Audio"},
        {"product_key": 2, "category": "Smart Home", "product_line": "Climate", "launch_date": SMART_HOME_LAUNCH},
        {"product_key": 3, "category": "Smart Home", "product_line": "Power", "status": "discontinued",
         "launch_date": date(2024, 2, 16)},
    )  # fmt: skip

    def line(item: str, txn: str, cid: str, key: int, d: date, product: int, qty: int, amount: str, **kw: object):
        return {"item_id": item, "transaction_id": txn, "customer_id": cid, "customer_key": key,
                "transaction_date": d, "product_key": product, "quantity": qty, "line_amount": amount,
                "margin_amount": Decimal(amount) / 2, **kw}  # fmt: skip

    lines = fct_sales_line(
        spark,
        line("1", "T1", "C1", 1, D1, 2, 1, "199.99"),  # before the segment change: Standard
        line("2", "T2", "C1", 2, D2, 2, 2, "399.98"),  # after: Premium
        line("3", "T2", "C1", 2, D2, 3, 1, "29.99"),  # a discontinued product sells like any other
        line("4", "T3", "C1", 2, D2, 2, 1, "199.99"),  # second Premium order of the same cell
        line("5", "T4", "C2", 3, D2, 2, 1, "199.99"),
        line("6", "T5", "C2", 3, D2, 2, 1, "199.99", order_status="cancelled"),  # never counts
        line("7", "T6", "C2", 3, D2, 2, 1, "199.99", order_status="returned"),  # never counts
        line("8", "T7", "CUST9", -1, D2, 1, 3, "30.00", channel="store"),  # unknown customer
        line("9", "T8", "C2", 3, D2, 99, 1, "5.00", channel="store", margin_amount=None),  # product not in dim
        line("10", "T9", "C2", 3, date(2024, 3, 13), 2, 1, "199.99"),  # a date not asked for
    )
    got = build_sales_by_segment_daily(lines, products, customers, [D2, D1, D2]).orderBy(
        "sales_date", "channel", "category", "product_line", "customer_segment"
    )
    expected = spark.createDataFrame(
        [
            (D1, "online", "Smart Home", "Climate", "Standard", SMART_HOME_LAUNCH, "199.99", 1, 1, 1, "100.00"),
            (D2, "online", "Smart Home", "Climate", "Basic", SMART_HOME_LAUNCH, "199.99", 1, 1, 1, "100.00"),
            (D2, "online", "Smart Home", "Climate", "Premium", SMART_HOME_LAUNCH, "599.97", 3, 2, 1, "299.99"),
            (D2, "online", "Smart Home", "Power", "Premium", SMART_HOME_LAUNCH, "29.99", 1, 1, 1, "15.00"),
            (D2, "store", "Electronics", "Audio", "Unknown", date(2023, 1, 1), "30.00", 3, 1, 1, "15.00"),
            (D2, "store", "Unknown", "Unknown", "Basic", None, "5.00", 1, 1, 1, None),
        ],
        "sales_date date, channel string, category string, product_line string, customer_segment string, "
        "category_launch_date date, revenue string, units bigint, orders bigint, customers bigint, "
        "margin_amount string",
    ).selectExpr(
        "sales_date", "channel", "category", "product_line", "customer_segment", "category_launch_date",
        "cast(revenue as decimal(18,2)) as revenue", "units", "orders", "customers",
        "cast(margin_amount as decimal(18,2)) as margin_amount",
    )  # fmt: skip
    assert [(f.name, f.dataType) for f in got.schema] == [(f.name, f.dataType) for f in SALES_BY_SEGMENT_DAILY.schema]
    assert_df_equality(got, expected, ignore_nullable=True)
