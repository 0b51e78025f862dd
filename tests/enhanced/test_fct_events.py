"""fct_support_ticket, fct_app_session, fct_shipment and fct_inventory_snapshot."""

from __future__ import annotations

from datetime import date
from decimal import Decimal

from chispa import assert_df_equality
from pyspark.sql import DataFrame, SparkSession

from c360.enhanced import (
    dim_customer,
    dim_location,
    dim_product,
    fct_app_session,
    fct_inventory_snapshot,
    fct_shipment,
    fct_support_ticket,
)
from c360.enhanced.common import affected_dates
from tests.enhanced.frames import D1, D2, D3, D4, at, keys_by_version, sanitized


def customers(spark: SparkSession) -> DataFrame:
    rows = [
        {"customer_id": "C1", "registration_date": at(D1), "customer_segment": "Basic", "_extract_date": D1},
        {"customer_id": "C1", "registration_date": at(D1), "customer_segment": "Premium", "_extract_date": D2},
    ]
    return dim_customer.build(
        sanitized(spark, "customer.customers", rows), sanitized(spark, "customer.loyalty_program", [])
    )


def locations(spark: SparkSession) -> DataFrame:
    rows = [{"location_id": "WH01", "location_type": "warehouse", "_extract_date": D1}]
    return dim_location.build(sanitized(spark, "logistics.warehouse_locations", rows))


def test_ticket_latest_state_and_a_missing_score_stays_null(spark: SparkSession) -> None:
    dim = customers(spark)
    c1 = keys_by_version(dim, "customer_id", "customer_key")
    tickets = sanitized(
        spark,
        "customer.support_tickets",
        [
            {"ticket_id": "K1", "customer_id": "C1", "created_date": at(D1, 9), "status": "open", "_extract_date": D1},
            # Resolved on D3 and re-sent with a score.
            {
                "ticket_id": "K1",
                "customer_id": "C1",
                "created_date": at(D1, 9),
                "resolved_date": at(D1, 21),
                "status": "resolved",
                "satisfaction_score": 2,
                "_extract_date": D3,
            },
            # Resolved, but the customer never answered the survey.
            {
                "ticket_id": "K2",
                "customer_id": "C1",
                "created_date": at(D2, 10),
                "resolved_date": at(D2, 16),
                "status": "closed",
                "_extract_date": D2,
            },
            {
                "ticket_id": "K3",
                "customer_id": "C404",
                "created_date": at(D3, 10),
                "status": "open",
                "_extract_date": D3,
            },
        ],
    )

    actual = fct_support_ticket.build(tickets, dim).select(
        "ticket_id",
        "customer_key",
        "created_date",
        "status",
        "satisfaction_score",
        "resolution_hours",
        "source_extract_date",
    )

    expected = spark.createDataFrame(
        [
            ("K1", c1[("C1", at(D1))], D1, "resolved", 2, 12.0, D3),
            ("K2", c1[("C1", at(D2))], D2, "closed", None, 6.0, D2),
            ("K3", -1, D3, "open", None, None, D3),
        ],
        "ticket_id string, customer_key bigint, created_date date, status string, satisfaction_score int, "
        "resolution_hours double, source_extract_date date",
    )
    assert_df_equality(actual, expected, ignore_row_order=True, ignore_nullable=True)


def test_app_sessions_keyed_at_the_session_time(spark: SparkSession) -> None:
    dim = customers(spark)
    c1 = keys_by_version(dim, "customer_id", "customer_key")
    sessions = sanitized(
        spark,
        "customer.app_usage",
        [
            {
                "usage_id": "U1",
                "customer_id": "C1",
                "session_date": D1,
                "session_start": at(D1, 22),
                "session_duration_minutes": 12,
                "_extract_date": D2,
            },
            # No start time: the session day places it.
            {
                "usage_id": "U2",
                "customer_id": "C1",
                "session_date": D2,
                "session_duration_minutes": 3,
                "_extract_date": D2,
            },
            {
                "usage_id": "U3",
                "customer_id": "C404",
                "session_date": D2,
                "session_start": at(D2, 1),
                "_extract_date": D2,
            },
        ],
    )

    actual = fct_app_session.build(sessions, dim).select(
        "usage_id", "customer_key", "date_key", "duration_minutes", "session_date"
    )

    expected = spark.createDataFrame(
        [
            ("U1", c1[("C1", at(D1))], 20240110, 12, D1),
            ("U2", c1[("C1", at(D2))], 20240111, 3, D2),
            ("U3", -1, 20240111, None, D2),
        ],
        "usage_id string, customer_key bigint, date_key int, duration_minutes int, session_date date",
    )
    assert_df_equality(actual, expected, ignore_row_order=True, ignore_nullable=True)


def test_shipment_delay_and_on_time(spark: SparkSession) -> None:
    dim, sites = customers(spark), locations(spark)
    c1 = keys_by_version(dim, "customer_id", "customer_key")
    wh = sites.filter("location_id = 'WH01'").first()["location_key"]
    orders = sanitized(
        spark,
        "sales.transactions",
        [{"transaction_id": "T1", "customer_id": "C1", "transaction_date": at(D1, 8), "_extract_date": D1}],
    )
    late, early = date(2024, 1, 15), date(2024, 1, 14)
    shipments = sanitized(
        spark,
        "logistics.shipments",
        [
            {
                "shipment_id": "S1",
                "transaction_id": "T1",
                "origin_location": "WH01",
                "ship_date": D2,
                "estimated_delivery": D4,
                "delivery_status": "in_transit",
                "_extract_date": D2,
            },
            {
                "shipment_id": "S1",
                "transaction_id": "T1",
                "origin_location": "WH01",
                "ship_date": D2,
                "estimated_delivery": D4,
                "actual_delivery": late,
                "delivery_status": "delivered",
                "_extract_date": late,
            },
            {
                "shipment_id": "S2",
                "transaction_id": "T1",
                "origin_location": "WH01",
                "ship_date": D2,
                "estimated_delivery": early,
                "actual_delivery": D4,
                "delivery_status": "delivered",
                "_extract_date": D4,
            },
            {
                "shipment_id": "S3",
                "transaction_id": "T1",
                "origin_location": "WH01",
                "ship_date": D2,
                "estimated_delivery": D4,
                "actual_delivery": D4,
                "delivery_status": "delivered",
                "_extract_date": D4,
            },
            # Not shipped yet, from an unknown site, for an order never delivered.
            {
                "shipment_id": "S4",
                "transaction_id": "T404",
                "origin_location": "WH99",
                "delivery_status": "pending",
                "_extract_date": D3,
            },
        ],
    )

    actual = fct_shipment.build(shipments, orders, dim, sites).select(
        "shipment_id",
        "customer_key",
        "origin_location_key",
        "delay_days",
        "is_on_time",
        "source_extract_date",
        "ship_date",
    )

    # S1-S3 are keyed to the customer version valid when the order was placed (D1).
    expected = spark.createDataFrame(
        [
            ("S1", c1[("C1", at(D1))], wh, 2, False, late, D2),
            ("S2", c1[("C1", at(D1))], wh, -1, True, D4, D2),
            ("S3", c1[("C1", at(D1))], wh, 0, True, D4, D2),
            ("S4", -1, -1, None, None, D3, D3),
        ],
        "shipment_id string, customer_key bigint, origin_location_key bigint, delay_days int, is_on_time boolean, "
        "source_extract_date date, ship_date date",
    )
    assert_df_equality(actual, expected, ignore_row_order=True, ignore_nullable=True)


def test_inventory_latest_snapshot_per_product_location_and_day(spark: SparkSession) -> None:
    products = dim_product.build(
        sanitized(
            spark,
            "products.products",
            [
                {
                    "product_id": "P1",
                    "price": Decimal("5.00"),
                    "cost": Decimal("2.00"),
                    "status": "active",
                    "created_date": D1,
                    "_extract_date": D1,
                },
                {
                    "product_id": "P1",
                    "price": Decimal("6.00"),
                    "cost": Decimal("2.00"),
                    "status": "active",
                    "created_date": D1,
                    "_extract_date": D2,
                },
            ],
        )
    )
    p1 = keys_by_version(products, "product_id", "product_key")
    sites = locations(spark)
    wh = sites.filter("location_id = 'WH01'").first()["location_key"]

    def snap(inv: str, ts: object, stock: int, extract: date, **values: object) -> dict[str, object]:
        return {
            "inventory_id": inv,
            "product_id": "P1",
            "location_id": "WH01",
            "stock_quantity": stock,
            "reserved_quantity": 5,
            "reorder_point": 20,
            "last_updated": ts,
            "_extract_date": extract,
            **values,
        }

    inventory = sanitized(
        spark,
        "products.inventory",
        [
            snap("V1", at(D1, 8), 100, D1),
            snap("V2", at(D1, 17), 60, D2),  # the later snapshot of D1 (delivered a day late) wins
            snap("V3", at(D2, 9), 24, D2),
            snap("V4", at(D2, 9), 30, D3, inventory_id="V4", location_id="WH99"),
        ],
    )

    actual = fct_inventory_snapshot.build(inventory, products, sites).select(
        "product_key",
        "location_key",
        "stock_quantity",
        "available_quantity",
        "below_reorder_point",
        "source_extract_date",
        "snapshot_date",
    )

    expected = spark.createDataFrame(
        [
            (p1[("P1", at(D1))], wh, 60, 55, False, D2, D1),
            (p1[("P1", at(D2))], wh, 24, 19, True, D2, D2),
            (p1[("P1", at(D2))], -1, 30, 25, False, D3, D2),
        ],
        "product_key bigint, location_key bigint, stock_quantity bigint, available_quantity bigint, "
        "below_reorder_point boolean, source_extract_date date, snapshot_date date",
    )
    assert_df_equality(actual, expected, ignore_row_order=True, ignore_nullable=True)


def test_a_late_order_reopens_the_day_of_its_shipment(spark: SparkSession) -> None:
    # Shipped on D2, but the order only arrives on D3: the shipment gets its customer on
    # D3, so the D3 run must rewrite the D2 partition.
    dim, sites = customers(spark), locations(spark)
    c1 = keys_by_version(dim, "customer_id", "customer_key")[("C1", at(D1))]
    orders = sanitized(
        spark,
        "sales.transactions",
        [{"transaction_id": "T1", "customer_id": "C1", "transaction_date": at(D1, 8), "_extract_date": D3}],
    )
    shipments = sanitized(
        spark,
        "logistics.shipments",
        [
            {
                "shipment_id": "S1",
                "transaction_id": "T1",
                "origin_location": "WH01",
                "ship_date": D2,
                "_extract_date": D2,
            }
        ],
    )

    fact = fct_shipment.build(shipments, orders, dim, sites)

    actual = fact.select("shipment_id", "customer_key", "source_extract_date", "ship_date")
    expected = spark.createDataFrame(
        [("S1", c1, D3, D2)], "shipment_id string, customer_key bigint, source_extract_date date, ship_date date"
    )
    assert_df_equality(actual, expected, ignore_row_order=True, ignore_nullable=True)
    assert affected_dates(fact, "ship_date", [D3]) == [D2, D3]
