"""fct_order: latest version per order, in its transaction-date partition, keyed at the order time."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from chispa import assert_df_equality
from pyspark.sql import DataFrame, SparkSession

from c360.enhanced import dim_customer, dim_location, fct_order
from c360.enhanced.common import affected_dates, partitions_to_write
from tests.enhanced.frames import D1, D2, D3, D4, at, keys_by_version, sanitized

COLS = [
    "transaction_id",
    "transaction_date",
    "date_key",
    "customer_key",
    "channel_key",
    "store_location_key",
    "order_status",
    "total_amount",
    "line_count",
    "source_extract_date",
]
EXPECTED = (
    "transaction_id string, transaction_date date, date_key int, customer_key bigint, channel_key int, "
    "store_location_key bigint, order_status string, total_amount decimal(12,2), line_count int, "
    "source_extract_date date"
)


def order(txn: str, extract: Any, ts: Any, **values: Any) -> dict[str, Any]:
    row = {
        "transaction_id": txn,
        "customer_id": "C1",
        "transaction_date": ts,
        "channel": "online",
        "subtotal": Decimal("50.00"),
        "total_amount": Decimal("50.00"),
        "currency": "USD",
        "status": "completed",
        "_extract_date": extract,
    }
    row.update(values)
    return row


def dims(spark: SparkSession) -> tuple[DataFrame, DataFrame]:
    customers = sanitized(
        spark,
        "customer.customers",
        [
            {"customer_id": "C1", "registration_date": at(D1), "customer_segment": "Basic", "_extract_date": D1},
            {"customer_id": "C1", "registration_date": at(D1), "customer_segment": "Premium", "_extract_date": D3},
        ],
    )
    locations = sanitized(
        spark,
        "logistics.warehouse_locations",
        [{"location_id": "ST01", "location_type": "store", "_extract_date": D1}],
    )
    return (
        dim_customer.build(customers, sanitized(spark, "customer.loyalty_program", [])),
        dim_location.build(locations),
    )


def test_orders_are_keyed_to_the_versions_valid_when_placed(spark: SparkSession) -> None:
    customers, locations = dims(spark)
    c1 = keys_by_version(customers, "customer_id", "customer_key")
    store = locations.filter("location_id = 'ST01'").first()["location_key"]
    transactions = sanitized(
        spark,
        "sales.transactions",
        [
            order("T1", D2, at(D2, 10), channel="store", store_id="ST01"),
            order("T2", D3, at(D3, 10), channel="mobile"),
            order("T3", D3, at(D3, 11), customer_id="C404"),
            order("T4", D3, at(D3, 12), channel="store", store_id="ST99"),
        ],
    )
    items = sanitized(
        spark,
        "sales.transaction_items",
        [
            {"item_id": "I1", "transaction_id": "T1", "product_id": "P1", "_extract_date": D2},
            {"item_id": "I2", "transaction_id": "T1", "product_id": "P2", "_extract_date": D2},
            {"item_id": "I3", "transaction_id": "T2", "product_id": "P1", "_extract_date": D3},
        ],
    )

    actual = fct_order.build(transactions, items, customers, locations).select(COLS)

    fifty = Decimal("50.00")
    expected = spark.createDataFrame(
        [
            ("T1", D2, 20240111, c1[("C1", at(D1))], 2, store, "completed", fifty, 2, D2),
            ("T2", D3, 20240112, c1[("C1", at(D3))], 3, -1, "completed", fifty, 1, D3),
            ("T3", D3, 20240112, -1, 1, -1, "completed", fifty, 0, D3),
            ("T4", D3, 20240112, c1[("C1", at(D3))], 2, -1, "completed", fifty, 0, D3),
        ],
        EXPECTED,
    )
    assert_df_equality(actual, expected, ignore_row_order=True, ignore_nullable=True)


def test_late_order_lands_on_its_transaction_date_and_reopens_it(spark: SparkSession) -> None:
    customers, locations = dims(spark)
    c1 = keys_by_version(customers, "customer_id", "customer_key")[("C1", at(D1))]
    transactions = sanitized(
        spark,
        "sales.transactions",
        [order("T1", D2, at(D2, 9)), order("T9", D4, at(D1, 23, 59))],  # T9 is delivered three days late
    )
    items = sanitized(spark, "sales.transaction_items", [])

    fact = fct_order.build(transactions, items, customers, locations)

    expected = spark.createDataFrame(
        [
            ("T1", D2, 20240111, c1, 1, -1, "completed", Decimal("50.00"), 0, D2),
            ("T9", D1, 20240110, c1, 1, -1, "completed", Decimal("50.00"), 0, D4),
        ],
        EXPECTED,
    )
    assert_df_equality(fact.select(COLS), expected, ignore_row_order=True, ignore_nullable=True)
    assert affected_dates(fact, "transaction_date", [D4]) == [D1, D4]
    assert affected_dates(fact, "transaction_date", [D2]) == [D2]


def test_a_return_resends_the_order_and_replaces_it(spark: SparkSession) -> None:
    customers, locations = dims(spark)
    c1 = keys_by_version(customers, "customer_id", "customer_key")[("C1", at(D1))]
    transactions = sanitized(
        spark,
        "sales.transactions",
        [order("T1", D1, at(D1, 9)), order("T1", D3, at(D1, 9), status="returned")],
    )
    items = sanitized(
        spark,
        "sales.transaction_items",
        [{"item_id": "I1", "transaction_id": "T1", "product_id": "P1", "_extract_date": D1}],
    )

    fact = fct_order.build(transactions, items, customers, locations)

    expected = spark.createDataFrame([("T1", D1, 20240110, c1, 1, -1, "returned", Decimal("50.00"), 1, D3)], EXPECTED)
    assert_df_equality(fact.select(COLS), expected, ignore_row_order=True, ignore_nullable=True)
    assert affected_dates(fact, "transaction_date", [D3]) == [D1, D3]


def test_partitions_to_write_are_moved_rows_resolved_unknown_members_and_gone_keys(spark: SparkSession) -> None:
    """Published vs rebuilt: a healed -1, a moved row and a key gone make their partition
    stale; an orphan that is still -1, an unchanged row and a partition after the run date
    do not. The digests the table kept give the same plan as its rows."""
    schema = "transaction_id string, transaction_date date, customer_key bigint"
    published = spark.createDataFrame(
        [("HEALED", D1, -1), ("ORPHAN", D1, -1), ("MOVED", D2, 7), ("SAME", D3, 7), ("LATER", D4, -1)], schema
    )
    rebuilt = spark.createDataFrame(
        [("HEALED", D1, 42), ("ORPHAN", D1, -1), ("MOVED", D1, 7), ("SAME", D3, 7), ("LATER", D4, 42)], schema
    )
    args = (["transaction_id"], "transaction_date", [D3])
    fks = ("customer_key",)
    # What the table would have kept when it was written: the published rows' digests.
    held = partitions_to_write(published, args[0], args[1], [D1], fks).held
    assert set(held) == {D1, D2, D3, D4}
    no_fk_held = partitions_to_write(published, args[0], args[1], [D1]).held

    for stored in ({"published": published}, {"held": held}):
        plan = partitions_to_write(rebuilt, *args, fks, **stored)
        assert plan.dates == [D1, D2, D3]  # D1 healed and D2 left by MOVED; D3 the run date
        assert plan.counts == {D1: 3, D3: 1, D4: 1}
        # Once written, the table holds the build's rows up to D3 and its own after it.
        assert plan.held == {**partitions_to_write(rebuilt, *args, fks).held, D4: held[D4]}
        # Without the foreign keys only the partition the moved row left (and D1 it went to).
        no_fk = {"published": published} if "published" in stored else {"held": no_fk_held}
        assert partitions_to_write(rebuilt, *args, **no_fk).dates == [D1, D2, D3]
        # The keys gone from the build (HEALED, MOVED, LATER) make D1 and D2 stale, not D4.
        only_some = rebuilt.filter("transaction_id IN ('ORPHAN', 'SAME')")
        assert partitions_to_write(only_some, *args, fks, **stored).dates == [D1, D2, D3]

    unchanged = partitions_to_write(published, *args, fks, published=published)
    assert unchanged.dates == [D3], "the run date only: nothing moved, healed or gone"
