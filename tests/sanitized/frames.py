"""Tiny raw frames for the sanitize rules: a valid row per contract, overridden per test.

Raw rows are built the way ingestion leaves them (delivered strings, PII sealed to
tokens with the clear values in a vault frame), so ``classify`` sees what it sees in
production without running an ingest.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import date, datetime

from pyspark.sql import DataFrame, SparkSession
from pyspark.sql import functions as F
from pyspark.sql import types as T

from c360.contracts import Contract
from c360.contracts.retail import CUSTOMERS, PRODUCT_SUPPLIERS, SUPPORT_TICKETS, TRANSACTION_ITEMS, TRANSACTIONS
from c360.pii import token, vault_schema
from c360.sanitized.transform import classify

KEY = b"unit-test-key"
D1, D2 = date(2024, 1, 2), date(2024, 1, 3)
INGEST_TIME = datetime(2024, 1, 3, 6, 0)

VALID: dict[str, dict[str, str]] = {
    CUSTOMERS.name: {
        "customer_id": "CUST1",
        "first_name": "Ada",
        "last_name": "Byron",
        "email": "ada@example.com",
        "phone": "+1-206-555-0101",
        "date_of_birth": "1985-03-15",
        "gender": "F",
        "registration_date": "2023-05-01 10:00:00",
        "customer_segment": "Premium",
        "preferred_channel": "online",
        "address_line1": "1 Main St",
        "city": "Seattle",
        "state": "WA",
        "zip_code": "98101",
        "country": "USA",
    },
    TRANSACTIONS.name: {
        "transaction_id": "TXN1",
        "customer_id": "CUST1",
        "transaction_date": "2024-01-02 10:00:00",
        "channel": "online",
        "store_id": "",
        "payment_method": "paypal",
        "subtotal": "100.00",
        "tax_amount": "8.00",
        "discount_amount": "10.00",
        "total_amount": "98.00",
        "currency": "USD",
        "status": "completed",
    },
    TRANSACTION_ITEMS.name: {
        "item_id": "ITM1",
        "transaction_id": "TXN1",
        "product_id": "PRD001",
        "quantity": "2",
        "unit_price": "50.00",
        "line_total": "100.00",
        "discount_applied": "10.00",
    },
    PRODUCT_SUPPLIERS.name: {
        "product_id": "PRD001",
        "supplier_id": "SUP1",
        "is_primary": "Yes",
        "cost_price": "5.00",
        "lead_time_days": "3",
    },
    SUPPORT_TICKETS.name: {
        "ticket_id": "TKT1",
        "customer_id": "CUST1",
        "created_date": "2024-01-02 09:00:00",
        "resolved_date": "2024-01-02 12:00:00",
        "category": "billing",
        "priority": "low",
        "status": "resolved",
        "channel": "email",
        "satisfaction_score": "4",
    },
}


def raw_frame(
    spark: SparkSession,
    contract: Contract,
    rows: Sequence[Mapping[str, str | None]],
    extract_date: date = D1,
) -> tuple[DataFrame, DataFrame]:
    """(raw rows, vault) for ``rows``, each a valid row with the given fields replaced.

    ``_line_number`` is the row's position (1-based), so "later in the file" is "later in the list".
    """
    schema = contract.raw_schema()
    out, vault = [], []
    for n, override in enumerate(rows, start=1):
        values = {**VALID[contract.name], **override}
        record = []
        for c in contract.raw_columns:
            v = values.get(c)
            if c in contract.pii_columns and v not in (None, ""):
                vault.append((token(KEY, v), v, values.get(contract.subject or ""), contract.name, c))
                v = token(KEY, v)
            record.append(v)
        meta = [None, n, None, None, "ingest-1", INGEST_TIME, f"/in/{contract.source}.csv", "sum", extract_date]
        out.append(tuple(record + meta))
    return spark.createDataFrame(out, schema), spark.createDataFrame(vault, vault_schema())


def parent_frame(spark: SparkSession, column: str, keys: Sequence[tuple[str, date]]) -> DataFrame:
    """A sanitized parent table reduced to what the foreign-key check reads: key and extract date."""
    schema = T.StructType([T.StructField(column, T.StringType()), T.StructField("_extract_date", T.DateType())])
    return spark.createDataFrame(list(keys), schema)


def run_classify(
    spark: SparkSession,
    contract: Contract,
    rows: Sequence[Mapping[str, str | None]],
    *,
    extract_date: date = D1,
    parents: Mapping[str, DataFrame] | None = None,
    previous: DataFrame | None = None,
) -> DataFrame:
    raw, vault = raw_frame(spark, contract, rows, extract_date)
    if parents is None:
        parents = {fk.ref: parent_frame(spark, fk.ref_column, []) for fk in contract.foreign_keys}
    if previous is None:
        previous = spark.createDataFrame([], contract.sanitized_schema())
    return classify(raw, contract, vault=vault, parents=parents, previous=previous, key=KEY)


def fates(classified: DataFrame, contract: Contract) -> DataFrame:
    """(key..., line, fate, reasons sorted) of every raw row, in file order."""
    keys = [F.col(f"__t_{k}").alias(k) for k in contract.key]
    return classified.select(
        *keys, F.col("_line_number").alias("line"), "_fate", F.array_sort("_reasons").alias("_reasons")
    ).orderBy("line")


FATE_SCHEMA = "line long, _fate string, _reasons array<string>"


def expected(spark: SparkSession, key: str, rows: Sequence[tuple[object, ...]]) -> DataFrame:
    return spark.createDataFrame(list(rows), f"{key} string, {FATE_SCHEMA}")


def assert_same(got: DataFrame, want: DataFrame) -> None:
    """Whole-frame equality of rows and column types; nullability is Spark's business, not the rule's."""
    from chispa import assert_df_equality

    assert_df_equality(got, got.sparkSession.createDataFrame(want.collect(), got.schema))
