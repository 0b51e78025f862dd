"""clv_model_fit on tiny inline star frames: sample sizes, left censoring, the degeneracy verdict."""

from __future__ import annotations

from datetime import date, datetime

import numpy as np
from marts_frames import dim_customer, fct_order, fct_sales_line
from pyspark.sql import DataFrame, SparkSession

from c360.enhanced.marts.clv_model_fit import SCHEMA, build, build_clv_model_fit

D = date(2024, 3, 31)


def _scenario(spark: SparkSession) -> tuple[DataFrame, DataFrame, DataFrame]:
    # The lake starts on 2024-01-05 (X's cancelled order counts as history). OLD registered before
    # that: left-censored, not fitted. NEW1/NEW2 registered after; NOBODY never bought.
    customers = dim_customer(
        spark,
        {"customer_id": "OLD", "registration_date": datetime(2022, 1, 1)},
        {"customer_id": "NEW1", "registration_date": datetime(2024, 1, 6)},
        {"customer_id": "NEW2", "registration_date": datetime(2024, 2, 1)},
        {"customer_id": "NOBODY", "registration_date": datetime(2024, 2, 1)},
    )
    orders = [
        ("X", "OLD", date(2024, 1, 5), "cancelled"), ("O1", "OLD", date(2024, 1, 10), "completed"),
        ("O2", "OLD", date(2024, 2, 10), "completed"), ("N1", "NEW1", date(2024, 1, 20), "completed"),
        ("N2", "NEW1", date(2024, 3, 10), "completed"), ("M1", "NEW2", date(2024, 2, 15), "completed"),
        ("LATER", "NEW2", date(2024, 4, 2), "completed"),
    ]  # fmt: skip
    o = fct_order(spark, *({"transaction_id": t, "customer_id": c, "transaction_date": d, "order_status": s,
                            "total_amount": 10} for t, c, d, s in orders))  # fmt: skip
    lines = fct_sales_line(spark, *({"item_id": t, "transaction_id": t, "customer_id": c, "transaction_date": d,
                                     "order_status": s, "line_amount": 10, "margin_amount": 4}
                                    for t, c, d, s in orders))  # fmt: skip
    return customers, o, lines


def test_fit_row_counts_buyers_censoring_and_flags_a_fit_the_data_cannot_identify(spark: SparkSession) -> None:
    row = build_clv_model_fit(spark, *_scenario(spark), D).collect()
    assert len(row) == 1
    got = row[0].asDict()
    assert list(got) == SCHEMA.fieldNames()
    assert (got["as_of_date"], got["history_start"]) == (D, date(2024, 1, 5))
    assert (got["buyers"], got["left_censored_buyers"], got["fitted_customers"], got["repeat_customers"]) == (
        3,
        1,
        2,
        1,
    )
    # Two customers cannot identify four parameters: flagged, with the reason, and never silent.
    assert got["degenerate"] is True and got["degenerate_reason"]
    assert got["gg_p"] is None and got["gg_customers"] == 2  # fewer than 10 repeat buyers: no Gamma-Gamma
    # 86 days of history: a 28-day holdout (a third, from 2024-03-04); NEW1 and NEW2 had bought before
    # it, and NEW1's second purchase (2024-03-10) falls in it.
    assert (got["holdout_days"], got["holdout_customers"], got["holdout_actual_purchases"]) == (28, 2, 1.0)
    assert got["holdout_predicted_purchases"] >= 0


def test_the_fits_of_several_dates_from_one_read_equal_each_date_fitted_alone(spark: SparkSession) -> None:
    # Before the lake's first order, before anyone bought, between purchases, D, and after LATER.
    dates = [date(2024, 1, 1), date(2024, 1, 6), date(2024, 2, 12), D, date(2024, 4, 30)]
    frames = _scenario(spark)
    together = [r.asDict() for r in build(spark, *frames, profile_dates=dates).orderBy("as_of_date").collect()]
    alone = [build_clv_model_fit(spark, *frames, d).collect()[0].asDict() for d in dates]
    assert together == alone
    assert [r["buyers"] for r in together] == [0, 0, 2, 3, 3]


def test_a_date_without_buyers_has_a_row_that_says_so(spark: SparkSession) -> None:
    customers = dim_customer(spark, {"customer_id": "NOBODY"})
    got = build_clv_model_fit(spark, customers, fct_order(spark), fct_sales_line(spark), D).collect()[0].asDict()
    assert (got["buyers"], got["fitted_customers"], got["bg_r"], got["history_start"]) == (0, 0, None, None)
    assert (got["degenerate"], got["degenerate_reason"], got["holdout_days"]) == (True, "no buyers", None)


def test_the_gate_warns_on_a_degenerate_fit_and_still_publishes(spark: SparkSession, settings) -> None:  # noqa: ANN001
    from c360.enhanced.marts.clv_model_fit import SUITE
    from c360.quality.gate import validate
    from c360.storage import DeltaStorage

    customers = dim_customer(spark, {"customer_id": "ONE"})
    o = fct_order(spark, {"transaction_id": "T1", "customer_id": "ONE", "transaction_date": date(2024, 3, 1),
                          "total_amount": 10})  # fmt: skip
    line = {"item_id": "t1", "transaction_id": "T1", "customer_id": "ONE", "transaction_date": date(2024, 3, 1),
            "line_amount": 10, "margin_amount": 4}  # fmt: skip
    lines = fct_sales_line(spark, line)
    fit = build_clv_model_fit(spark, customers, o, lines, D)
    report = validate(DeltaStorage(spark, settings.lake_root), fit, SUITE, run_id="r", run_date=D)
    (identified,) = [r for r in report.results if r.expectation == "fit_identified"]
    assert (identified.success, identified.severity.value, identified.unexpected_count) == (False, "warn", 1)
    assert report.passed and report.status == "warn"


def test_each_purchase_day_is_paired_with_every_dimension_row_of_its_customer(spark: SparkSession) -> None:
    from c360.enhanced.marts.clv_model_fit import _NEVER, _UNKNOWN, purchase_history

    # MOVED has two rows (moved on 2024-02-01) and an unknown registration on the second; GHOST
    # bought without a dimension row; the cancelled order and the one after `last` are no purchases.
    # "alpha" sorts after the capitals, as bytes do (and Spark's orderBy did before the driver sorted).
    customers = dim_customer(
        spark,
        {"customer_id": "MOVED", "valid_from": datetime(2023, 1, 1), "valid_to": datetime(2024, 2, 1),
         "registration_date": datetime(2022, 5, 5)},
        {"customer_id": "MOVED", "valid_from": datetime(2024, 2, 1), "registration_date": None},
        {"customer_id": "STAY", "registration_date": datetime(2024, 1, 2)},
        {"customer_id": "alpha", "registration_date": datetime(2024, 1, 2)},
    )  # fmt: skip
    orders = [
        ("A", "MOVED", date(2024, 1, 10), "completed", 4), ("B", "MOVED", date(2024, 1, 10), "completed", 1),
        ("C", "STAY", date(2024, 3, 1), "completed", 2), ("D", "GHOST", date(2024, 1, 3), "completed", 9),
        ("E", "STAY", date(2024, 1, 4), "cancelled", 7), ("F", "MOVED", date(2024, 4, 2), "completed", 5),
        ("G", "alpha", date(2024, 1, 5), "completed", 3),
    ]  # fmt: skip
    o = fct_order(spark, *({"transaction_id": t, "customer_id": c, "transaction_date": d, "order_status": s,
                            "total_amount": 10} for t, c, d, s, _ in orders))  # fmt: skip
    lines = fct_sales_line(spark, *({"item_id": t, "transaction_id": t, "customer_id": c, "transaction_date": d,
                                     "order_status": s, "line_amount": 10, "margin_amount": m}
                                    for t, c, d, s, m in orders))  # fmt: skip
    got = purchase_history(customers, o, lines, D)
    assert got.first_order == date(2024, 1, 3)
    ordinal = date.toordinal
    assert got.customer.tolist() == ["MOVED", "MOVED", "STAY", "alpha"]  # MOVED's one purchase day, once per row
    assert got.day.tolist() == [ordinal(date(2024, 1, 10))] * 2 + [ordinal(date(2024, 3, 1)), ordinal(date(2024, 1, 5))]
    assert got.margin.tolist() == [5.0, 5.0, 2.0, 3.0]  # the day's two orders summed
    first_row = ordinal(date(2023, 1, 1))
    assert got.valid_from.tolist() == [first_row, ordinal(date(2024, 2, 1)), first_row, first_row]
    assert got.valid_to.tolist() == [ordinal(date(2024, 2, 1)), _NEVER, _NEVER, _NEVER]
    assert got.registered.tolist() == [ordinal(date(2022, 5, 5)), _UNKNOWN, *[ordinal(date(2024, 1, 2))] * 2]
    assert got.customer.dtype == object and got.day.dtype == got.valid_to.dtype == np.int64

    empty = purchase_history(customers.limit(0), o, lines, D)
    assert (len(empty.customer), empty.margin.dtype, empty.registered.dtype) == (0, np.float64, np.int64)


def test_a_backfills_fits_in_worker_processes_equal_the_fits_in_this_one() -> None:
    """fit_dates forks workers from PARALLEL_FIT_MIN_DATES dates on: every date's row must be
    the one this process computes, digit for digit, and come back in date order."""
    from datetime import timedelta

    from c360.enhanced.marts import clv_holdout
    from c360.enhanced.marts.clv_model import BgNbdParams
    from c360.enhanced.marts.clv_model_fit import _NEVER, PARALLEL_FIT_MIN_DATES, PurchaseHistory, fit_dates

    truth = BgNbdParams(r=0.5, alpha=20.0, a=0.8, b=2.5)
    who, day = clv_holdout.simulate_purchase_days(3000, truth, 200, 150, seed=4)
    order = np.lexsort((day, who))
    who, day = who[order], day[order]
    start, n = date(2024, 1, 1).toordinal(), len(day)
    rng = np.random.default_rng(9)
    history = PurchaseHistory(
        date(2024, 1, 1),
        np.array([f"C{c:05d}" for c in who], dtype=object),
        day.astype(np.int64) + start,
        rng.gamma(2.0, 15.0, n),
        np.full(n, start, np.int64),
        np.full(n, _NEVER, np.int64),
        np.where(rng.random(n) < 0.2, start - 5, start + day.astype(np.int64)),  # a fifth left-censored
    )
    dates = [date(2024, 7, 18) - timedelta(days=20 * k) for k in range(PARALLEL_FIT_MIN_DATES + 1)]
    forked = fit_dates(history, dates, workers=2)
    assert [row[0] for row in forked] == sorted(dates)
    assert repr(forked) == repr(fit_dates(history, dates, workers=1))
    assert all(row[2] > 0 for row in forked)  # every date has buyers: real fits, not empty rows
