"""Cross-table rules between sanitized orders and lines: exact counts on tiny inline frames."""

from __future__ import annotations

from collections.abc import Callable
from datetime import date, datetime
from decimal import Decimal

from pyspark.sql import SparkSession

from c360.sanitized.crosscheck import cross_table_counts, cross_table_results

ORDERS = "transaction_id string, status string, subtotal decimal(12,2), discount_amount decimal(12,2), " \
    "_extract_date date, _ingest_time timestamp, _line_number long"  # fmt: skip
LINES = "item_id string, transaction_id string, quantity int, unit_price decimal(12,2), " \
    "discount_applied decimal(12,2), _extract_date date, _ingest_time timestamp, _line_number long"  # fmt: skip
D1, D2 = date(2024, 3, 1), date(2024, 3, 2)
T = datetime(2024, 3, 2, 1)


def _m(v: str | None) -> Decimal | None:
    return None if v is None else Decimal(v)


def test_three_rules_count_exactly(spark: SparkSession) -> None:
    orders = spark.createDataFrame(
        [
            ("OK", "completed", _m("35.00"), _m("5.00"), D1, T, 1),  # 35 - 5 = lines 2 x 10 + (15 - 5)
            ("EMPTY1", "completed", _m("0.00"), None, D1, T, 2),  # completed, no lines
            ("EMPTY2", "completed", _m("12.00"), None, D1, T, 3),  # completed, no lines
            ("PENDING", "pending", _m("9.00"), None, D1, T, 4),  # no lines, but not completed: fine
            ("OFF", "completed", _m("50.00"), _m("0.00"), D1, T, 5),  # lines say 40: off by 10
            ("CENT", "completed", _m("20.01"), None, D1, T, 6),  # lines 20.00: within 0.01 x (1 + 1)
            ("CHANGED", "pending", _m("99.00"), None, D1, T, 7),  # old version: mismatch, not completed
            ("CHANGED", "completed", _m("10.00"), None, D2, T, 1),  # latest version agrees with its line
        ],
        ORDERS,
    )
    lines = spark.createDataFrame(
        [
            ("ok1", "OK", 2, _m("10.00"), None, D1, T, 1),
            ("ok2", "OK", 1, _m("15.00"), _m("5.00"), D1, T, 2),  # net 10: lines 30 = subtotal 35 - discount 5
            ("off1", "OFF", 4, _m("10.00"), None, D1, T, 3),
            ("cent1", "CENT", 1, _m("20.00"), None, D1, T, 4),
            ("ch1", "CHANGED", 1, _m("10.00"), None, D1, T, 5),
            ("lost1", "GHOST", 1, _m("5.00"), None, D1, T, 6),  # order never delivered
            ("lost2", "GHOST", 3, _m("5.00"), None, D1, T, 7),
            ("lost3", "GHOST2", 1, _m("5.00"), None, D1, T, 8),
        ],
        LINES,
    )
    assert cross_table_counts(orders, lines) == {
        "completed_order_without_lines": (2, 6),  # EMPTY1, EMPTY2 of 6 completed (latest versions)
        "header_total_vs_lines": (1, 4),  # OFF, of OK, OFF, CENT, CHANGED
        "line_of_unknown_order": (3, 8),  # lost1-3 of 8 lines
    }
    results = {r.expectation: r for r in cross_table_results(orders, lines)}
    assert [(r.success, r.unexpected_count, r.severity.value) for r in results.values()] == [
        (False, 2, "warn"), (False, 1, "warn"), (False, 3, "warn"),
    ]  # fmt: skip


def test_agreeing_tables_pass(spark: SparkSession) -> None:
    orders = spark.createDataFrame([("A", "completed", _m("10.00"), None, D1, T, 1)], ORDERS)
    lines = spark.createDataFrame([("a1", "A", 1, _m("10.00"), None, D1, T, 1)], LINES)
    assert all(r.success and r.unexpected_count == 0 for r in cross_table_results(orders, lines))


D3 = date(2024, 3, 3)


def test_the_counts_up_to_a_date_plus_what_later_rows_changed_are_the_counts_of_all_rows(spark: SparkSession) -> None:
    from pyspark.sql import functions as F

    from c360.sanitized.crosscheck import RULES, changed_counts

    orders = spark.createDataFrame(
        [
            ("A", "completed", _m("10.00"), None, D1, T, 1),
            ("B", "completed", _m("5.00"), None, D1, T, 2),
            ("C", "pending", _m("7.00"), None, D1, T, 3),
            ("E", "completed", _m("3.00"), None, D1, T, 4),  # never gets a line
            ("Q", "pending", _m("4.00"), None, D1, T, 5),
            ("S", "completed", _m("4.00"), None, D1, T, 6),
            ("C", "completed", _m("7.00"), None, D2, T, 1),  # C completed later
            ("F", "completed", _m("4.00"), None, D2, T, 2),  # its line comes a day later
            ("H", "completed", _m("2.00"), None, D3, T, 1),  # its line came first: no longer unknown
            ("E", "pending", _m("3.00"), None, D3, T, 2),  # no longer completed
            ("Q", "completed", _m("4.00"), None, D3, T, 3),  # completed, without lines
        ],
        ORDERS,
    )
    lines = spark.createDataFrame(
        [
            ("a1", "A", 1, _m("10.00"), None, D1, T, 1),
            ("b1", "B", 1, _m("5.00"), None, D1, T, 2),
            ("m1", "C", 1, _m("7.00"), None, D1, T, 3),
            ("g1", "GHOST", 1, _m("1.00"), None, D1, T, 4),
            ("k1", "Q", 1, _m("4.00"), None, D1, T, 5),  # k1 is Q's line up to D1 ...
            ("k1", "S", 1, _m("4.00"), None, D2, T, 1),  # ... then S's: Q is left without lines
            ("m1", "B", 1, _m("7.00"), None, D2, T, 2),  # moves from C to B: B off by 7, C empty
            ("a2", "A", 1, _m("0.00"), None, D2, T, 3),
            ("h1", "H", 1, _m("2.00"), None, D2, T, 4),
            ("g1", "GHOST", 1, _m("1.00"), None, D2, T, 5),  # re-sent unchanged
            ("f1", "F", 1, _m("4.00"), None, D3, T, 1),
            ("m1", "C", 1, _m("7.00"), None, D3, T, 2),  # back to C
        ],
        LINES,
    )

    def upto(df, day):  # noqa: ANN001, ANN202
        return df.filter(F.col("_extract_date") <= F.lit(day))

    whole = {d: cross_table_counts(upto(orders, d), upto(lines, d)) for d in (D1, D2, D3)}
    assert whole[D2] == {
        "completed_order_without_lines": (3, 6),  # C (its line moved), E, F of A B C E F S
        "header_total_vs_lines": (1, 3),  # B, of A B S
        "line_of_unknown_order": (2, 7),  # g1, h1
    }
    assert whole[D3] == {
        "completed_order_without_lines": (1, 7),  # Q (k1 is S's), of A B C F H Q S
        "header_total_vs_lines": (0, 6),
        "line_of_unknown_order": (1, 8),  # g1
    }
    for since, until in ((D1, D2), (D2, D3), (D1, D3)):
        changed = changed_counts(upto(orders, until), upto(lines, until), since)
        added = {r: (whole[since][r][0] + changed[r][0], whole[since][r][1] + changed[r][1]) for r in RULES}
        assert added == whole[until], (since, until)


def _lake_with(spark: SparkSession, settings, orders: list[tuple], lines: list[tuple]):  # noqa: ANN001, ANN202
    from c360.sanitized import crosscheck
    from c360.storage import DeltaStorage

    storage = DeltaStorage(spark, settings.lake_root)
    for rows, schema, name in ((orders, ORDERS, crosscheck.ORDERS), (lines, LINES, crosscheck.LINES)):
        df = spark.createDataFrame(rows, schema)
        storage.ensure_table(name, df.schema, ["_extract_date"])
        storage.append(df, name)
    return storage


def _each_count(monkeypatch, note: Callable[[], object]) -> list[object]:  # noqa: ANN001
    """Every whole count of the cross-table checks from now on appends ``note()`` to the list returned."""
    from c360.sanitized import crosscheck

    noted: list[object] = []
    real = crosscheck.cross_table_counts
    monkeypatch.setattr(crosscheck, "cross_table_counts", lambda o, li: noted.append(note()) or real(o, li))
    return noted


def _counted(report) -> dict[str, tuple[int, int]]:  # noqa: ANN001
    return {r.expectation: (r.unexpected_count, r.element_count) for r in report.results}


def test_counts_are_recorded_in_the_quality_results(spark: SparkSession, settings) -> None:  # noqa: ANN001
    from c360.sanitized import crosscheck

    storage = _lake_with(
        spark,
        settings,
        [("A", "completed", _m("10.00"), None, D1, T, 1), ("B", "completed", _m("5.00"), None, D1, T, 2)],
        [("a1", "A", 1, _m("10.00"), None, D1, T, 1), ("x1", "GHOST", 1, _m("1.00"), None, D2, T, 1)],
    )
    # As of D1 the lake does not know the line delivered on D2 yet.
    crosscheck.record_cross_table_checks(storage, "run-1", D1)
    got = {
        (r.table_name, r.expectation, r.severity, r.unexpected_count, r.element_count, r.published)
        for r in storage.read("ops.quality.expectation_results").collect()
    }
    assert got == {
        (crosscheck.ORDERS, "completed_order_without_lines", "warn", 1, 2, False),
        (crosscheck.ORDERS, "header_total_vs_lines", "warn", 0, 1, False),
        (crosscheck.ORDERS, "line_of_unknown_order", "warn", 0, 1, False),
    }


def test_a_rerun_over_the_same_files_reuses_the_counts_and_any_change_up_to_the_date_counts_again(
    spark: SparkSession,
    settings,
    monkeypatch,  # noqa: ANN001
) -> None:
    from c360.sanitized import crosscheck

    storage = _lake_with(
        spark,
        settings,
        [("A", "completed", _m("10.00"), None, D1, T, 1), ("B", "completed", _m("5.00"), None, D1, T, 2)],
        [("a1", "A", 1, _m("10.00"), None, D1, T, 1)],
    )
    first = _counted(crosscheck.record_cross_table_checks(storage, "run-1", D1))
    assert first["completed_order_without_lines"] == (1, 2)
    counted = _each_count(monkeypatch, lambda: 1)

    # The same files up to D1, and a line delivered on D2, which D1's counts do not see: reused.
    storage.append(spark.createDataFrame([("b1", "B", 1, _m("5.00"), None, D2, T, 1)], LINES), crosscheck.LINES)
    assert _counted(crosscheck.record_cross_table_checks(storage, "run-2", D1)) == first
    assert counted == []
    # D2 holds rows after D1's record, whose files up to D1 are unchanged: only B's order is
    # counted, as it was and as it is, and B now has its line.
    later = _counted(crosscheck.record_cross_table_checks(storage, "run-3", D2))
    assert later == {
        "completed_order_without_lines": (0, 2),
        "header_total_vs_lines": (0, 2),
        "line_of_unknown_order": (0, 2),
    }
    assert counted == []
    # An earlier date than the record's (a past date sanitized again): counted whole.
    assert _counted(crosscheck.record_cross_table_checks(storage, "run-4", D1)) == first
    assert counted == [1]
    # A file added up to D1 (a re-sent extract of D1): counted again, and it counts; D2 then
    # cannot start from D1's earlier record either.
    storage.append(spark.createDataFrame([("c1", "GHOST", 1, _m("1.00"), None, D1, T, 9)], LINES), crosscheck.LINES)
    again = _counted(crosscheck.record_cross_table_checks(storage, "run-5", D1))
    assert counted == [1, 1] and again["line_of_unknown_order"] == (1, 2)
    # Other code (its digest): counted whole, also for a later date.
    monkeypatch.setattr(crosscheck, "code_digest", lambda: "other code")
    assert _counted(crosscheck.record_cross_table_checks(storage, "run-6", D2))["line_of_unknown_order"] == (1, 3)
    assert counted == [1, 1, 1]
    # Every run recorded its counts in the quality results, reused or not.
    runs = {r.run_id for r in storage.read("ops.quality.expectation_results").collect()}
    assert runs == {f"run-{i}" for i in range(1, 7)}


def test_the_counts_are_compiled_or_interpreted_by_the_rows_they_read(
    spark: SparkSession,
    settings,
    monkeypatch,  # noqa: ANN001
) -> None:
    from c360.sanitized import crosscheck
    from c360.spark import CODEGEN_FACTORY_MODE

    storage = _lake_with(
        spark,
        settings,
        [("A", "completed", _m("10.00"), None, D1, T, 1)],
        [("a1", "A", 1, _m("10.00"), None, D1, T, 1), ("a2", "A", 1, _m("0.00"), None, D2, T, 1)],
    )
    modes = _each_count(monkeypatch, lambda: spark.conf.get(CODEGEN_FACTORY_MODE))
    before = spark.conf.get(CODEGEN_FACTORY_MODE)
    # Up to D1 the tables hold 2 rows; up to D2, 3.
    crosscheck.record_cross_table_checks(storage, "run-1", D1, codegen_min_rows=3)
    (storage.path(crosscheck.ORDERS) / crosscheck.RECORD_FILE).unlink()  # D2 counted whole, not from D1's
    crosscheck.record_cross_table_checks(storage, "run-2", D2, codegen_min_rows=3)
    assert modes == ["NO_CODEGEN", "FALLBACK"]
    assert spark.conf.get(CODEGEN_FACTORY_MODE) == before
