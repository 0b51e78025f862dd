"""Every expectation kind passes on good data and fails on bad data with the exact row count."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from decimal import Decimal

import pytest

from c360.quality import TableSuite, gx_runner, publish, validate

SCHEMA = "id int, sku string, qty int, price double, disc double, amount double, channel string, ts timestamp"
GOOD = [
    (1, "A", 2, 10.0, 1.0, 19.0, "pos", datetime(2024, 3, 10, 8)),
    (2, "B", 1, 5.0, 0.0, 5.0, "web", datetime(2024, 3, 10, 9)),
    (3, "A", 3, 1.0, 0.0, 3.0, "web", datetime(2024, 3, 9, 10)),
]
BAD = [
    (1, "A", 2, 10.0, 1.0, 19.0, "pos", datetime(2024, 3, 8, 8)),
    # dup id, unknown sku, qty, channel, amount
    (1, "Z", 0, 5.0, 0.0, 4.0, "fax", datetime(2024, 3, 8, 7)),
    # null id, qty out of range, (B, web) twice
    (None, "B", 200, 1.0, 0.0, 200.0, "web", datetime(2024, 3, 8, 6)),
    # null disc: the invariant is null, which fails
    (4, "B", 1, 1.0, None, 1.0, "web", datetime(2024, 3, 8, 5)),
    # null sku: not FK-checked, fails the warn-level not-null
    (5, None, 1, 1.0, 0.0, 1.0, "pos", datetime(2024, 3, 8, 4)),
]


def suite(products) -> TableSuite:  # noqa: ANN001
    return (
        TableSuite("enhanced.sales.fct_test", key=("id",), measures=("amount",))
        .unique(("sku", "channel"))
        .in_range("qty", 1, 100)
        .in_set("channel", ["pos", "web"])
        .foreign_key("sku", products, name="sku_in_frame")
        .foreign_key("sku", "enhanced.sales.dim_product", "product_sku")
        .invariant("amount_formula", "amount = qty * price - disc")
        .fresh("ts", timedelta(days=1))
        .row_count_vs_previous(0.5, 1.5)
        .gx(
            "expect_column_values_to_not_be_null",
            column="sku",
            name="sku_present",
            severity="warn",
        )
    )


def outcome(report) -> list[tuple[str, bool, int | None, str | None]]:  # noqa: ANN001
    return [(r.expectation, r.success, r.unexpected_count, r.observed_value) for r in report.results]


@pytest.mark.parametrize("engine", ["spark", "pandas"])
def test_each_kind_passes_on_good_data_and_counts_bad_rows(spark, storage, monkeypatch, engine) -> None:  # noqa: ANN001
    """The same results whichever GX engine judges the frame (small frames go to pandas)."""
    monkeypatch.setattr(gx_runner, "PANDAS_MAX_ROWS", 0 if engine == "spark" else 1000)
    collected = []
    convert = gx_runner.pandas_frame
    monkeypatch.setattr(gx_runner, "pandas_frame", lambda table: collected.append(convert(table)) or collected[-1])
    products = spark.createDataFrame([("A",), ("B",)], "sku string")
    dim = spark.createDataFrame([("A",), ("B",)], "product_sku string")
    storage.overwrite(dim, "enhanced.sales.dim_product")
    s = suite(products)
    day1 = publish(
        storage,
        spark.createDataFrame(GOOD, SCHEMA),
        s,
        write=lambda d, rows: storage.overwrite(d, s.table, rows=rows),
        run_id="r1",
        run_date=date(2024, 3, 9),
    )
    assert day1.report.status == "passed"
    assert ("row_count_vs_previous", True, None, "no previous run") in outcome(day1.report)

    day2 = date(2024, 3, 10)
    good = validate(storage, spark.createDataFrame(GOOD, SCHEMA), s, run_id="r2", run_date=day2)
    assert outcome(good) == [
        ("not_null(id)", True, 0, None),
        ("unique(id)", True, 0, None),
        ("unique(sku,channel)", True, 0, None),
        ("in_range(qty)", True, 0, None),
        ("in_set(channel)", True, 0, None),
        ("sku_in_frame", True, 0, "0"),
        ("foreign_key(sku->enhanced.sales.dim_product)", True, 0, "0"),
        ("amount_formula", True, 0, "0"),
        ("fresh(ts)", True, None, "2024-03-10 09:00:00"),
        ("row_count_vs_previous", True, None, "3"),
        ("sku_present", True, 0, None),
    ]

    bad = validate(storage, spark.createDataFrame(BAD, SCHEMA), s, run_id="r3", run_date=day2)
    assert outcome(bad) == [
        ("not_null(id)", False, 1, None),
        ("unique(id)", False, 2, None),
        ("unique(sku,channel)", False, 2, None),
        ("in_range(qty)", False, 2, None),
        ("in_set(channel)", False, 1, None),
        ("sku_in_frame", False, 1, "1"),
        ("foreign_key(sku->enhanced.sales.dim_product)", False, 1, "1"),
        ("amount_formula", False, 2, "2"),
        ("fresh(ts)", False, None, "2024-03-08 08:00:00"),
        ("row_count_vs_previous", False, None, "5"),
        ("sku_present", False, 1, None),
    ]
    assert bad.status == "failed"
    # a failed invariant says what its rows must satisfy, not the bare predicate
    assert {r.expectation: r.details for r in bad.results}["amount_formula"] == (
        "rows must satisfy amount = qty * price - disc"
    )
    assert [r.expectation for r in bad.blocking] == [r[0] for r in outcome(bad)[:-1]]
    assert bad.metrics == {
        "row_count": 5.0,
        "null_rate.id": 0.2,
        "null_rate.sku": 0.2,
        "null_rate.qty": 0.0,
        "null_rate.price": 0.0,
        "null_rate.disc": 0.2,
        "null_rate.amount": 0.0,
        "null_rate.channel": 0.0,
        "null_rate.ts": 0.0,
        "distinct.id": 3.0,
        "sum.amount": 225.0,
    }
    assert len(collected) == (0 if engine == "spark" else 3) and all(f is not None for f in collected)


@pytest.mark.parametrize("collect_max_rows", [-1, 100], ids=["spark", "arrow"])
def test_distinct_keys_are_counted_as_count_distinct_counts_them(spark, collect_max_rows: int) -> None:  # noqa: ANN001
    """The distinct-key metric equals COUNT(DISTINCT a, b), counted by Spark or, for a frame
    small enough to collect, from its Arrow collect: a row with a NULL in any key column is
    left out, repeated keys count once, for every key type (floats stay with Spark)."""
    from c360.quality.spark_checks import aggregate_pass

    rows = [("x", 1), ("x", 1), ("x", 2), (None, 1), ("y", None), (None, None), ("y", 3)]
    df = spark.createDataFrame(rows, "a string, b int")
    passed = aggregate_pass(df, TableSuite("enhanced.sales.fct_test", key=("a", "b")), collect_max_rows)
    want = df.selectExpr("count(DISTINCT a, b) AS n").first()["n"]
    assert want == 3
    assert passed.metrics["distinct.a,b"] == want
    assert passed.metrics["row_count"] == 7.0
    assert (passed.collected is None) == (collect_max_rows < 0)
    suite = TableSuite("enhanced.sales.fct_test", key=("a", "b"))
    assert aggregate_pass(df.limit(0), suite, collect_max_rows).metrics == {
        "row_count": 0.0,
        "null_rate.a": 0.0,
        "null_rate.b": 0.0,
        "distinct.a,b": 0.0,
    }
    typed = spark.createDataFrame(
        [
            (1, Decimal("1.10"), date(2024, 1, 1), datetime(2024, 1, 1, 1, 0, tzinfo=UTC), True, 0.0),
            (1, Decimal("1.1"), date(2024, 1, 1), datetime(2024, 1, 1, 1, 0, tzinfo=UTC), True, -0.0),
            (2, Decimal("1.10"), date(2024, 1, 2), datetime(2024, 1, 1, 1, 0, 0, 1, tzinfo=UTC), False, float("nan")),
            (2, None, date(2024, 1, 2), None, None, float("nan")),
        ],
        "l long, d decimal(10,2), day date, at timestamp, ok boolean, f double",
    )
    for key in (("l", "d"), ("day", "at", "ok"), ("l", "f"), ("d",), ("f",)):
        got = aggregate_pass(typed, TableSuite("enhanced.sales.fct_test", key=key), collect_max_rows).metrics
        want = typed.selectExpr(f"count(DISTINCT {', '.join(key)}) AS n").first()["n"]
        assert got[f"distinct.{','.join(key)}"] == want, key


def test_foreign_keys_counted_together_keep_each_keys_own_count(spark) -> None:  # noqa: ANN001
    """The anti-joins share one job: each key's orphans must still land on its own result,
    a key with none passes, and a missing reference table fails only its own key."""
    from c360.quality.spark_checks import foreign_key_results

    facts = spark.createDataFrame(
        [(1, "A", "x"), (2, "Z", "x"), (3, "Y", None), (4, "A", "q")], "id int, sku string, site string"
    )
    products = spark.createDataFrame([("A",), ("B",)], "sku string")
    sites = spark.createDataFrame([("x",), ("q",)], "site string")
    s = (
        TableSuite("enhanced.sales.fct_test", key=("id",))
        .foreign_key("site", sites, name="site_known")
        .foreign_key("sku", products, name="sku_known")
        .foreign_key("sku", "enhanced.sales.dim_gone", "sku", name="sku_in_missing_table")
    )
    results = foreign_key_results(facts, s, 4, lambda name: None)
    assert [(r.expectation, r.success, r.unexpected_count) for r in results] == [
        ("site_known", True, 0),
        ("sku_known", False, 2),
        ("sku_in_missing_table", False, None),
    ]
    assert results[2].details == "reference table enhanced.sales.dim_gone does not exist"


def test_foreign_keys_counted_with_arrow_equal_the_spark_job(spark, storage) -> None:  # noqa: ANN001
    """A small frame's foreign keys are counted with Arrow against the tables' keys read with
    delta-rs: the same results as the Spark job, single and composite keys, null keys, a
    missing table; key types that differ (Spark would cast) are left to the Spark job."""
    from c360.quality.gate import _key_reader, _reader
    from c360.quality.spark_checks import arrow_orphans, foreign_key_results
    from c360.quality.suite import Kind

    def fks(s: TableSuite) -> list:
        return [e for e in s.expectations if e.kind is Kind.FOREIGN_KEY]

    products = spark.createDataFrame([("A",), ("B",), ("B",)], "product_sku string")
    storage.overwrite(products, "enhanced.sales.dim_product")
    pairs = spark.createDataFrame([(1, date(2024, 1, 1)), (2, date(2024, 1, 2))], "k bigint, d date")
    storage.overwrite(pairs, "enhanced.test.dim_pair")
    storage.overwrite(spark.createDataFrame([(1,), (2,)], "id int"), "enhanced.test.dim_int")
    facts = spark.createDataFrame(
        [
            ("A", 1, date(2024, 1, 1), 1),
            ("Z", 1, date(2024, 1, 2), 2),  # unknown sku; (1, 01-02) is no pair
            (None, None, date(2024, 1, 9), 3),  # null keys are not checked
            ("Z", 2, date(2024, 1, 2), 9),
        ],
        "sku string, k bigint, d date, id bigint",
    )
    suite = (
        TableSuite("enhanced.sales.fct_test", key=("sku",))
        .foreign_key("sku", "enhanced.sales.dim_product", "product_sku")
        .foreign_key(("k", "d"), "enhanced.test.dim_pair")
        .foreign_key("sku", "enhanced.sales.dim_gone", "sku", name="sku_in_missing_table")
    )
    collected = facts.toArrow()
    assert arrow_orphans(collected, fks(suite), _key_reader(storage)) == [2, 1, None]
    arrow = foreign_key_results(facts, suite, 4, _reader(storage), collected, _key_reader(storage))
    assert arrow == foreign_key_results(facts, suite, 4, _reader(storage))

    other_type = TableSuite("enhanced.sales.fct_test", key=("sku",)).foreign_key("id", "enhanced.test.dim_int")
    assert arrow_orphans(collected, fks(other_type), _key_reader(storage)) is None
    results = foreign_key_results(facts, other_type, 4, _reader(storage), collected, _key_reader(storage))
    assert [(r.success, r.unexpected_count) for r in results] == [(False, 2)]  # 3 and 9, by the Spark job

    # Float keys too: Spark's join equates -0.0 with 0.0, Arrow's need not.
    storage.overwrite(spark.createDataFrame([(0.0,)], "x double"), "enhanced.test.dim_float")
    floats = spark.createDataFrame([(-0.0,)], "x double")
    float_key = TableSuite("enhanced.sales.fct_test", key=("x",)).foreign_key("x", "enhanced.test.dim_float")
    assert arrow_orphans(floats.toArrow(), fks(float_key), _key_reader(storage)) is None
    results = foreign_key_results(floats, float_key, 1, _reader(storage), floats.toArrow(), _key_reader(storage))
    assert [(r.success, r.unexpected_count) for r in results] == [(True, 0)]


def test_a_failed_invariant_says_its_rule_and_why() -> None:
    from c360.quality.spark_checks import _invariant_details

    plain = TableSuite("enhanced.sales.fct_test", key=("id",)).invariant("positive", "amount > 0").expectations[-1]
    said = (
        TableSuite("enhanced.sales.fct_test", key=("id",))
        .invariant("fit_identified", "NOT degenerate", severity="warn", description="the fit is identified")
        .expectations[-1]
    )
    assert _invariant_details(plain) == "rows must satisfy amount > 0"
    assert _invariant_details(said) == "rows must satisfy NOT degenerate: the fit is identified"
