"""The table registry: every table declared once, documented, tagged, and every list derived."""

from __future__ import annotations

import re
from dataclasses import replace

import pytest
from pyspark.sql import types as T

from c360 import generated
from c360.contracts import CONTRACTS
from c360.registry import (
    AIR_QUALITY,
    C360,
    PII,
    PRODUCTS,
    SUBJECT,
    Registry,
    Table,
    UnknownTableError,
    column,
    registry,
)

# Column names that hold a direct identifier in clear (only the vault may) or as a token.
DIRECT_IDENTIFIER = re.compile(r"(_token$|^(email|phone|first_name|last_name|address_line1|contact_person)$)")


def test_every_table_and_column_is_described() -> None:
    missing = [t.name for t in registry() if not t.description.strip() or not t.grain.strip()]
    assert missing == []
    undocumented = [f"{t.name}.{c}" for t in registry() for c, d in t.column_descriptions.items() if not d.strip()]
    assert undocumented == []


def test_every_direct_identifier_or_its_token_carries_the_pii_tag() -> None:
    untagged = [
        f"{t.name}.{c}"
        for t in registry()
        for c, tags in t.column_tags.items()
        if DIRECT_IDENTIFIER.search(c) and PII not in tags
    ]
    assert untagged == []
    assert registry().get("vault.pii.values").pii_columns == ["token", "value"]
    # Each contract's identifiers are pii in its raw and sanitized tables.
    for contract in CONTRACTS.values():
        raw = registry().get(contract.raw_table).pii_columns
        sanitized = registry().get(contract.sanitized_table).pii_columns
        assert set(contract.pii_columns) <= set(raw), contract.name
        assert {f"{c}_token" for c in contract.pii_columns} <= set(sanitized), contract.name


def test_the_customer_id_is_the_subject_wherever_a_customer_s_rows_live() -> None:
    holders = [t.name for t in registry() if "customer_id" in t.schema.fieldNames()]
    assert holders and all(SUBJECT in registry().get(n).column_tags["customer_id"] for n in holders)


def test_every_table_belongs_to_a_declared_product_and_has_an_owner() -> None:
    assert {t.product for t in registry()} <= set(PRODUCTS)
    assert all(t.owner for t in registry())


def test_published_tables_have_a_suite_and_a_build_and_their_sources_are_tables() -> None:
    for t in registry().published():
        assert t.suite is not None and t.build is not None, t.name
        assert all(s in registry() for s in t.sources), t.name


def test_build_order_puts_every_source_first() -> None:
    order = [t.name for t in registry().build_order()]
    for t in registry():
        assert all(order.index(s) < order.index(t.name) for s in t.sources if s in order), t.name


def test_a_cycle_is_refused() -> None:
    schema = T.StructType([column("id", T.LongType(), "id")])
    a = Table("enhanced.x.a", schema, "a", "one row", ("id",), C360, "o", sources=("enhanced.x.b",))
    b = Table("enhanced.x.b", schema, "b", "one row", ("id",), C360, "o", sources=("enhanced.x.a",))
    with pytest.raises(ValueError, match="cycle"):
        Registry({a.name: a, b.name: b}).build_order()


def test_lineage_walks_the_declared_sources_both_ways() -> None:
    up = registry().upstream("enhanced.customer.customer360_profile")
    assert {"enhanced.customer.dim_customer", "sanitized.sales.transactions", "raw.sales.transactions"} <= set(up)
    down = registry().downstream("raw.customer.customers")
    assert {"sanitized.customer.customers", "enhanced.customer.customer360_profile"} <= set(down)


def test_an_unknown_table_names_the_close_ones() -> None:
    with pytest.raises(UnknownTableError, match="enhanced.customer.customer360_profile"):
        registry().get("enhanced.customer.customer360_profil")
    with pytest.raises(UnknownTableError, match="enhanced.sales.fct_order"):
        registry().get("fct_order")


def test_declarations_are_checked() -> None:
    schema = T.StructType([column("id", T.LongType(), "id")])
    with pytest.raises(ValueError, match="not in the schema"):
        Table("enhanced.x.a", schema, "a", "one row", ("nope",), C360, "o")
    with pytest.raises(ValueError, match="unknown tags"):
        column("id", T.LongType(), "id", tags=("secret",))
    table = registry().get("enhanced.sales.fct_order")
    with pytest.raises(ValueError, match="suite is declared for"):
        replace(table, name="enhanced.sales.other")


def test_generated_files_are_current() -> None:
    """dags/c360_airflow/assets.py and docs/tables.md: run `c360 registry generate` when this fails."""
    assert generated.stale() == []


def test_each_step_publishes_one_product() -> None:
    assert {t.product for t in registry().published()} == {C360, AIR_QUALITY}
    assert registry().get("enhanced.shared.dim_date").product == C360
    assert "enhanced.air_quality.dim_date" not in registry()


def test_a_model_selection_builds_its_tables_and_what_they_need_in_build_order() -> None:
    from c360.enhanced.model import model_tables

    chosen = [t.name for t in model_tables(["enhanced.sales.fct_sales_line"])]
    # Built from the customer and product dimensions, and checked against those and the date.
    needed = {
        "enhanced.sales.fct_sales_line",
        "enhanced.customer.dim_customer",
        "enhanced.products.dim_product",
        "enhanced.shared.dim_date",
    }
    assert chosen == [t.name for t in model_tables() if t.name in needed]
    assert chosen.index("enhanced.sales.fct_sales_line") == len(chosen) - 1
    with pytest.raises(UnknownTableError, match="fct_sales_line"):
        model_tables(["enhanced.sales.fct_sale_line"])
