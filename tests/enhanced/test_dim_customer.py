"""dim_customer: type-2 history from CRM versions and loyalty tier versions."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from chispa import assert_df_equality
from pyspark.sql import DataFrame, SparkSession

from c360.enhanced import dim_customer
from c360.enhanced.common import as_of
from tests.enhanced.frames import D1, D2, D3, D4, at, keys_by_version, sanitized, scd2_violations

HISTORY = (
    "customer_id string, customer_segment string, loyalty_tier string, address_line1_token string, "
    "valid_from timestamp, valid_to timestamp, is_current boolean, version int"
)
UNKNOWN = ("UNKNOWN", None, None, None, datetime(1900, 1, 1), None, True, 1)
COLS = [f.split()[0] for f in HISTORY.split(", ")]


def customer(extract: Any, **values: Any) -> dict[str, Any]:
    row = {
        "customer_id": "C1",
        "registration_date": at(D1),
        "customer_segment": "Standard",
        "address_line1_token": "addr-1",
        "city": "Austin",
        "country": "US",
        "email_token": "mail-1",
        "_extract_date": extract,
    }
    row.update(values)
    return row


def loyalty(extract: Any, tier: str, customer_id: str = "C1", **values: Any) -> dict[str, Any]:
    return {"customer_id": customer_id, "loyalty_tier": tier, "_extract_date": extract, **values}


def build(spark: SparkSession, customers: list[dict[str, Any]], tiers: list[dict[str, Any]] | None = None) -> DataFrame:
    return dim_customer.build(
        sanitized(spark, "customer.customers", customers), sanitized(spark, "customer.loyalty_program", tiers or [])
    )


def history(spark: SparkSession, rows: list[tuple[Any, ...]]) -> DataFrame:
    return spark.createDataFrame([*rows, UNKNOWN], HISTORY)


def test_segment_change_closes_the_version_and_opens_a_new_one(spark: SparkSession) -> None:
    dim = build(spark, [customer(D1), customer(D2, customer_segment="Premium")])

    expected = history(
        spark,
        [
            ("C1", "Standard", None, "addr-1", at(D1), at(D2), False, 1),
            ("C1", "Premium", None, "addr-1", at(D2), None, True, 2),
        ],
    )
    assert_df_equality(dim.select(COLS), expected, ignore_row_order=True, ignore_nullable=True)
    assert scd2_violations(dim, "customer_id") == []


def test_first_version_starts_at_registration_so_earlier_orders_find_it(spark: SparkSession) -> None:
    dim = build(spark, [customer(D3, registration_date=at(D1, 9, 30)), customer(D4, address_line1_token="addr-2")])

    expected = history(
        spark,
        [
            ("C1", "Standard", None, "addr-1", at(D1, 9, 30), at(D4), False, 1),
            ("C1", "Standard", None, "addr-2", at(D4), None, True, 2),
        ],
    )
    assert_df_equality(dim.select(COLS), expected, ignore_row_order=True, ignore_nullable=True)


def test_loyalty_tier_changes_are_versions_and_resends_add_nothing(spark: SparkSession) -> None:
    dim = build(
        spark,
        [customer(D1), customer(D3)],  # D3 re-sends the CRM record unchanged
        [loyalty(D2, "Silver"), loyalty(D3, "Silver", points_balance=900), loyalty(D4, "Gold")],
    )

    expected = history(
        spark,
        [
            ("C1", "Standard", None, "addr-1", at(D1), at(D2), False, 1),
            ("C1", "Standard", "Silver", "addr-1", at(D2), at(D4), False, 2),
            ("C1", "Standard", "Gold", "addr-1", at(D4), None, True, 3),
        ],
    )
    assert_df_equality(dim.select(COLS), expected, ignore_row_order=True, ignore_nullable=True)


def test_resend_without_tracked_change_adds_no_row(spark: SparkSession) -> None:
    first = build(spark, [customer(D1)])
    again = build(spark, [customer(D1), customer(D2), customer(D3, _ingest_id="replay")])

    assert_df_equality(again, first, ignore_row_order=True, ignore_nullable=True)


def test_type1_attributes_show_the_latest_value_on_every_row(spark: SparkSession) -> None:
    # D2 changes the segment (a version); D3 corrects only the e-mail, a type-1 attribute.
    dim = build(
        spark,
        [
            customer(D1),
            customer(D2, customer_segment="Premium"),
            customer(D3, customer_segment="Premium", email_token="mail-2"),
        ],
    )

    expected = spark.createDataFrame(
        [
            ("C1", at(D1), "mail-2", "Standard"),
            ("C1", at(D2), "mail-2", "Premium"),
            ("UNKNOWN", datetime(1900, 1, 1), None, None),
        ],
        "customer_id string, valid_from timestamp, email_token string, customer_segment string",
    )
    actual = dim.select("customer_id", "valid_from", "email_token", "customer_segment")
    assert_df_equality(actual, expected, ignore_row_order=True, ignore_nullable=True)


def test_loyalty_delivered_before_the_customer_record(spark: SparkSession) -> None:
    # The loyalty system sends the tier on D1; the CRM record only arrives on D3, for a
    # customer who registered on D2: the tier is part of the first version.
    dim = build(spark, [customer(D3, registration_date=at(D2, 15))], [loyalty(D1, "Gold")])

    expected = history(spark, [("C1", "Standard", "Gold", "addr-1", at(D2, 15), None, True, 1)])
    assert_df_equality(dim.select(COLS), expected, ignore_row_order=True, ignore_nullable=True)


def test_late_crm_record_of_an_earlier_registration_is_backdated(spark: SparkSession) -> None:
    # Registered on D1, tier sent on D2, the CRM record late on D3: history starts at D1.
    dim = build(spark, [customer(D3, registration_date=at(D1, 8))], [loyalty(D2, "Bronze")])

    expected = history(
        spark,
        [
            ("C1", "Standard", None, "addr-1", at(D1, 8), at(D2), False, 1),
            ("C1", "Standard", "Bronze", "addr-1", at(D2), None, True, 2),
        ],
    )
    assert_df_equality(dim.select(COLS), expected, ignore_row_order=True, ignore_nullable=True)


def test_two_changes_on_one_date_make_one_version(spark: SparkSession) -> None:
    # One ingest run gives every file of a day the same ingest time, and the customer and
    # its loyalty row can sit on the same line of their files: the order must not matter.
    same = {"_ingest_time": at(D2, 6), "_line_number": 7}
    dim = build(
        spark,
        [customer(D1), customer(D2, customer_segment="Premium", **same)],
        [loyalty(D1, "Silver"), loyalty(D2, "Gold", **same)],
    )

    expected = history(
        spark,
        [
            ("C1", "Standard", "Silver", "addr-1", at(D1), at(D2), False, 1),
            ("C1", "Premium", "Gold", "addr-1", at(D2), None, True, 2),
        ],
    )
    assert_df_equality(dim.select(COLS), expected, ignore_row_order=True, ignore_nullable=True)


def test_new_customer_and_tier_on_the_same_line_of_the_same_ingest(spark: SparkSession) -> None:
    same = {"_ingest_time": at(D1, 6), "_line_number": 3}
    for order in (0, 1):  # the input order must not decide which event wins
        tiers = [loyalty(D1, "Platinum", **same), loyalty(D1, "Platinum", customer_id="C9", _line_number=1)]
        dim = build(
            spark, [customer(D1, **same), customer(D1, customer_id="C9", _line_number=1)], tiers[order:] + tiers[:order]
        )

        expected = history(
            spark,
            [
                ("C1", "Standard", "Platinum", "addr-1", at(D1), None, True, 1),
                ("C9", "Standard", "Platinum", "addr-1", at(D1), None, True, 1),
            ],
        )
        assert_df_equality(dim.select(COLS), expected, ignore_row_order=True, ignore_nullable=True)


def test_returning_to_an_earlier_state_is_a_new_version(spark: SparkSession) -> None:
    dim = build(
        spark,
        [customer(D1), customer(D2, city="Dallas", state="TX"), customer(D3), customer(D4, preferred_channel="mobile")],
    )

    actual = dim.filter("customer_id = 'C1'").select("valid_from", "valid_to", "city", "preferred_channel", "version")
    expected = spark.createDataFrame(
        [
            (at(D1), at(D2), "Austin", None, 1),
            (at(D2), at(D3), "Dallas", None, 2),
            (at(D3), at(D4), "Austin", None, 3),
            (at(D4), None, "Austin", "mobile", 4),
        ],
        "valid_from timestamp, valid_to timestamp, city string, preferred_channel string, version int",
    )
    assert_df_equality(actual, expected, ignore_row_order=True, ignore_nullable=True)
    assert scd2_violations(dim, "customer_id") == []


def test_surrogate_keys_are_stable_across_rebuilds(spark: SparkSession) -> None:
    customers = sanitized(
        spark,
        "customer.customers",
        [customer(D1), customer(D1, customer_id="C2"), customer(D3, customer_segment="Basic")],
    )
    tiers = sanitized(spark, "customer.loyalty_program", [loyalty(D2, "Gold", customer_id="C2")])

    as_of_d1 = dim_customer.build(as_of(customers, D1), as_of(tiers, D1))
    as_of_d3 = dim_customer.build(as_of(customers, D3), as_of(tiers, D3))
    again = dim_customer.build(as_of(customers, D3), as_of(tiers, D3))

    before, after = (
        keys_by_version(as_of_d1, "customer_id", "customer_key"),
        keys_by_version(as_of_d3, "customer_id", "customer_key"),
    )
    assert before == {k: after[k] for k in before}
    assert len(after) == 5 and len(set(after.values())) == 5  # C1 x2, C2 x2, unknown
    assert after[("UNKNOWN", datetime(1900, 1, 1))] == -1
    assert_df_equality(again, as_of_d3, ignore_row_order=True, ignore_nullable=True)
