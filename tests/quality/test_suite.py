"""Suite declarations: what a few lines next to a table expand to, and what is refused."""

from __future__ import annotations

from datetime import timedelta

import pytest

from c360.quality import Kind, Severity, SuiteDeclarationError, TableSuite


def test_key_expands_to_not_null_and_unique_and_helpers_append_in_order() -> None:
    base = TableSuite("enhanced.sales.fct_x", key=("order_id", "line_no"))
    suite = (
        base.in_range("quantity", 1, 100)
        .in_set("channel", ["web", "pos", "web"], severity="warn")
        .fresh("order_ts", timedelta(days=2))
        .row_count_vs_previous(0.5, None)
        .invariant("amount", "line_amount = quantity * unit_price - discount")
    )
    assert [(e.name, e.kind, e.severity, e.gx_type) for e in suite.expectations] == [
        ("not_null(order_id)", Kind.GX, Severity.ERROR, "expect_column_values_to_not_be_null"),
        ("not_null(line_no)", Kind.GX, Severity.ERROR, "expect_column_values_to_not_be_null"),
        (
            "unique(order_id,line_no)",
            Kind.GX,
            Severity.ERROR,
            "expect_compound_columns_to_be_unique",
        ),
        ("in_range(quantity)", Kind.GX, Severity.ERROR, "expect_column_values_to_be_between"),
        ("in_set(channel)", Kind.GX, Severity.WARN, "expect_column_values_to_be_in_set"),
        ("fresh(order_ts)", Kind.FRESHNESS, Severity.ERROR, None),
        ("row_count_vs_previous", Kind.ROW_COUNT_VS_PREVIOUS, Severity.ERROR, None),
        ("amount", Kind.INVARIANT, Severity.ERROR, None),
    ]
    assert suite.expectations[4].gx_kwargs == {"column": "channel", "value_set": ["pos", "web"]}
    assert len(base.expectations) == 3  # helpers return new suites; the base is untouched


@pytest.mark.parametrize(
    ("declare", "message"),
    [
        (
            lambda s: s.not_null("id"),
            "expectation names must be unique, repeated: ['not_null(id)']",
        ),
        (lambda s: s.in_range("q"), "in_range(q) needs a min_value or a max_value"),
        (lambda s: s.row_count_vs_previous(2.0, 1.0), "min_ratio 2.0 > max_ratio 1.0"),
        (lambda s: s.foreign_key(("a", "b"), "enhanced.x.y", "a"), "1 reference columns for 2"),
        (lambda s: s.foreign_key("a", "not-a-table"), "must be tier.domain.table"),
        (lambda s: s.gx("column_values_unique"), "is not a Great Expectations expectation type"),
        (lambda s: s.invariant("empty", " "), "invariant 'empty' needs a predicate"),
    ],
)
def test_bad_declarations_fail_at_declaration_time(declare, message: str) -> None:  # noqa: ANN001
    with pytest.raises(ValueError) as raised:
        declare(TableSuite("enhanced.sales.fct_x", key=("id",)))
    assert message in str(raised.value)
    if "tier.domain.table" not in message:
        assert isinstance(raised.value, SuiteDeclarationError)
