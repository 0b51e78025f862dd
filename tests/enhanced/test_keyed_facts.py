"""Keyed facts (c360.publish, "Keyed facts"): a daily run rebuilds only the keys delivered since
the fact's build record, and publishes exactly the partitions, with exactly the rows, that the
whole build would.

Tiny sanitized tables in a real lake. Four days, one run each, with everything that makes a
fact's day more than its own rows: a return re-sending an order, a line whose order arrives a
day later (the line moves to the order's day), an order whose customer arrives later (healed
from the unknown member), an order dated after its extract (ahead of the run's date until a
later run date reaches it), and a day that delivers nothing. The same dates built whole in one
call, on a second lake, are the reference.
"""

from __future__ import annotations

from collections import Counter
from datetime import date
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from pyspark.sql import SparkSession

from c360.contracts import CONTRACTS
from c360.enhanced.model import build_model
from c360.publish import RECORD_FILE, BuildRecord, TableWrite
from c360.storage import DeltaStorage
from tests.enhanced.frames import D1, D2, D3, D4, at, sanitized

pytestmark = pytest.mark.slow

FACTS = ["enhanced.sales.fct_order", "enhanced.sales.fct_sales_line", "enhanced.logistics.fct_shipment"]
DAYS = [D1, D2, D3, D4]


def order(tid: str, cid: str, placed: Any, extract: date, status: str = "completed") -> dict[str, Any]:
    money = {"subtotal": Decimal("20.00"), "total_amount": Decimal("20.00"), "currency": "USD"}
    return {"transaction_id": tid, "customer_id": cid, "transaction_date": placed, "channel": "online",
            "status": status, "_extract_date": extract, **money}  # fmt: skip


def line(iid: str, tid: str, extract: date) -> dict[str, Any]:
    return {"item_id": iid, "transaction_id": tid, "product_id": "P1", "quantity": 1, "unit_price": Decimal("20.00"),
            "line_total": Decimal("20.00"), "_extract_date": extract}  # fmt: skip


SOURCES: dict[str, list[dict[str, Any]]] = {
    "customer.customers": [
        {"customer_id": "C1", "registration_date": at(D1), "_extract_date": D1},
        {"customer_id": "C9", "registration_date": at(D1, 8), "_extract_date": D3},  # arrives late
    ],
    "products.products": [
        {
            "product_id": "P1",
            "price": Decimal("20.00"),
            "cost": Decimal("9.00"),
            "status": "active",
            "category": "Home",
            "product_name": "Kettle",
            "_extract_date": D1,
        },
    ],  # fmt: skip
    "sales.transactions": [
        order("T1", "C1", at(D1, 10), D1),
        order("T2", "C9", at(D1, 11), D1),  # its customer only on D3
        order("T5", "C1", at(D3, 9), D1),  # placed on D3, delivered on D1: ahead until D3's run
        order("T1", "C1", at(D1, 10), D2, status="returned"),  # the return re-sends T1
        order("T3", "C1", at(D1, 15), D3),  # the order of line I3, which came on D2
        order("T4", "C1", at(D3, 12), D3),
    ],
    "sales.transaction_items": [
        line("I1", "T1", D1),
        line("I2", "T2", D1),
        line("I5", "T5", D1),
        line("I3", "T3", D2),  # on D2's partition until its order arrives
        line("I4", "T4", D3),
    ],
    "logistics.shipments": [
        {"shipment_id": "S1", "transaction_id": "T1", "delivery_status": "pending", "_extract_date": D1},
        {
            "shipment_id": "S1",
            "transaction_id": "T1",
            "delivery_status": "in_transit",
            "ship_date": D2,
            "_extract_date": D2,
        },
    ],  # fmt: skip
}


def lake(spark: SparkSession, root: Path) -> DeltaStorage:
    storage = DeltaStorage(spark, root)
    for source, rows in SOURCES.items():
        contract = CONTRACTS[source]
        storage.ensure_table(contract.sanitized_table, contract.sanitized_schema(), ["_extract_date"])
        storage.overwrite(sanitized(spark, source, rows), contract.sanitized_table)
    return storage


def rows(storage: DeltaStorage, table: str) -> Counter[tuple]:
    return Counter(tuple(r) for r in storage.read(table).collect())


def fact_writes(report: Any) -> dict[str, TableWrite]:
    return {w.table: w for w in report.tables if w.table in FACTS}


@pytest.fixture(scope="module")
def daily(spark: SparkSession, tmp_path_factory: pytest.TempPathFactory) -> tuple[DeltaStorage, list[dict]]:
    """The four days run one by one; each run's fact writes."""
    storage = lake(spark, tmp_path_factory.mktemp("keyed") / "lake")
    writes = [fact_writes(build_model(spark, storage, [day], f"day-{day}", tables=FACTS)) for day in DAYS]
    return storage, writes


def test_day_by_day_keyed_runs_publish_the_whole_builds_rows(
    daily: tuple[DeltaStorage, list[dict]], spark: SparkSession, tmp_path: Path
) -> None:
    storage, writes = daily
    whole = lake(spark, tmp_path / "whole")
    build_model(spark, whole, DAYS, "whole", tables=FACTS, incremental=False)
    for table in FACTS:
        assert rows(storage, table) == rows(whole, table), table
    # The first run builds whole (no record); every later one only the keys it must.
    assert [w.build for w in writes[0].values()] == ["whole"] * len(FACTS)
    for day in writes[1:]:
        assert {t: w.build for t, w in day.items()} == dict.fromkeys(FACTS, "keys")
    orders = [day["enhanced.sales.fct_order"] for day in writes]
    # D2: the return (T1), T3 (its line came), T2 (unknown customer), T5 (ahead). D3: T3, T4,
    # T2 (healed) and T5 (its day is now a run date). D4: nothing delivered, nothing unknown or
    # ahead any more, and its own partition is empty: no gate, no commit.
    assert [w.keys for w in orders[1:]] == [4, 4, 0]
    assert orders[2].partitions == ("transaction_date=2024-01-10", "transaction_date=2024-01-12")
    assert not orders[3].committed and not orders[3].validated
    lines = {r.item_id: r.transaction_date for r in storage.read("enhanced.sales.fct_sales_line").collect()}
    assert lines == {"I1": D1, "I2": D1, "I3": D1, "I4": D3, "I5": D3}  # I3 moved; I5 published


def test_a_record_that_cannot_vouch_for_the_rows_means_a_whole_build(
    daily: tuple[DeltaStorage, list[dict]], spark: SparkSession
) -> None:
    storage, _ = daily
    order_record = storage.path("enhanced.sales.fct_order") / RECORD_FILE
    assert BuildRecord.read(order_record) is not None
    # A past date rebuilt: the record is of a later date.
    past = fact_writes(build_model(spark, storage, [D2], "past", tables=FACTS))
    assert {w.build for w in past.values()} == {"whole"}
    # Back to the last day, then a customer re-sanitized on D1 (a table the facts read through
    # dim_customer): the record's digest of it no longer holds.
    build_model(spark, storage, [D4], "again", tables=FACTS)
    customers = CONTRACTS["customer.customers"].sanitized_table
    fixed = sanitized(spark, "customer.customers", [{**SOURCES["customer.customers"][0], "city": "Austin"}])
    storage.replace_partitions(fixed, customers, partitions=[{"_extract_date": D1}])
    after = fact_writes(build_model(spark, storage, [D4], "after", tables=FACTS))
    assert {w.build for w in after.values()} == {"whole"}
    # No record at all.
    order_record.unlink()
    gone = fact_writes(build_model(spark, storage, [D4], "gone", tables=FACTS))
    assert gone["enhanced.sales.fct_order"].build == "whole"
