"""clv_model_fit on tiny inline star frames: sample sizes, left censoring, the degeneracy verdict."""

from __future__ import annotations

from datetime import date, datetime

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
