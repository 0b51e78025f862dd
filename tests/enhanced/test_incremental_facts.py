"""Facts rebuilt only for the groups a day changed (c360.registry.Incremental with ``ids`` and
``lookups``; c360.publish, "Build records"): after every daily run, each fact holds exactly
the rows of its whole build as of that day.

Four days of tiny sanitized tables in a real lake, each delivered as its own partition as
sanitize writes them. The days re-send rows that move between groups (a line to another
order and back, a scan to another shipment), deliver late members (a customer after her
orders, an order after its lines, a scan earlier than the ones before it), change
dimension rows (a customer's segment, a product's cost) and, on the last day, nothing.
"""

from __future__ import annotations

import shutil
from collections import Counter
from datetime import date
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from pyspark.sql import DataFrame, SparkSession

from c360.enhanced.common import as_of
from c360.enhanced.model import build_model
from c360.registry import Table, registry
from c360.storage import DeltaStorage
from tests.enhanced.frames import D1, D2, D3, D4, at, sanitized

pytestmark = pytest.mark.slow

FACTS = [
    "enhanced.sales.fct_order",
    "enhanced.sales.fct_sales_line",
    "enhanced.logistics.fct_tracking_event",
]
GROUPS = {name: registry().tables[name].incremental.key for name in FACTS}  # type: ignore[union-attr]


def customer(day: date, cid: str, segment: str = "Standard") -> dict[str, Any]:
    return {"customer_id": cid, "registration_date": at(D1), "customer_segment": segment, "_extract_date": day}


def product(day: date, pid: str, cost: str) -> dict[str, Any]:
    return {"product_id": pid, "product_name": pid, "category": "Home", "price": Decimal("20.00"),
            "cost": Decimal(cost), "status": "active", "_extract_date": day}  # fmt: skip


def order(day: date, tid: str, cid: str, placed: date, status: str = "completed") -> dict[str, Any]:
    money = {"subtotal": Decimal("20.00"), "total_amount": Decimal("20.00"), "currency": "USD"}
    return {"transaction_id": tid, "customer_id": cid, "transaction_date": at(placed, 12), "channel": "online",
            "status": status, "_extract_date": day, **money}  # fmt: skip


def line(day: date, iid: str, tid: str, pid: str = "P1", quantity: int = 1) -> dict[str, Any]:
    return {"item_id": iid, "transaction_id": tid, "product_id": pid, "quantity": quantity,
            "unit_price": Decimal("20.00"), "line_total": Decimal(20 * quantity), "_extract_date": day}  # fmt: skip


def scan(day: date, eid: str, sid: str, when: date, hour: int, kind: str = "in_transit") -> dict[str, Any]:
    return {"event_id": eid, "shipment_id": sid, "event_timestamp": at(when, hour), "event_type": kind,
            "_extract_date": day}  # fmt: skip


DAYS: dict[date, dict[str, list[dict[str, Any]]]] = {
    D1: {
        "customer.customers": [customer(D1, "C1"), customer(D1, "C2")],
        "products.products": [product(D1, "P1", "9.00"), product(D1, "P2", "4.00")],
        # T2's customer C3 comes on D2; I4's order T9 comes on D2.
        "sales.transactions": [order(D1, "T1", "C1", D1), order(D1, "T2", "C3", D1), order(D1, "T3", "C2", D1)],
        "sales.transaction_items": [
            line(D1, "I1", "T1"),
            line(D1, "I2", "T1", "P2"),
            line(D1, "I3", "T2"),
            line(D1, "I4", "T9"),
            line(D1, "I5", "T3"),
        ],  # fmt: skip
        "logistics.shipments": [{"shipment_id": s, "transaction_id": "T1", "_extract_date": D1} for s in ("S1", "S2")],
        "logistics.tracking_events": [
            scan(D1, "E1", "S1", D1, 10, "picked_up"),
            scan(D1, "E2", "S1", D1, 14),
            scan(D1, "E3", "S2", D1, 11),
            scan(D1, "E6", "S4", D1, 9),
        ],  # fmt: skip
    },
    D2: {
        # C3 arrives: T2 and I3 leave the unknown member. C1 changes segment.
        "customer.customers": [customer(D2, "C3"), customer(D2, "C1", "Premium")],
        "sales.transactions": [order(D2, "T9", "C2", D1)],  # I4's order, placed on D1
        "sales.transaction_items": [line(D2, "I2", "T2", "P2", 2)],  # moves from T1 to T2
        "logistics.tracking_events": [
            scan(D2, "E4", "S1", D1, 8, "label_created"),  # earlier than E1: S1's journey re-sequenced
            scan(D2, "E3", "S3", D1, 11),  # moves from S2 to S3
        ],
    },
    D3: {
        "products.products": [product(D3, "P2", "5.00")],  # a new cost: P2's lines are looked up again
        "sales.transaction_items": [line(D3, "I2", "T1", "P2", 3)],  # back to T1
        "sales.transactions": [order(D3, "T3", "C2", D1, "returned")],
        "logistics.tracking_events": [scan(D3, "E5", "S2", D3, 9, "delivered")],
    },
    D4: {},  # nothing new anywhere
}
SOURCES = sorted({s for day in DAYS.values() for s in day})


class Lake:
    def __init__(self, spark: SparkSession, root: Path) -> None:
        self.spark, self.storage = spark, DeltaStorage(spark, root)

    def deliver(self, day: date) -> None:
        """Each source's rows of ``day`` as that date's partition (none: an empty partition)."""
        for source in SOURCES:
            df = sanitized(self.spark, source, DAYS[day].get(source, []))
            table = f"sanitized.{source}"
            self.storage.ensure_table(table, df.schema, ["_extract_date"])
            if DAYS[day].get(source):
                self.storage.replace_partitions(df, table, partitions=[{"_extract_date": day}])

    def whole_build(self, table: Table, day: date) -> DataFrame:
        """The fact's rows built whole as of ``day``, from the stored dimensions."""
        read = self.storage.read
        frames = {n: as_of(read(n), day) if n.startswith("sanitized.") else read(n) for n in table.sources}
        return table.call_build(frames, {"spark": self.spark})


def rows(df: DataFrame) -> Counter[tuple[Any, ...]]:
    return Counter(tuple(r) for r in df.select(*sorted(df.columns)).collect())


def test_each_day_the_facts_rebuilt_for_the_changed_groups_hold_their_whole_build(
    spark: SparkSession, tmp_path: Path
) -> None:
    lake = Lake(spark, tmp_path / "lake")
    builds: dict[date, dict[str, tuple[str, int | None]]] = {}
    for day in DAYS:
        lake.deliver(day)
        report = build_model(spark, lake.storage, [day], f"run-{day}", tables=FACTS)
        builds[day] = {w.table: (w.build, w.keys) for w in report.tables if w.table in FACTS}
        for name in FACTS:
            table = registry().tables[name]
            stored, whole = rows(lake.storage.read(name)), rows(lake.whole_build(table, day))
            assert stored == whole, (
                f"{name} on {day} ({builds[day][name]}): stored rows not in the whole build: "
                f"{stored - whole}, missing: {whole - stored}"
            )

    assert all(build == "whole" for build, _ in builds[D1].values())
    groups = {name: lake.storage.read(name).select(GROUPS[name]).distinct().count() for name in FACTS}
    for day in (D2, D3):
        for name, (build, keys) in builds[day].items():
            # Each fact changed on D2 and D3, and not in every one of its groups.
            assert build == "keys" and keys is not None and 0 < keys < groups[name], (day, name, build, keys)
    assert builds[D4] == dict.fromkeys(FACTS, ("none", None))


def test_a_fact_holding_fewer_rows_than_groups_min_rows_is_rebuilt_whole(spark: SparkSession, tmp_path: Path) -> None:
    """The same day changed, on two copies of one lake: with ``groups_min_rows`` one more than
    the fact holds it is rebuilt whole, with exactly that many by groups; the same rows."""
    name = "enhanced.sales.fct_order"
    lake = Lake(spark, tmp_path / "lake")
    lake.deliver(D1)
    build_model(spark, lake.storage, [D1], "run-d1", tables=[name])
    lake.deliver(D2)
    held = sum(lake.storage.catalog.row_counts(name).values())
    assert held > 0
    built = {}
    for how, minimum in (("whole", held + 1), ("keys", held)):
        copy = Lake(spark, shutil.copytree(tmp_path / "lake", tmp_path / how))
        report = build_model(spark, copy.storage, [D2], f"run-{how}", tables=[name], groups_min_rows=minimum)
        (write,) = [w for w in report.tables if w.table == name]
        assert write.build == how, (minimum, held, write)
        built[how] = rows(copy.storage.read(name))
        assert built[how] == rows(copy.whole_build(registry().tables[name], D2))
    assert built["whole"] == built["keys"]


def test_a_groups_history_is_read_from_the_files_that_may_hold_it(spark: SparkSession, tmp_path: Path) -> None:
    """The rows of the changed groups, read from the files whose statistics may hold them, are
    exactly the rows of the whole frame the step read; a table built in the run is joined whole."""
    from c360.publish import Publisher

    lake = Lake(spark, tmp_path / "lake")
    table = "sanitized.logistics.tracking_events"
    days = {D1: ("S1", "S2"), D2: ("S3", "S4"), D3: ("S5", "S6"), D4: ("S7", "S8")}
    for day, ships in days.items():
        df = sanitized(
            spark, "logistics.tracking_events", [scan(day, f"E{s}{i}", s, day, 9 + i) for s in ships for i in (1, 2)]
        )
        lake.storage.ensure_table(table, df.schema, ["_extract_date"])
        lake.storage.replace_partitions(df, table, partitions=[{"_extract_date": day}])
    version = lake.storage.catalog.version(table)
    frames = {table: as_of(lake.storage.read(table, version=version), D3)}
    publisher = Publisher(lake.storage, "run", [D3])
    wanted = ["S3", "S5", "S7"]  # S7 was delivered after D3: not in the frame
    values = spark.createDataFrame([(s,) for s in wanted], "shipment_id string")
    expected = rows(frames[table].join(values, "shipment_id", "left_semi"))
    context = {"input_versions": {table: version}}
    got = publisher._rows_holding(frames, context, table, "shipment_id", values, wanted)
    assert rows(got) == expected
    assert {r["shipment_id"] for r in got.select("shipment_id").collect()} == {"S3", "S5"}
    assert len(got.inputFiles()) == 3  # D2's, D3's and D4's (left out by the date); D1's cannot hold them
    unread = publisher._rows_holding(frames, {"input_versions": {}}, table, "shipment_id", values, wanted)
    assert rows(unread) == expected
