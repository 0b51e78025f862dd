"""The star over mock_data: every day ingested and sanitized in one call each, the model built for the whole range.

One lake per module (the model step validates every table with GX, seconds each), shared
by the checks below: tables and keys, SCD2 invariants, the manifest's re-sent customers,
relationships at the event time, and a second build that changes nothing.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import date
from pathlib import Path

import pytest
from pyspark.sql import SparkSession
from pyspark.sql import functions as F

from c360.enhanced.model import ModelReport, build_model
from c360.pipeline import extract_dates
from c360.storage import DeltaStorage
from tests.conftest import MOCK, PublishedLake, copy_lake
from tests.enhanced.frames import scd2_violations
from tests.enhanced.star_checks import (
    FACTS,
    TABLES,
    duplicate_keys,
    wrong_scd_keys,
    wrong_type1_keys,
)

pytestmark = pytest.mark.slow


@dataclass
class Lake:
    storage: DeltaStorage
    dates: list[date]
    profile_dates: list[date]
    report: ModelReport


@pytest.fixture(scope="module")
def lake(spark: SparkSession, published_lake: PublishedLake) -> Lake:
    """The session's published lake: the model built once over every date of mock_data.

    The profile covers a few as-of dates (tests/enhanced/marts cover its content, and that
    dates built together equal each date built alone): a range publishes several. Read-only.
    """
    assert published_lake.dates == extract_dates(MOCK)
    storage = DeltaStorage(spark, published_lake.root)
    return Lake(storage, published_lake.dates, published_lake.profile_dates, published_lake.model)


def test_every_table_is_published_with_rows_and_unique_keys(lake: Lake) -> None:
    assert {m.name for m in TABLES} <= {t.table for t in lake.report.tables}
    for module in TABLES:
        df = lake.storage.read(module.name)
        assert df.count() > 0, module.name
        assert duplicate_keys(df, module.keys) == [], module.name
        assert [f.name for f in df.schema.fields] == module.schema.fieldNames()
    # Facts are partitioned by day and hold the whole history, not only the last run date.
    days = lake.storage.read("enhanced.sales.fct_order").select("transaction_date").distinct().count()
    assert days > 60
    profile = lake.storage.read("enhanced.customer.customer360_profile")
    assert sorted(r[0] for r in profile.select("as_of_date").distinct().collect()) == lake.profile_dates


def test_dimensions_keep_the_scd2_invariants(lake: Lake) -> None:
    customers = lake.storage.read("enhanced.customer.dim_customer")
    products = lake.storage.read("enhanced.products.dim_product")
    assert scd2_violations(customers, "customer_id") == []
    assert scd2_violations(products, "product_id") == []
    assert customers.filter("customer_key = -1").select("customer_id").collect() == [("UNKNOWN",)]
    # The customers of every extract are in the dimension.
    sanitized_ids = lake.storage.read("sanitized.customer.customers").select("customer_id").distinct()
    assert sanitized_ids.join(customers, on="customer_id", how="left_anti").count() == 0


def test_resent_changed_customers_get_a_version_on_the_resend_date(lake: Lake) -> None:
    manifest = json.loads((MOCK / "manifest.json").read_text())
    resent = [d for d in manifest["defects"] if d["kind"] == "resent_changed" and d["file"].split("/")[1] == "customer"]
    assert resent, "mock_data has no re-sent customers"
    dim = lake.storage.read("enhanced.customer.dim_customer")
    column = {"address_line1": "address_line1_token", "loyalty_tier": "loyalty_tier"}
    for defect in resent:
        (customer_id,) = defect["keys"]
        changed = column[defect["column"]]
        rows = dim.filter(F.col("customer_id") == customer_id).orderBy("valid_from").collect()
        assert len(rows) >= 2, (customer_id, rows)
        resend = date.fromisoformat(defect["extract_date"])
        at = [i for i, r in enumerate(rows) if r["valid_from"].date() == resend]
        assert at and at[0] > 0, (customer_id, [r["valid_from"] for r in rows])
        before, after = rows[at[0] - 1], rows[at[0]]
        assert before[changed] != after[changed] and before["valid_to"] == after["valid_from"], customer_id


def test_every_foreign_key_is_the_dimension_row_valid_at_the_event_time(lake: Lake) -> None:
    read = lake.storage.read
    customers, products = read("enhanced.customer.dim_customer"), read("enhanced.products.dim_product")
    locations, dates = read("enhanced.logistics.dim_location"), read("enhanced.shared.dim_date")
    channels = read("enhanced.sales.dim_channel")
    suppliers, links = read("enhanced.products.dim_supplier"), read("enhanced.products.bridge_product_supplier")
    orders, lines = read("enhanced.sales.fct_order"), read("enhanced.sales.fct_sales_line")
    tickets, sessions = read("enhanced.customer.fct_support_ticket"), read("enhanced.customer.fct_app_session")
    shipments, stock = read("enhanced.logistics.fct_shipment"), read("enhanced.products.fct_inventory_snapshot")
    shipped_orders = shipments.join(
        orders.select("transaction_id", "customer_id", "transaction_ts"), on="transaction_id", how="left"
    )

    problems = {
        "order.customer": wrong_scd_keys(
            orders, "customer_key", "customer_id", F.col("transaction_ts"), customers, "customer_key", "customer_id"
        ),
        "line.customer": wrong_scd_keys(
            lines, "customer_key", "customer_id", F.col("transaction_ts"), customers, "customer_key", "customer_id"
        ),
        "line.product": wrong_scd_keys(
            lines, "product_key", "product_id", F.col("transaction_ts"), products, "product_key", "product_id"
        ),
        "ticket.customer": wrong_scd_keys(
            tickets, "customer_key", "customer_id", F.col("created_ts"), customers, "customer_key", "customer_id"
        ),
        "session.customer": wrong_scd_keys(
            sessions,
            "customer_key",
            "customer_id",
            F.coalesce("session_start", F.to_timestamp("session_date")),
            customers,
            "customer_key",
            "customer_id",
        ),
        "shipment.customer": wrong_scd_keys(
            shipped_orders,
            "customer_key",
            "customer_id",
            F.col("transaction_ts"),
            customers,
            "customer_key",
            "customer_id",
        ),
        # Product versions start at midnight, so the version valid at the start of the day is the day's.
        "stock.product": wrong_scd_keys(
            stock, "product_key", "product_id", F.to_timestamp("snapshot_date"), products, "product_key", "product_id"
        ),
        "order.store": wrong_type1_keys(
            orders, "store_location_key", "store_id", locations, "location_key", "location_id"
        ),
        "order.channel": wrong_type1_keys(orders, "channel_key", "channel", channels, "channel_key", "channel"),
        "stock.location": wrong_type1_keys(
            stock, "location_key", "location_id", locations, "location_key", "location_id"
        ),
        "link.supplier": wrong_type1_keys(
            links, "supplier_key", "supplier_id", suppliers, "supplier_key", "supplier_id"
        ),
        "shipment.origin": wrong_type1_keys(
            shipments, "origin_location_key", None, locations, "location_key", "location_id"
        ),
    }
    for module in FACTS:
        problems[f"{module.name}.date"] = wrong_type1_keys(
            read(module.name), "date_key", None, dates, "date_key", "date"
        )
    assert {name: rows for name, rows in problems.items() if rows} == {}
    # Lines of quarantined orders or customers rightly point at -1; products all resolve.
    assert lines.filter("product_key = -1").count() == 0
    assert lines.filter("customer_key <> -1").count() > 0


def test_a_second_build_of_the_same_dates_changes_no_table(lake: Lake, spark: SparkSession, tmp_path: Path) -> None:
    storage = DeltaStorage(spark, copy_lake(lake.storage.catalog.lake_root, tmp_path / "lake"))
    names = [t.table for t in lake.report.tables]  # the star and the marts
    before = {n: storage.catalog.open(n).version() for n in names}

    again = build_model(spark, storage, lake.dates, "model-2", lake.profile_dates)

    after = {n: storage.catalog.open(n).version() for n in names}
    assert after == before
    assert [t.table for t in again.tables if t.committed] == []
    # Every table already held its rows: no gate ran, so nothing was recorded for the run.
    assert [t.table for t in again.tables if t.validated] == []
    results = storage.read("ops.quality.expectation_results").filter("run_id = 'model-2'")
    assert results.count() == 0
