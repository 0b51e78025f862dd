"""fct_sales_line: amounts, cost and margin at the product version valid when sold."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from chispa import assert_df_equality
from pyspark.sql import DataFrame, SparkSession

from c360.enhanced import dim_customer, dim_product, fct_sales_line
from tests.enhanced.frames import D1, D2, D3, at, keys_by_version, sanitized

COLS = [
    "item_id",
    "transaction_date",
    "customer_key",
    "product_key",
    "order_status",
    "order_is_missing",
    "quantity",
    "gross_amount",
    "discount_amount",
    "line_amount",
    "unit_cost",
    "cost_amount",
    "margin_amount",
    "source_extract_date",
]
EXPECTED = (
    "item_id string, transaction_date date, customer_key bigint, product_key bigint, order_status string, "
    "order_is_missing boolean, quantity int, gross_amount decimal(14,2), discount_amount decimal(12,2), "
    "line_amount decimal(14,2), unit_cost decimal(12,2), cost_amount decimal(14,2), margin_amount decimal(14,2), "
    "source_extract_date date"
)


def m(value: str) -> Decimal:
    return Decimal(value)


def product(extract: Any, **values: Any) -> dict[str, Any]:
    row = {"product_id": "P1", "product_name": "Kettle", "category": "Home", "price": m("20.00"), "cost": m("8.00")}
    row.update(status="active", created_date=D1, _extract_date=extract)
    row.update(values)
    return row


def line(item: str, txn: str, extract: Any, quantity: int, price: str, **values: Any) -> dict[str, Any]:
    row = {"item_id": item, "transaction_id": txn, "product_id": "P1", "quantity": quantity, "unit_price": m(price)}
    row.update(_extract_date=extract)
    row.update(values)
    return row


def order(txn: str, extract: Any, ts: Any, **values: Any) -> dict[str, Any]:
    row = {
        "transaction_id": txn,
        "customer_id": "C1",
        "transaction_date": ts,
        "channel": "online",
        "status": "completed",
    }
    row.update(subtotal=m("1.00"), total_amount=m("1.00"), currency="USD", _extract_date=extract)
    row.update(values)
    return row


def dims(spark: SparkSession, products: list[dict[str, Any]]) -> tuple[DataFrame, DataFrame]:
    customers = sanitized(
        spark, "customer.customers", [{"customer_id": "C1", "registration_date": at(D1), "_extract_date": D1}]
    )
    return (
        dim_customer.build(customers, sanitized(spark, "customer.loyalty_program", [])),
        dim_product.build(sanitized(spark, "products.products", products)),
    )


def build(
    spark: SparkSession, lines: list[dict[str, Any]], orders: list[dict[str, Any]], dims_: tuple[DataFrame, DataFrame]
) -> DataFrame:
    items = sanitized(spark, "sales.transaction_items", lines)
    transactions = sanitized(spark, "sales.transactions", orders)
    return fct_sales_line.build(items, transactions, *dims_).select(COLS)


def test_margin_uses_the_cost_valid_at_the_sale(spark: SparkSession) -> None:
    # The price and the cost change on D2: the D1 sale keeps the old cost, the D2 sale the new one.
    customers, products = dims(spark, [product(D1), product(D2, price=m("25.00"), cost=m("11.00"))])
    c1 = keys_by_version(customers, "customer_id", "customer_key")[("C1", at(D1))]
    p = keys_by_version(products, "product_id", "product_key")

    actual = build(
        spark,
        [line("I1", "T1", D1, 2, "20.00", discount_applied=m("1.50")), line("I2", "T2", D2, 3, "25.00")],
        [order("T1", D1, at(D1, 18)), order("T2", D2, at(D2, 8))],
        (customers, products),
    )

    expected = spark.createDataFrame(
        [
            (
                "I1",
                D1,
                c1,
                p[("P1", at(D1))],
                "completed",
                False,
                2,
                m("40.00"),
                m("1.50"),
                m("38.50"),
                m("8.00"),
                m("16.00"),
                m("22.50"),
                D1,
            ),
            (
                "I2",
                D2,
                c1,
                p[("P1", at(D2))],
                "completed",
                False,
                3,
                m("75.00"),
                m("0.00"),
                m("75.00"),
                m("11.00"),
                m("33.00"),
                m("42.00"),
                D2,
            ),
        ],
        EXPECTED,
    )
    assert_df_equality(actual, expected, ignore_row_order=True, ignore_nullable=True)


def test_lines_of_an_inactive_product_keep_their_revenue(spark: SparkSession) -> None:
    # P1 is discontinued on D2; its D1 and D3 sales (a clearance) both stay in the fact.
    customers, products = dims(spark, [product(D1), product(D2, status="discontinued")])
    c1 = keys_by_version(customers, "customer_id", "customer_key")[("C1", at(D1))]
    p = keys_by_version(products, "product_id", "product_key")

    actual = build(
        spark,
        [line("I1", "T1", D1, 1, "20.00"), line("I2", "T2", D3, 1, "10.00")],
        [order("T1", D1, at(D1, 12)), order("T2", D3, at(D3, 12), status="returned")],
        (customers, products),
    )

    expected = spark.createDataFrame(
        [
            (
                "I1",
                D1,
                c1,
                p[("P1", at(D1))],
                "completed",
                False,
                1,
                m("20.00"),
                m("0.00"),
                m("20.00"),
                m("8.00"),
                m("8.00"),
                m("12.00"),
                D1,
            ),
            (
                "I2",
                D3,
                c1,
                p[("P1", at(D2))],
                "returned",
                False,
                1,
                m("10.00"),
                m("0.00"),
                m("10.00"),
                m("8.00"),
                m("8.00"),
                m("2.00"),
                D3,
            ),
        ],
        EXPECTED,
    )
    assert_df_equality(actual, expected, ignore_row_order=True, ignore_nullable=True)


def test_line_of_an_unknown_order_and_of_an_unknown_product(spark: SparkSession) -> None:
    customers, products = dims(spark, [product(D1)])
    c1 = keys_by_version(customers, "customer_id", "customer_key")[("C1", at(D1))]

    actual = build(
        spark,
        [line("I1", "T404", D2, 1, "20.00"), line("I2", "T1", D1, 4, "5.00", product_id="P404")],
        [order("T1", D1, at(D1, 12))],
        (customers, products),
    )

    expected = spark.createDataFrame(
        [
            # Its order never arrived: dated by the extract that delivered it, unknown customer.
            (
                "I1",
                D2,
                -1,
                keys_by_version(products, "product_id", "product_key")[("P1", at(D1))],
                None,
                True,
                1,
                m("20.00"),
                m("0.00"),
                m("20.00"),
                m("8.00"),
                m("8.00"),
                m("12.00"),
                D2,
            ),
            # An unknown product has no cost, so no margin rather than a margin of 100 %.
            ("I2", D1, c1, -1, "completed", False, 4, m("20.00"), m("0.00"), m("20.00"), None, None, None, D1),
        ],
        EXPECTED,
    )
    assert_df_equality(actual, expected, ignore_row_order=True, ignore_nullable=True)


def test_late_order_moves_its_lines_to_the_transaction_date(spark: SparkSession) -> None:
    # Lines on D2, their order only on D3 but placed on D1: the lines belong to D1,
    # and were last touched by the D3 extract.
    customers, products = dims(spark, [product(D1)])
    c1 = keys_by_version(customers, "customer_id", "customer_key")[("C1", at(D1))]
    p1 = keys_by_version(products, "product_id", "product_key")[("P1", at(D1))]

    actual = build(spark, [line("I1", "T1", D2, 1, "20.00")], [order("T1", D3, at(D1, 20))], (customers, products))

    expected = spark.createDataFrame(
        [
            (
                "I1",
                D1,
                c1,
                p1,
                "completed",
                False,
                1,
                m("20.00"),
                m("0.00"),
                m("20.00"),
                m("8.00"),
                m("8.00"),
                m("12.00"),
                D3,
            )
        ],
        EXPECTED,
    )
    assert_df_equality(actual, expected, ignore_row_order=True, ignore_nullable=True)
