"""GX's pandas engine, which judges the gate's small frames, gives exactly the results of its
Spark engine: on every column type c360's tables hold, with nulls, duplicates and values out
of bounds, for every expectation type c360 declares."""

from __future__ import annotations

import math
from datetime import date, datetime
from decimal import Decimal

import pytest

from c360.quality import gx_runner
from c360.quality.gx_runner import GxCheck, get_runner
from c360.quality.suite import Expectation, Kind, Severity

SCHEMA = (
    "k bigint, n int, s string, d date, ts timestamp, x double, amt decimal(20,8), flag boolean, "
    "tags array<string>, attrs map<string,string>"
)
BIG = 2**62  # above 2**53: float64 would merge BIG and BIG + 1
ROWS = [
    (BIG, 1, "a", date(2024, 1, 1), datetime(2024, 1, 1, 8), 0.5, Decimal("1.00000001"), True, ["x"], {"a": "1"}),
    (BIG + 1, 2, "b", date(2024, 1, 2), datetime(2024, 1, 2, 9, 30, 0, 123456), -1.5, Decimal("-2.5"), False, [], {}),
    (None, 3, "b", None, None, None, None, None, None, None),
    (BIG + 1, None, None, date(2024, 1, 2), datetime(2024, 1, 3), 1e300, Decimal("99999999999.99999999"), True, [], {}),
    (-BIG, 50, "z", date(2023, 12, 31), datetime(2023, 12, 31, 23, 59, 59), 2.0, Decimal("0"), None, ["y"], {}),
]


def check(gx_type: str, name: str, **kwargs: object) -> GxCheck:
    e = Expectation(name=name, kind=Kind.GX, severity=Severity.ERROR, gx_type=gx_type, gx_kwargs=dict(kwargs))
    return GxCheck(e, gx_type, kwargs)


COLUMNS = [c.split()[0] for c in SCHEMA.split(", ")]
CHECKS = [
    *(check("expect_column_values_to_not_be_null", f"not_null({c})", column=c) for c in COLUMNS),
    *(check("expect_column_values_to_be_unique", f"unique({c})", column=c) for c in ("k", "n", "s", "d", "ts", "amt")),
    check("expect_compound_columns_to_be_unique", "unique(k,d)", column_list=["k", "d"]),
    check("expect_compound_columns_to_be_unique", "unique(s,flag)", column_list=["s", "flag"]),
    check("expect_column_values_to_be_in_set", "in_set(s)", column="s", value_set=["a", "b"]),
    check("expect_column_values_to_be_in_set", "in_set(n)", column="n", value_set=[1, 2, 3]),
    check("expect_column_values_to_be_between", "in_range(n)", column="n", min_value=1, max_value=10),
    check("expect_column_values_to_be_between", "in_range(k)", column="k", min_value=0, max_value=None),
    check("expect_column_values_to_be_between", "in_range(x)", column="x", min_value=-1, max_value=1, strict_min=True),
    check("expect_column_values_to_be_between", "in_range(amt)", column="amt", min_value=0, max_value=5),
    check("expect_column_max_to_be_between", "fresh(d)", column="d", min_value=date(2024, 1, 2)),
    check("expect_column_max_to_be_between", "stale(d)", column="d", min_value=date(2024, 1, 3)),
    check("expect_column_max_to_be_between", "fresh(ts)", column="ts", min_value=datetime(2024, 1, 2, 9, 30)),
    check("expect_column_max_to_be_between", "stale(ts)", column="ts", min_value=datetime(2024, 1, 4)),
    check("expect_table_row_count_to_be_between", "row_count", min_value=1, max_value=4),
]


def results_by_engine(frame, tmp_path) -> dict[str, list[tuple]]:  # noqa: ANN001
    out = {}
    for engine in ("spark", "pandas"):
        collected = frame.toArrow() if engine == "pandas" else None
        results, _, _ = get_runner(tmp_path / "docs").validate(frame, "test.gx.engines", CHECKS, engine, collected)
        out[engine] = [
            (r.expectation, r.success, r.observed_value, r.unexpected_count, r.element_count, r.unexpected_percent)
            for r in results
        ]
    return out


def test_pandas_engine_judges_every_type_as_spark_does(spark, monkeypatch, tmp_path) -> None:  # noqa: ANN001
    assert {c.gx_type for c in CHECKS} == gx_runner.PANDAS_TYPES  # every type handed to pandas is here
    frame = spark.createDataFrame(ROWS, SCHEMA)
    pandas = gx_runner.pandas_frame(frame.toArrow())
    assert pandas is not None and len(pandas) == len(ROWS)
    assert sorted(pandas["k"].dropna()) == sorted(r[0] for r in ROWS if r[0] is not None)  # exact, not rounded
    by_engine = results_by_engine(frame, tmp_path)
    assert by_engine["pandas"] == by_engine["spark"]
    outcome = {name: (ok, observed, bad) for name, ok, observed, bad, _, _ in by_engine["spark"]}
    # What both said, so that agreement cannot come from both failing to evaluate.
    assert outcome["not_null(k)"] == (False, None, 1)
    assert outcome["unique(k)"] == (False, None, 2)  # BIG + 1 twice; the null is not a duplicate
    assert outcome["unique(k,d)"] == (False, None, 2)
    assert outcome["in_set(s)"] == (False, None, 1)
    assert outcome["in_range(x)"] == (False, None, 3)  # -1.5 and 1e300 out, 2.0 out; -1 excluded
    assert outcome["in_range(amt)"] == (False, None, 2)
    assert outcome["fresh(d)"] == (True, "2024-01-02", None)
    assert outcome["stale(d)"][:2] == (False, "2024-01-02")
    assert outcome["fresh(ts)"] == (True, "2024-01-03 00:00:00", None)
    assert outcome["stale(ts)"][:2] == (False, "2024-01-03 00:00:00")
    assert outcome["row_count"] == (False, "5", None)


def test_a_float_column_holding_nan_stays_on_spark(spark, monkeypatch, tmp_path) -> None:  # noqa: ANN001
    """pandas takes NaN for null; Spark does not: such a frame is not handed to pandas."""
    frame = spark.createDataFrame([(1, math.nan), (2, None), (3, 1.0)], "k bigint, x double")
    assert gx_runner.pandas_frame(frame.toArrow()) is None
    checks = [check("expect_column_values_to_not_be_null", "not_null(x)", column="x")]
    results, _, _ = get_runner(tmp_path / "docs").validate(frame, "test.gx.nan", checks, "nan", frame.toArrow())
    assert [(r.success, r.unexpected_count) for r in results] == [(False, 1)]  # only the null


def test_a_type_not_shown_alike_stays_on_spark(spark, monkeypatch, tmp_path) -> None:  # noqa: ANN001
    monkeypatch.setattr(gx_runner, "pandas_frame", lambda table: pytest.fail("converted a frame for pandas"))
    frame = spark.createDataFrame([("1",), ("x",)], "k string")
    checks = [check("expect_column_values_to_match_regex", "digits(k)", column="k", regex="^[0-9]+$")]
    results, _, _ = get_runner(tmp_path / "docs").validate(frame, "test.gx.spark", checks, "spark", frame.toArrow())
    assert [(r.success, r.unexpected_count) for r in results] == [(False, 1)]


def test_the_gate_collects_only_frames_up_to_the_limit(spark, storage, monkeypatch) -> None:  # noqa: ANN001
    from c360.quality import TableSuite, validate

    collected = []
    convert = gx_runner.pandas_frame
    monkeypatch.setattr(gx_runner, "pandas_frame", lambda table: collected.append(table.num_rows) or convert(table))
    suite = TableSuite("enhanced.test.small", key=("k",))
    for limit, rows in ((3, 3), (2, 3)):
        monkeypatch.setattr(gx_runner, "PANDAS_MAX_ROWS", limit)
        frame = spark.range(rows).withColumnRenamed("id", "k")
        assert validate(storage, frame, suite, run_id=f"limit-{limit}", run_date=date(2024, 1, 1)).passed
    assert collected == [3]  # the 3-row frame under a limit of 2 stayed on Spark


def test_pandas_gets_only_the_columns_the_checks_name(spark, monkeypatch, tmp_path) -> None:  # noqa: ANN001
    """The other columns change no result, so they are not converted: a NaN in one of them no
    longer sends the frame to Spark, and both engines still agree."""
    frame = spark.createDataFrame(
        [(1, math.nan, "a", Decimal("1.5")), (1, 2.0, None, None), (None, None, "c", Decimal("0"))],
        "k bigint, x double, s string, amt decimal(10,2)",
    )
    checks = [
        check("expect_column_values_to_not_be_null", "not_null(k)", column="k"),
        check("expect_column_values_to_be_unique", "unique(k)", column="k"),
        check("expect_compound_columns_to_be_unique", "unique(k,s)", column_list=["k", "s"]),
        check("expect_table_row_count_to_be_between", "row_count", min_value=1, max_value=2),
    ]
    converted = []
    convert = gx_runner.pandas_frame
    monkeypatch.setattr(gx_runner, "pandas_frame", lambda table: converted.append(table.column_names) or convert(table))
    runner = get_runner(tmp_path / "docs")
    by_engine = {}
    for engine, collected in (("spark", None), ("pandas", frame.toArrow())):
        results, _, _ = runner.validate(frame, "test.gx.narrowed", checks, engine, collected)
        by_engine[engine] = [(r.expectation, r.success, r.observed_value, r.unexpected_count, r.element_count)
                             for r in results]  # fmt: skip
    assert converted == [["k", "s"]]
    assert by_engine["pandas"] == by_engine["spark"]
    assert [(name, ok, bad) for name, ok, _, bad, _ in by_engine["pandas"]] == [
        ("not_null(k)", False, 1),
        ("unique(k)", False, 2),
        ("unique(k,s)", True, 0),
        ("row_count", False, None),
    ]


def test_a_keyword_that_may_name_columns_keeps_them_all(spark) -> None:  # noqa: ANN001
    table = spark.createDataFrame([(1, "a", 2.0)], "k bigint, s string, x double").toArrow()
    conditional = check("expect_column_values_to_not_be_null", "nn", column="k", row_condition='s=="a"')
    assert gx_runner.judged_columns(table, [conditional]).column_names == ["k", "s", "x"]
    count_only = check("expect_table_row_count_to_be_between", "row_count", min_value=1)
    narrowed = gx_runner.judged_columns(table, [count_only])
    assert (narrowed.column_names, narrowed.num_rows) == (["k"], 1)  # the rows are kept
