"""Sanitize rules on tiny inline frames: one behaviour per test, whole frames compared."""

from __future__ import annotations

from datetime import date
from decimal import Decimal

import pytest
from chispa import assert_df_equality
from pyspark.sql import SparkSession
from pyspark.sql import functions as F

from c360.contracts import Col, Std
from c360.contracts.retail import (
    CUSTOMERS,
    EMAIL_RE,
    PRODUCT_SUPPLIERS,
    SUPPORT_TICKETS,
    TRANSACTION_ITEMS,
    TRANSACTIONS,
)
from c360.pii import token
from c360.sanitized.standardise import clean, standardise
from c360.sanitized.transform import _sql_string, fate_rows, unseal
from tests.sanitized.frames import (
    D1,
    D2,
    KEY,
    VALID,
    assert_same,
    expected,
    fates,
    parent_frame,
    raw_frame,
    run_classify,
)

OK: list[str] = []


def _std(spark: SparkSession, col: Col, values: list[str | None]) -> list[tuple[str | None, str | None]]:
    df = spark.createDataFrame([(v,) for v in values], "v string")
    return [(r["v"], r["s"]) for r in df.select("v", standardise(col, clean(F.col("v"))).alias("s")).collect()]


def test_phone_to_e164_only_when_the_digits_allow(spark: SparkSession) -> None:
    got = _std(
        spark,
        Col("phone", std=Std.PHONE),
        [
            "+1-206-555-0101",
            "(206) 555-0101",
            "206.555.0101",
            "12065550101",
            "0044 20 7946 0958",
            "555-01",
            "+1-206-555-01X1",
            "1206555010199",
            "  ",
            None,
        ],
    )
    assert got == [
        ("+1-206-555-0101", "+12065550101"),
        ("(206) 555-0101", "+12065550101"),
        ("206.555.0101", "+12065550101"),
        ("12065550101", "+12065550101"),
        ("0044 20 7946 0958", "+442079460958"),
        ("555-01", "555-01"),  # too short: left as sent, the format rule names it
        ("+1-206-555-01X1", "+1-206-555-01X1"),  # a letter is not a separator
        ("1206555010199", "1206555010199"),
        ("  ", None),
        (None, None),
    ]


def test_country_codes_map_names_and_keep_unknown_values_visible(spark: SparkSession) -> None:
    got = _std(spark, Col("country", std=Std.COUNTRY), ["USA", "united kingdom", " de ", "pe", "Narnia"])
    assert got == [("USA", "US"), ("united kingdom", "GB"), (" de ", "DE"), ("pe", "PE"), ("Narnia", "NARNIA")]


def test_standardised_customer_leaves_with_tokens_of_the_standard_form(spark: SparkSession) -> None:
    classified = run_classify(
        spark,
        CUSTOMERS,
        [
            {
                "email": "  Ada.Byron@Example.COM ",
                "phone": "(206) 555-0101",
                "gender": "f",
                "preferred_channel": "Online",
                "state": "wa",
                "country": "United States",
            }
        ],
    )
    got = fate_rows(classified, CUSTOMERS, "sanitized").select(
        "customer_id",
        "email_token",
        "phone_token",
        "gender",
        "preferred_channel",
        "state",
        "country",
        "date_of_birth_year",
    )
    want = spark.createDataFrame(
        [("CUST1", token(KEY, "ada.byron@example.com"), token(KEY, "+12065550101"), "F", "online", "WA", "US", 1985)],
        got.schema,
    )
    assert_df_equality(got, want, ignore_nullable=True)


def test_enum_values_are_matched_after_case_folding_and_named_when_unknown(spark: SparkSession) -> None:
    classified = run_classify(
        spark,
        TRANSACTIONS,
        [
            {"transaction_id": "T1", "status": "Completed", "currency": "usd"},
            {"transaction_id": "T2", "status": "shipped"},
            {"transaction_id": "T3", "currency": "XYZ", "payment_method": "cheque"},
        ],
    )
    want = expected(
        spark,
        "transaction_id",
        [
            ("T1", 1, "sanitized", OK),
            ("T2", 2, "quarantined", ["invalid_enum:status"]),
            ("T3", 3, "quarantined", ["invalid_enum:currency", "invalid_enum:payment_method"]),
        ],
    )
    assert_same(fates(classified, TRANSACTIONS), want)


def test_values_that_do_not_fit_the_type_are_named_not_nulled(spark: SparkSession) -> None:
    classified = run_classify(
        spark,
        TRANSACTIONS,
        [
            {"transaction_id": "T1", "subtotal": "100.005", "total_amount": "98.00"},
            {"transaction_id": "T2", "transaction_date": "2024-02-30 10:00:00"},
            {"transaction_id": "T3", "tax_amount": "eight"},
            {"transaction_id": "T4", "tax_amount": " 8.0 "},
        ],
    )
    want = expected(
        spark,
        "transaction_id",
        [
            ("T1", 1, "quarantined", ["invalid_type:subtotal"]),
            ("T2", 2, "quarantined", ["invalid_type:transaction_date"]),
            # an untypeable tax counts as none, so the total no longer adds up either
            ("T3", 3, "quarantined", ["invalid_type:tax_amount", "total_mismatch"]),
            ("T4", 4, "sanitized", OK),
        ],
    )
    assert_same(fates(classified, TRANSACTIONS), want)


def test_integer_overflow_and_words_are_invalid_types(spark: SparkSession) -> None:
    classified = run_classify(
        spark,
        TRANSACTION_ITEMS,
        [
            {"item_id": "I1", "quantity": "two"},
            {"item_id": "I2", "quantity": "99999999999", "line_total": "100.00"},
        ],
        parents={
            "products.products": parent_frame(spark, "product_id", [("PRD001", D1)]),
            "sales.transactions": parent_frame(spark, "transaction_id", [("TXN1", D1)]),
        },
    )
    want = expected(
        spark,
        "item_id",
        [("I1", 1, "quarantined", ["invalid_type:quantity"]), ("I2", 2, "quarantined", ["invalid_type:quantity"])],
    )
    assert_same(fates(classified, TRANSACTION_ITEMS), want)


def test_ranges_inclusive_and_exclusive_bounds(spark: SparkSession) -> None:
    classified = run_classify(
        spark,
        SUPPORT_TICKETS,
        [
            {"ticket_id": "K1", "satisfaction_score": "5"},
            {"ticket_id": "K2", "satisfaction_score": "6"},
            {"ticket_id": "K3", "satisfaction_score": "0"},
            {"ticket_id": "K4", "satisfaction_score": "1"},
            {"ticket_id": "K5", "satisfaction_score": ""},
        ],
    )
    want = expected(
        spark,
        "ticket_id",
        [
            ("K1", 1, "sanitized", OK),
            ("K2", 2, "quarantined", ["out_of_range:satisfaction_score"]),
            ("K3", 3, "quarantined", ["out_of_range:satisfaction_score"]),
            ("K4", 4, "sanitized", OK),
            ("K5", 5, "sanitized", OK),  # not answered is not a violation
        ],
    )
    assert_same(fates(classified, SUPPORT_TICKETS), want)


ITEM_PARENTS = {"products.products": [("PRD001", D1)], "sales.transactions": [("TXN1", D1)]}


def _item_parents(spark: SparkSession) -> dict:
    return {
        "products.products": parent_frame(spark, "product_id", ITEM_PARENTS["products.products"]),
        "sales.transactions": parent_frame(spark, "transaction_id", ITEM_PARENTS["sales.transactions"]),
    }


def test_quantity_and_price_must_be_positive(spark: SparkSession) -> None:
    classified = run_classify(
        spark,
        TRANSACTION_ITEMS,
        [
            {"item_id": "I1", "quantity": "0", "line_total": "0.00", "discount_applied": "0.00"},
            {"item_id": "I2", "quantity": "-1", "line_total": "-50.00", "discount_applied": "0.00"},
            {"item_id": "I3", "unit_price": "0.00", "line_total": "0.00", "discount_applied": "0.00"},
            {"item_id": "I4", "quantity": "1", "unit_price": "0.01", "line_total": "0.01", "discount_applied": "0"},
        ],
        parents=_item_parents(spark),
    )
    want = expected(
        spark,
        "item_id",
        [
            ("I1", 1, "quarantined", ["out_of_range:quantity"]),
            ("I2", 2, "quarantined", ["out_of_range:line_total", "out_of_range:quantity"]),
            ("I3", 3, "quarantined", ["out_of_range:unit_price"]),
            ("I4", 4, "sanitized", OK),
        ],
    )
    assert_same(fates(classified, TRANSACTION_ITEMS), want)


def test_patterns_on_the_standardised_value(spark: SparkSession) -> None:
    classified = run_classify(
        spark,
        CUSTOMERS,
        [
            {"customer_id": "C1", "email": "ADA@EXAMPLE.COM"},
            {"customer_id": "C2", "email": "ada.example.com"},
            {"customer_id": "C3", "email": "ada@@example.com"},
            {"customer_id": "C4", "email": "ada byron@example.com"},
            {"customer_id": "C5", "email": "ada@example"},
            {"customer_id": "C6", "phone": "555-01"},
            {"customer_id": "C7", "phone": "+1-206-555-01X1"},
            {"customer_id": "C8", "country": "Narnia"},
        ],
    )
    want = expected(
        spark,
        "customer_id",
        [
            ("C1", 1, "sanitized", OK),
            ("C2", 2, "quarantined", ["invalid_format:email"]),
            ("C3", 3, "quarantined", ["invalid_format:email"]),
            ("C4", 4, "quarantined", ["invalid_format:email"]),
            ("C5", 5, "quarantined", ["invalid_format:email"]),
            ("C6", 6, "quarantined", ["invalid_format:phone"]),
            ("C7", 7, "quarantined", ["invalid_format:phone"]),
            ("C8", 8, "quarantined", ["invalid_format:country"]),
        ],
    )
    assert_same(fates(classified, CUSTOMERS), want)


def test_required_fields_blank_or_whitespace_are_missing(spark: SparkSession) -> None:
    classified = run_classify(
        spark,
        CUSTOMERS,
        [
            {"customer_id": "C1", "last_name": ""},
            {"customer_id": "C2", "email": "   ", "registration_date": None},
            {"customer_id": "C3", "phone": ""},  # optional
        ],
    )
    want = expected(
        spark,
        "customer_id",
        [
            ("C1", 1, "quarantined", ["missing_mandatory:last_name"]),
            ("C2", 2, "quarantined", ["missing_mandatory:email", "missing_mandatory:registration_date"]),
            ("C3", 3, "sanitized", OK),
        ],
    )
    assert_same(fates(classified, CUSTOMERS), want)


def test_birth_date_after_the_extract_date_is_quarantined(spark: SparkSession) -> None:
    classified = run_classify(
        spark,
        CUSTOMERS,
        [
            {"customer_id": "C1", "date_of_birth": "2024-01-02"},
            {"customer_id": "C2", "date_of_birth": "2024-02-05"},
            {"customer_id": "C3", "date_of_birth": "1899-12-31"},
        ],
        extract_date=D1,
    )
    want = expected(
        spark,
        "customer_id",
        [
            ("C1", 1, "sanitized", OK),
            ("C2", 2, "quarantined", ["birth_date_in_future"]),
            ("C3", 3, "quarantined", ["birth_date_implausible"]),
        ],
    )
    assert_same(fates(classified, CUSTOMERS), want)


def test_resolved_on_or_after_created(spark: SparkSession) -> None:
    classified = run_classify(
        spark,
        SUPPORT_TICKETS,
        [
            {"ticket_id": "K1", "resolved_date": "2024-01-02 08:59:59"},
            {"ticket_id": "K2", "resolved_date": "2024-01-02 09:00:00"},
            {"ticket_id": "K3", "resolved_date": "", "status": "open", "satisfaction_score": ""},
        ],
    )
    want = expected(
        spark,
        "ticket_id",
        [
            ("K1", 1, "quarantined", ["resolved_before_created"]),
            ("K2", 2, "sanitized", OK),
            ("K3", 3, "sanitized", OK),  # open: the rule does not apply
        ],
    )
    assert_same(fates(classified, SUPPORT_TICKETS), want)


def test_line_total_is_gross_or_net_of_the_line_discount(spark: SparkSession) -> None:
    classified = run_classify(
        spark,
        TRANSACTION_ITEMS,
        [
            {"item_id": "I1", "line_total": "100.00"},  # gross, as the reference extracts send it
            {"item_id": "I2", "line_total": "90.00"},  # net of discount_applied 10.00
            {"item_id": "I3", "line_total": "100.02"},  # within a cent per unit (2 units)
            {"item_id": "I4", "line_total": "95.00"},
            {"item_id": "I5", "line_total": "100.03"},
        ],
        parents=_item_parents(spark),
    )
    want = expected(
        spark,
        "item_id",
        [
            ("I1", 1, "sanitized", OK),
            ("I2", 2, "sanitized", OK),
            ("I3", 3, "sanitized", OK),
            ("I4", 4, "quarantined", ["line_total_mismatch"]),
            ("I5", 5, "quarantined", ["line_total_mismatch"]),
        ],
    )
    assert_same(fates(classified, TRANSACTION_ITEMS), want)


def test_order_total_is_subtotal_plus_tax_minus_discount(spark: SparkSession) -> None:
    classified = run_classify(
        spark,
        TRANSACTIONS,
        [
            {"transaction_id": "T1", "total_amount": "98.01"},
            {"transaction_id": "T2", "total_amount": "98.02"},
            {"transaction_id": "T3", "tax_amount": "", "discount_amount": "", "total_amount": "100.00"},
            {"transaction_id": "T4", "channel": "store", "store_id": ""},
        ],
    )
    want = expected(
        spark,
        "transaction_id",
        [
            ("T1", 1, "sanitized", OK),
            ("T2", 2, "quarantined", ["total_mismatch"]),
            ("T3", 3, "sanitized", OK),
            ("T4", 4, "quarantined", ["store_order_without_store"]),
        ],
    )
    assert_same(fates(classified, TRANSACTIONS), want)


def test_orphan_product_is_quarantined_orphan_order_is_flagged(spark: SparkSession) -> None:
    parents = {
        "products.products": parent_frame(spark, "product_id", [("PRD001", D1), ("PRD002", D2)]),
        "sales.transactions": parent_frame(spark, "transaction_id", [("TXN1", D1)]),
    }
    classified = run_classify(
        spark,
        TRANSACTION_ITEMS,
        [
            {"item_id": "I1"},
            {"item_id": "I2", "product_id": "PRD999"},
            {"item_id": "I3", "product_id": "PRD002"},  # the product arrives only in a later extract
            {"item_id": "I4", "transaction_id": "TXN9"},
        ],
        parents=parents,
    )
    want = expected(
        spark,
        "item_id",
        [
            ("I1", 1, "sanitized", OK),
            ("I2", 2, "quarantined", ["orphan_fk:product_id"]),
            ("I3", 3, "quarantined", ["orphan_fk:product_id"]),
            ("I4", 4, "sanitized", OK),
        ],
    )
    assert_same(fates(classified, TRANSACTION_ITEMS), want)
    got = fate_rows(classified, TRANSACTION_ITEMS, "sanitized").select("item_id", "transaction_id_is_orphan")
    want_flags = spark.createDataFrame([("I1", False), ("I4", True)], got.schema)
    assert_df_equality(got, want_flags, ignore_nullable=True, ignore_row_order=True)


def test_ticket_of_an_unknown_customer_is_kept_and_flagged(spark: SparkSession) -> None:
    parents = {"customer.customers": parent_frame(spark, "customer_id", [("CUST1", D1)])}
    classified = run_classify(
        spark,
        SUPPORT_TICKETS,
        [{"ticket_id": "K1"}, {"ticket_id": "K2", "customer_id": "CUST9000001"}],
        parents=parents,
    )
    got = fate_rows(classified, SUPPORT_TICKETS, "sanitized").select(
        "ticket_id", "customer_id", "customer_id_is_orphan"
    )
    want = spark.createDataFrame([("K1", "CUST1", False), ("K2", "CUST9000001", True)], got.schema)
    assert_df_equality(got, want, ignore_nullable=True, ignore_row_order=True)


def test_exact_duplicates_and_superseded_versions_in_one_extract(spark: SparkSession) -> None:
    classified = run_classify(
        spark,
        TRANSACTIONS,
        [
            {"transaction_id": "T1"},
            {"transaction_id": "T1"},  # the same row twice
            {"transaction_id": "T2", "status": "completed"},
            {"transaction_id": "T2", "status": "returned"},  # re-sent later in the file: wins
            {"transaction_id": "T3", "status": "returned"},
            {"transaction_id": "T3", "status": "bogus"},  # a bad later version does not hide the good one
        ],
    )
    want = expected(
        spark,
        "transaction_id",
        [
            ("T1", 1, "sanitized", OK),
            ("T1", 2, "duplicate_exact", OK),
            ("T2", 3, "superseded", OK),
            ("T2", 4, "sanitized", OK),
            ("T3", 5, "sanitized", OK),
            ("T3", 6, "quarantined", ["invalid_enum:status"]),
        ],
    )
    assert_same(fates(classified, TRANSACTIONS), want)


def test_a_collected_classification_gives_the_rows_and_counts_spark_gives(spark: SparkSession) -> None:
    """A day's classification is collected as Arrow and its fates counted and its sanitized and
    quarantined rows cut in the driver (c360.sanitized.run); a larger one stays in Spark. Both
    give the same rows and counts, of every fate, with the written tables' columns."""
    from c360.sanitized.transform import fate_arrow, fate_counts

    classified = run_classify(
        spark,
        TRANSACTIONS,
        [
            {"transaction_id": "T1"},
            {"transaction_id": "T1"},
            {"transaction_id": "T2", "status": "completed"},
            {"transaction_id": "T2", "status": "returned"},
            {"transaction_id": "T3", "status": "bogus"},
        ],
    ).localCheckpoint()
    local = classified.toArrow()
    spark_counts = {
        (r["_extract_date"], r["_fate"]): r["count"]
        for r in classified.groupBy("_extract_date", "_fate").count().collect()
    }
    assert {(r["_extract_date"], r["_fate"]): r["count"] for r in fate_counts(local)} == spark_counts
    assert set(spark_counts.values()) == {1, 2} and len(spark_counts) == 4  # sanitized 2; one of each other fate
    for fate in ("sanitized", "quarantined"):
        want = fate_rows(classified, TRANSACTIONS, fate).toArrow().sort_by("_line_number")
        got = fate_arrow(local, TRANSACTIONS, fate).sort_by("_line_number")
        assert got.schema.equals(want.schema, check_metadata=True), (got.schema, want.schema)
        assert got.num_rows == spark_counts[(D1, fate)]
        assert got.to_pylist() == want.to_pylist()


def test_unchanged_resend_against_history_and_changed_resend_kept_as_a_version(spark: SparkSession) -> None:
    day1 = run_classify(spark, CUSTOMERS, [{"customer_id": "C1"}, {"customer_id": "C2"}], extract_date=D1)
    previous = fate_rows(day1, CUSTOMERS, "sanitized")
    day2 = run_classify(
        spark,
        CUSTOMERS,
        [{"customer_id": "C1"}, {"customer_id": "C2", "address_line1": "9 New Rd"}, {"customer_id": "C3"}],
        extract_date=D2,
        previous=previous,
    )
    want = expected(
        spark,
        "customer_id",
        [("C1", 1, "unchanged_resend", OK), ("C2", 2, "sanitized", OK), ("C3", 3, "sanitized", OK)],
    )
    assert_same(fates(day2, CUSTOMERS), want)
    history = previous.unionByName(fate_rows(day2, CUSTOMERS, "sanitized")).select(
        "customer_id", "address_line1_token", "_extract_date"
    )
    want_history = spark.createDataFrame(
        [
            ("C1", token(KEY, "1 Main St"), D1),
            ("C2", token(KEY, "1 Main St"), D1),
            ("C2", token(KEY, "9 New Rd"), D2),
            ("C3", token(KEY, "1 Main St"), D2),
        ],
        history.schema,
    )
    assert_df_equality(history, want_history, ignore_nullable=True, ignore_row_order=True)


def test_two_extracts_in_one_batch_compare_with_each_other(spark: SparkSession) -> None:
    """A backfill of several dates sees the in-batch previous version, as a day-by-day run would."""
    raw1, vault1 = raw_frame(spark, CUSTOMERS, [{"customer_id": "C1"}], D1)
    raw2, vault2 = raw_frame(spark, CUSTOMERS, [{"customer_id": "C1"}], D2)
    from c360.sanitized.transform import classify

    classified = classify(
        raw1.unionByName(raw2),
        CUSTOMERS,
        vault=vault1.unionByName(vault2),
        parents={},
        previous=spark.createDataFrame([], CUSTOMERS.sanitized_schema()),
        key=KEY,
    )
    got = classified.select("_extract_date", "_fate").orderBy("_extract_date")
    want = spark.createDataFrame([(D1, "sanitized"), (D2, "unchanged_resend")], got.schema)
    assert_df_equality(got, want, ignore_nullable=True)


def test_boolean_standardisation_and_unknown_words(spark: SparkSession) -> None:
    classified = run_classify(
        spark,
        PRODUCT_SUPPLIERS,
        [
            {"supplier_id": "S1", "is_primary": "Yes"},
            {"supplier_id": "S2", "is_primary": "0"},
            {"supplier_id": "S3", "is_primary": "maybe"},
        ],
    )
    got = classified.select(
        F.col("__t_supplier_id").alias("supplier_id"), F.col("__b_is_primary").alias("is_primary"), "_fate"
    ).orderBy("supplier_id")
    want = spark.createDataFrame(
        [("S1", True, "sanitized"), ("S2", False, "sanitized"), ("S3", None, "quarantined")], got.schema
    )
    assert_df_equality(got, want, ignore_nullable=True)


@pytest.mark.parametrize("amount", ["12.5", "12.50", "-0.00"])
def test_money_is_exact_decimal(spark: SparkSession, amount: str) -> None:
    classified = run_classify(
        spark, TRANSACTIONS, [{"tax_amount": amount, "subtotal": "100.00", "discount_amount": "0", "total_amount": "x"}]
    )
    row = classified.select(F.col("__b_tax_amount").alias("t")).first()
    assert row is not None and row["t"] == Decimal(amount)


def test_registration_after_the_extract_date_is_quarantined(spark: SparkSession) -> None:
    classified = run_classify(
        spark, CUSTOMERS, [{"registration_date": "2024-01-03 00:00:01"}], extract_date=date(2024, 1, 2)
    )
    want = expected(spark, "customer_id", [("CUST1", 1, "quarantined", ["registered_in_future"])])
    assert_same(fates(classified, CUSTOMERS), want)


def test_history_and_vault_narrowed_to_the_days_keys_and_tokens_classify_the_same(spark: SparkSession) -> None:
    """What sanitize leaves out for a day against a long history (sanitized.run, NARROW_FACTOR):
    history rows of other keys and vault rows of other tokens. The day's keys are matched in
    their standard form (a padded id is the same customer)."""
    from c360.sanitized.transform import batch_keys, classify, vault_of_batch

    raw1, vault1 = raw_frame(
        spark, CUSTOMERS, [{"customer_id": c, "email": f"{c.lower()}@example.com"} for c in ("C1", "C2", "C9")], D1
    )
    first = classify(raw1, CUSTOMERS, vault=vault1, parents={}, previous=_no_rows(spark), key=KEY)
    history = fate_rows(first, CUSTOMERS, "sanitized").localCheckpoint()
    day = [{"customer_id": " C1 ", "email": "c1@example.com"}, {"customer_id": "C2", "email": "new@example.com"}]
    raw2, vault2 = raw_frame(spark, CUSTOMERS, day, D2)
    vault = vault1.unionByName(vault2)

    keys = batch_keys(raw2, CUSTOMERS)
    assert sorted(r.customer_id for r in keys.collect()) == ["C1", "C2"]
    narrowed_history = history.join(keys, ["customer_id"], how="left_semi")
    narrowed_vault = vault_of_batch(raw2, CUSTOMERS, vault)
    assert sorted({r.customer_id for r in narrowed_history.collect()}) == ["C1", "C2"]
    assert {r.value for r in narrowed_vault.collect()} == {r.value for r in vault2.collect()}  # none of C9's

    # Checkpointed as sanitize does: each classify plan is computed once for the checks below.
    whole = classify(raw2, CUSTOMERS, vault=vault, parents={}, previous=history, key=KEY).localCheckpoint()
    narrow = classify(raw2, CUSTOMERS, vault=narrowed_vault, parents={}, previous=narrowed_history, key=KEY)
    narrow = narrow.localCheckpoint()
    # Every column but the map of unknown columns (which cannot be sorted; none was delivered).
    assert_df_equality(narrow.drop("_extra"), whole.drop("_extra"), ignore_row_order=True, ignore_nullable=True)
    want = expected(spark, "customer_id", [("C1", 1, "unchanged_resend", OK), ("C2", 2, "sanitized", OK)])
    assert_same(fates(narrow, CUSTOMERS), want)


def test_the_latest_row_of_each_key_is_all_of_its_history_that_classify_needs(spark: SparkSession) -> None:
    """A day against a long history keeps one history row per key (the latest), as a key
    re-sent every day would otherwise bring a year of rows. A key whose earlier version
    equals the day's row, but whose latest does not, is a new version either way."""
    from c360.sanitized.transform import latest_of_each_key

    history = None
    for day, statuses in ((date(2024, 1, 1), ("completed", "pending")), (D1, ("returned", "completed"))):
        rows = [{"transaction_id": t, "status": s} for t, s in zip(("TXN1", "TXN2"), statuses, strict=True)]
        kept = fate_rows(
            run_classify(spark, TRANSACTIONS, rows, extract_date=day, previous=history), TRANSACTIONS, "sanitized"
        )
        history = kept if history is None else history.unionByName(kept)
    assert history is not None
    history = history.localCheckpoint()
    latest = latest_of_each_key(history, TRANSACTIONS)
    assert sorted((r.transaction_id, r._extract_date) for r in latest.collect()) == [("TXN1", D1), ("TXN2", D1)]

    day = [{"transaction_id": "TXN1", "status": "completed"}, {"transaction_id": "TXN2", "status": "completed"}]
    whole = run_classify(spark, TRANSACTIONS, day, extract_date=D2, previous=history)
    narrow = run_classify(spark, TRANSACTIONS, day, extract_date=D2, previous=latest)
    want = expected(spark, "transaction_id", [("TXN1", 1, "sanitized", OK), ("TXN2", 2, "unchanged_resend", OK)])
    assert_same(fates(whole, TRANSACTIONS), want)
    assert_same(fates(narrow, TRANSACTIONS), want)


def _no_rows(spark: SparkSession):  # noqa: ANN202
    return spark.createDataFrame([], CUSTOMERS.sanitized_schema())


def test_classify_shuffles_a_batch_and_its_history_once_by_the_key(spark: SparkSession) -> None:
    """The three windows (exact duplicates, latest in an extract, the previous version) all
    group rows of one key: the rows are hash-partitioned once, by the key, and no window
    shuffles them again (each shuffle of a year's rows cost seconds; docs/benchmarks.md)."""
    day1 = run_classify(spark, CUSTOMERS, [{"customer_id": "C1"}], extract_date=D1)
    previous = fate_rows(day1, CUSTOMERS, "sanitized").localCheckpoint()
    classified = run_classify(spark, CUSTOMERS, [{"customer_id": "C1"}], extract_date=D2, previous=previous)
    plan = classified._jdf.queryExecution().executedPlan().toString()
    shuffles = [line.strip() for line in plan.splitlines() if "Exchange hashpartitioning" in line]
    # Not counted: the vault's distinct (token, value) pairs, shuffled to be
    # deduplicated before they are broadcast to the batch (unseal).
    shuffles = [line for line in shuffles if "hashpartitioning(token#" not in line]
    assert len(shuffles) == 1, plan
    assert "hashpartitioning(__t_customer_id" in shuffles[0], plan
    assert [r["_fate"] for r in fates(classified, CUSTOMERS).collect()] == ["unchanged_resend"]


@pytest.mark.parametrize("by_column", [False, True], ids=["one lookup", "a lookup per column"])
def test_unseal_reads_the_vault_once_for_every_pii_column_unless_told_by_column(
    spark: SparkSession, by_column: bool
) -> None:
    """Each PII column gets its own clear value either way. By default the vault is
    deduplicated and broadcast once, and the other columns' joins reuse that broadcast (a
    lookup per column read the vault again for each); by column, each has its own."""
    rows = [
        {"customer_id": "C1", "email": "ada@example.com", "phone": "+12065550101"},
        # One value in two columns: the same token, told apart by the column.
        {"customer_id": "C2", "email": "x@example.com", "first_name": "x@example.com", "phone": None},
    ]
    raw, vault = raw_frame(spark, CUSTOMERS, rows)
    other = spark.createDataFrame(
        [(token(KEY, "+12065550101"), "other", "S1", "logistics.shipments", "phone")], vault.schema
    )
    unsealed = unseal(raw, CUSTOMERS, vault.unionByName(vault).unionByName(other), by_column=by_column)
    got = unsealed.select("customer_id", *[f"__clear_{c}" for c in CUSTOMERS.pii_columns]).orderBy("customer_id")
    first = {c: VALID[CUSTOMERS.name].get(c) for c in CUSTOMERS.pii_columns}
    assert [r.asDict() for r in got.collect()] == [
        {"customer_id": "C1", **{f"__clear_{c}": v for c, v in first.items()},
         "__clear_email": "ada@example.com", "__clear_phone": "+12065550101"},
        {"customer_id": "C2", **{f"__clear_{c}": v for c, v in first.items()},
         "__clear_email": "x@example.com", "__clear_first_name": "x@example.com", "__clear_phone": None},
    ]  # fmt: skip
    plan = got._jdf.queryExecution().executedPlan().toString()
    final = plan.split("== Initial Plan ==")[0].splitlines()  # the plan that ran, not the one planned
    built = [line for line in final if "BroadcastExchange" in line and "ReusedExchange" not in line]
    reused = [line for line in final if "ReusedExchange" in line and "BroadcastExchange" in line]
    n = len(CUSTOMERS.pii_columns)
    assert (len(built), len(reused)) == ((n, 0) if by_column else (1, n - 1)), plan


def test_a_value_written_as_a_sql_string_reaches_spark_unchanged(spark: SparkSession) -> None:
    """The checks are SQL text: a pattern's backslashes and quotes must reach Spark as
    ``Column.rlike`` hands them over, or a row would be judged by another expression."""
    values = [EMAIL_RE, r"a\b", "it's", r"\%_\_", "ends in a backslash\\", r"\u0041", "tab\tand\nnew line", "\\'"]
    row = spark.range(1).select(*[F.expr(_sql_string(v)).alias(f"v{i}") for i, v in enumerate(values)]).first()
    assert list(row) == values
