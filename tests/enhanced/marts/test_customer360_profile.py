"""customer360_profile on tiny inline star frames: every rule of the module docstring.

One scenario (as of 2024-03-31) is built once per module and read by several tests; the
quintile and segment rules are also tested on their own, where the edges are cheap to list.
"""

from __future__ import annotations

from datetime import date, datetime
from decimal import Decimal

import pytest
from chispa import assert_df_equality
from marts_frames import dim_customer, fct_app_session, fct_order, fct_sales_line, fct_support_ticket
from pyspark.sql import DataFrame, SparkSession
from pyspark.sql import functions as F

from c360.enhanced.marts import clv_model
from c360.enhanced.marts.customer360_profile import TABLE as CUSTOMER360_PROFILE
from c360.enhanced.marts.customer360_profile import (
    as_of_dates,
    build_customer360_profile,
    build_profiles,
    purchase_summary,
    quintile_score,
    rfm_segment,
    with_churn_risk,
    with_clv_prediction,
)

D = date(2024, 3, 31)
AFTER = date(2024, 4, 5)


def _customers(spark: SparkSession, later: bool) -> DataFrame:
    b_row = {"customer_key": 20, "customer_id": "B", "loyalty_tier": "Bronze"}
    rows = [
        {"customer_key": -1, "customer_id": "UNKNOWN", "customer_segment": None},
        # A moved Basic -> Premium on 2024-02-01: the profile shows the row valid at D.
        {"customer_key": 10, "customer_id": "A", "customer_segment": "Basic", "valid_to": datetime(2024, 2, 1)},
        {"customer_key": 11, "customer_id": "A", "customer_segment": "Premium", "valid_from": datetime(2024, 2, 1)},
        {**b_row, "valid_to": datetime(2024, 4, 10)} if later else b_row,
        {"customer_key": 30, "customer_id": "C"},
        {"customer_key": 40, "customer_id": "L", "loyalty_tier": "Gold"},
        *({"customer_key": k, "customer_id": c} for k, c in ((50, "E"), (60, "S"), (70, "N"), (80, "H"))),
    ]
    if later:  # a change after D
        rows.append(
            {"customer_key": 21, "customer_id": "B", "loyalty_tier": "Gold", "valid_from": datetime(2024, 4, 10)}
        )
    return dim_customer(spark, *rows)


def _orders(spark: SparkSession, later: bool) -> DataFrame:
    rows = [
        {"transaction_id": "A1", "customer_id": "A", "transaction_date": date(2024, 1, 1), "total_amount": 100},
        {"transaction_id": "A2", "customer_id": "A", "transaction_date": date(2024, 2, 1), "total_amount": 50,
         "channel": "store"},
        {"transaction_id": "A3", "customer_id": "A", "transaction_date": date(2024, 3, 1), "total_amount": 30,
         "channel": "mobile"},
        {"transaction_id": "A4", "customer_id": "A", "transaction_date": date(2024, 3, 10), "total_amount": 200,
         "order_status": "returned"},
        {"transaction_id": "A5", "customer_id": "A", "transaction_date": date(2024, 3, 20), "total_amount": 500,
         "order_status": "cancelled"},
        {"transaction_id": "B1", "customer_id": "B", "transaction_date": date(2024, 3, 25), "total_amount": 20},
        {"transaction_id": "L1", "customer_id": "L", "transaction_date": date(2023, 10, 1), "total_amount": 100},
        {"transaction_id": "L2", "customer_id": "L", "transaction_date": date(2023, 11, 1), "total_amount": 100},
        {"transaction_id": "L3", "customer_id": "L", "transaction_date": date(2023, 12, 1), "total_amount": 100},
    ]  # fmt: skip
    if later:
        rows.append({"transaction_id": "A6", "customer_id": "A", "transaction_date": AFTER, "total_amount": 999})
    return fct_order(spark, *rows)


def _lines(spark: SparkSession, later: bool) -> DataFrame:
    def line(item: str, txn: str, cid: str, d: date, amount: float, margin: float | None, **kw: object) -> dict:
        return {"item_id": item, "transaction_id": txn, "customer_id": cid, "transaction_date": d,
                "line_amount": amount, "margin_amount": margin, **kw}  # fmt: skip

    rows = [
        line("a1", "A1", "A", date(2024, 1, 1), 100, 40),
        line("a2", "A2", "A", date(2024, 2, 1), 50, 20, product_key=9),  # a discontinued product: still a sale
        line("a3", "A3", "A", date(2024, 3, 1), 20, 10),
        line("a3b", "A3", "A", date(2024, 3, 1), 10, None),  # cost unknown: adds no margin
        line("a4", "A4", "A", date(2024, 3, 10), 200, 100, order_status="returned"),
        line("a5", "A5", "A", date(2024, 3, 20), 500, 100, order_status="cancelled"),
        line("b1", "B1", "B", date(2024, 3, 25), 20, 8),
        line("l1", "L1", "L", date(2023, 10, 1), 100, 50),
        line("l2", "L2", "L", date(2023, 11, 1), 100, 60),
        line("l3", "L3", "L", date(2023, 12, 1), 100, 70),
    ]
    if later:
        rows.append(line("a6", "A6", "A", AFTER, 999, 500))
    return fct_sales_line(spark, *rows)


def _tickets(spark: SparkSession, later: bool) -> DataFrame:
    rows = [
        {"ticket_id": "TA", "customer_id": "A", "created_date": date(2024, 3, 14), "resolved_date": date(2024, 3, 15),
         "satisfaction_score": 2},
        {"ticket_id": "TL", "customer_id": "L", "created_date": date(2024, 3, 20)},  # open, unanswered
        {"ticket_id": "TE", "customer_id": "E", "created_date": date(2024, 1, 5), "resolved_date": date(2024, 1, 6)},
        {"ticket_id": "TS1", "customer_id": "S", "created_date": date(2024, 1, 5), "resolved_date": date(2024, 1, 6),
         "satisfaction_score": 5},
        {"ticket_id": "TS2", "customer_id": "S", "created_date": date(2024, 2, 5), "resolved_date": date(2024, 2, 6),
         "status": "closed", "satisfaction_score": 4},
        {"ticket_id": "TN", "customer_id": "N", "created_date": date(2024, 2, 5), "resolved_date": date(2024, 2, 6),
         "satisfaction_score": 3},
    ]  # fmt: skip
    # H's ticket is open at D; the version delivered later is resolved (after D) with a bad score.
    h = {"ticket_id": "TH", "customer_id": "H", "created_date": date(2024, 3, 30)}
    rows.append({**h, "resolved_date": AFTER, "satisfaction_score": 1} if later else h)
    if later:
        rows.append({"ticket_id": "TX", "customer_id": "C", "created_date": AFTER})
    return fct_support_ticket(spark, *rows)


def _sessions(spark: SparkSession, later: bool) -> DataFrame:
    rows = []
    for cid in ("A", "N"):  # one session in the last 30 days, four in days 31-90: raw 1.2, a tie
        days = [date(2024, 3, 20), date(2024, 2, 1), date(2024, 2, 10), date(2024, 2, 20), date(2024, 1, 15)]
        rows += [{"usage_id": f"{cid}{i}", "customer_id": cid, "session_date": d} for i, d in enumerate(days)]
    rows += [{"usage_id": f"S{i}", "customer_id": "S", "session_date": date(2024, 3, 10 + i), "actions_taken": 10}
             for i in range(3)]  # fmt: skip
    rows.append({"usage_id": "E0", "customer_id": "E", "session_date": date(2023, 11, 1)})  # older than 90 days
    if later:
        rows.append({"usage_id": "B9", "customer_id": "B", "session_date": AFTER, "actions_taken": 50})
    return fct_app_session(spark, *rows)


def _build(spark: SparkSession, later: bool, as_of: date = D) -> DataFrame:
    frames = (_customers, _orders, _lines, _tickets, _sessions)
    return build_customer360_profile(*(f(spark, later) for f in frames), as_of=as_of)


@pytest.fixture(scope="module")
def profile(spark: SparkSession) -> DataFrame:
    """The scenario with events after D delivered too (they must not show)."""
    return _build(spark, later=True).cache()


def _pick(df: DataFrame, *cols: str) -> DataFrame:
    return df.select(*cols).orderBy("customer_id")


def test_contract_is_the_spec(profile: DataFrame) -> None:
    assert [(f.name, f.dataType) for f in profile.schema] == [(f.name, f.dataType) for f in CUSTOMER360_PROFILE.schema]
    assert CUSTOMER360_PROFILE.partition_by == ("as_of_date",)
    assert "email_token" in CUSTOMER360_PROFILE.pii_columns


def test_one_row_per_customer_valid_at_as_of(spark: SparkSession, profile: DataFrame) -> None:
    expected = spark.createDataFrame(
        [(D, "A", 11, "Premium", None), (D, "B", 20, "Standard", "Bronze"), (D, "C", 30, "Standard", None),
         (D, "E", 50, "Standard", None), (D, "H", 80, "Standard", None), (D, "L", 40, "Standard", "Gold"),
         (D, "N", 70, "Standard", None), (D, "S", 60, "Standard", None)],
        "as_of_date date, customer_id string, customer_key bigint, customer_segment string, loyalty_tier string",
    )  # fmt: skip
    got = _pick(profile, "as_of_date", "customer_id", "customer_key", "customer_segment", "loyalty_tier")
    assert_df_equality(got, expected, ignore_nullable=True)


def test_purchases_count_completed_orders_up_to_as_of_only(spark: SparkSession, profile: DataFrame) -> None:
    # A: returned, cancelled and after-D orders excluded; the discontinued product's line counts in the margin.
    expected = spark.createDataFrame(
        [("A", 3, Decimal("180.00"), Decimal("60.00"), date(2024, 1, 1), date(2024, 3, 1), 30, Decimal("70.00")),
         ("B", 1, Decimal("20.00"), Decimal("20.00"), date(2024, 3, 25), date(2024, 3, 25), 6, Decimal("8.00")),
         ("C", 0, Decimal("0.00"), None, None, None, None, Decimal("0.00")),
         ("L", 3, Decimal("300.00"), Decimal("100.00"), date(2023, 10, 1), date(2023, 12, 1), 121,
          Decimal("180.00"))],
        "customer_id string, orders_count int, total_spent decimal(14,2), avg_order_value decimal(14,2), "
        "first_purchase_date date, last_purchase_date date, recency_days int, historical_clv decimal(14,2)",
    )  # fmt: skip
    got = _pick(
        profile.filter(F.col("customer_id").isin("A", "B", "C", "L")),
        "customer_id", "orders_count", "total_spent", "avg_order_value", "first_purchase_date",
        "last_purchase_date", "recency_days", "historical_clv",
    )  # fmt: skip
    assert_df_equality(got, expected, ignore_nullable=True)


def test_purchase_summary_counts_orders_and_days_apart(spark: SparkSession) -> None:
    # Two orders on one day (one with two lines, one margin unknown), one the next day whose only
    # margin is unknown, one pending; at each as-of date only the days up to it count.
    day1, day2 = date(2024, 3, 1), date(2024, 3, 2)
    orders = fct_order(
        spark,
        {"transaction_id": "X1", "customer_id": "X", "transaction_date": day1, "total_amount": 30, "line_count": 2},
        {"transaction_id": "X2", "customer_id": "X", "transaction_date": day1, "total_amount": 5, "channel": "store"},
        {"transaction_id": "X3", "customer_id": "X", "transaction_date": day2, "total_amount": 7},
        {"transaction_id": "X4", "customer_id": "X", "transaction_date": day2, "total_amount": 9,
         "order_status": "pending"},
    )  # fmt: skip
    lines = fct_sales_line(
        spark,
        *({"item_id": i, "transaction_id": t, "customer_id": "X", "transaction_date": d, "line_amount": a,
           "margin_amount": m}
          for i, t, d, a, m in (("x1a", "X1", day1, 20, 8), ("x1b", "X1", day1, 10, None), ("x2", "X2", day1, 5, 1),
                                ("x3", "X3", day2, 7, None), ("x4", "X4", day2, 9, 3))),
    )  # fmt: skip
    got = purchase_summary(orders, lines, as_of_dates(spark, [day1, day2])).select(
        "as_of_date", "orders_count", "_purchase_days", "first_purchase_date", "last_purchase_date",
        "_orders_online", "_orders_store", "total_spent", F.col("_margin").cast("decimal(14,2)").alias("margin"),
    )  # fmt: skip
    expected = spark.createDataFrame(
        [(day1, 2, 1, day1, day1, 1, 1, Decimal("35.00"), Decimal("9.00")),
         (day2, 3, 2, day1, day2, 2, 1, Decimal("42.00"), Decimal("9.00"))],
        "as_of_date date, orders_count int, _purchase_days int, first_purchase_date date, last_purchase_date date, "
        "_orders_online bigint, _orders_store bigint, total_spent decimal(14,2), margin decimal(14,2)",
    )  # fmt: skip
    assert_df_equality(got.orderBy("as_of_date"), expected, ignore_nullable=True)


def test_rfm_scores_and_segments_of_the_scenario(spark: SparkSession, profile: DataFrame) -> None:
    # Purchasers A, B, L. R: L (121 d) 1, A (30 d) 3, B (6 d) 5. F: B 1, A and L tie at 4.
    # M: B 1, A 3, L 5. Non-buyers 0 and "No Purchases".
    expected = spark.createDataFrame(
        [("A", 3, 4, 3, "343", "Loyal"), ("B", 5, 1, 1, "511", "New"), ("C", 0, 0, 0, "000", "No Purchases"),
         ("L", 1, 4, 5, "145", "Can't Lose")],
        "customer_id string, recency_score int, frequency_score int, monetary_score int, rfm_cell string, "
        "rfm_segment string",
    )  # fmt: skip
    got = _pick(
        profile.filter(F.col("customer_id").isin("A", "B", "C", "L")),
        "customer_id", "recency_score", "frequency_score", "monetary_score", "rfm_cell", "rfm_segment",
    )  # fmt: skip
    assert_df_equality(got, expected, ignore_nullable=True)


def test_support_satisfaction_keeps_no_tickets_no_score_and_unhappy_apart(
    spark: SparkSession, profile: DataFrame
) -> None:
    # H's ticket is resolved with score 1 only after D: at D it is open and unanswered, not unhappy.
    expected = spark.createDataFrame(
        [("A", 1, 0, 2.0, "unhappy"), ("B", 0, 0, None, "no_tickets"), ("C", 0, 0, None, "no_tickets"),
         ("E", 1, 0, None, "no_score"), ("H", 1, 1, None, "no_score"), ("L", 1, 1, None, "no_score"),
         ("N", 1, 0, 3.0, "neutral"), ("S", 2, 0, 4.5, "satisfied")],
        "customer_id string, tickets_count int, open_tickets_count int, avg_satisfaction_score double, "
        "support_satisfaction string",
    )  # fmt: skip
    got = _pick(profile, "customer_id", "tickets_count", "open_tickets_count", "avg_satisfaction_score",
                "support_satisfaction")  # fmt: skip
    assert_df_equality(got, expected, ignore_nullable=True)


def test_churn_score_components_and_labels(spark: SparkSession, profile: DataFrame) -> None:
    # Buyers: 0.6 x (1 - p_alive) + 0.2 x support + 0.2 x engagement.
    # A: unhappy ticket (0.2 x 1) + sessions halved (0.2 x 0.5). B: one purchase (p_alive 1), nothing else: 0.
    # L: open ticket (0.2 x 0.5). Non-buyers are never_purchased whatever their score:
    # C: registered 455 d ago vs the buyers' median gap 30.25 d (0.6). H: + open ticket (0.1); E: no_score
    # adds nothing. N: 0.6 + neutral score in 90 d (0.2 x 0.25) + sessions halved (0.1); S: only recency.
    p = {r["customer_id"]: r["p_alive"] for r in profile.collect()}
    buyer = {"A": 0.3, "B": 0.0, "L": 0.1}
    rows = [(c, round(0.6 * (1 - p[c]) + rest, 4)) for c, rest in buyer.items()]
    rows += [("C", 0.6), ("E", 0.6), ("H", 0.7), ("N", 0.75), ("S", 0.6)]
    label = {"A": "medium", "B": "low", "L": "high"}  # L: silent for 4 months, p_alive 0.15
    expected = spark.createDataFrame(
        [(c, s, label.get(c, "never_purchased")) for c, s in rows],
        "customer_id string, churn_risk_score double, churn_risk_label string",
    )
    assert 0 < p["L"] < p["A"] < p["B"] == 1.0
    assert_df_equality(_pick(profile, "customer_id", "churn_risk_score", "churn_risk_label"), expected,
                       ignore_nullable=True, ignore_row_order=True)  # fmt: skip
    assert profile.filter((F.col("churn_risk_score") < 0) | (F.col("churn_risk_score") > 1)).count() == 0


def test_churn_is_never_high_for_a_buyer_the_model_thinks_alive(spark: SparkSession) -> None:
    # The worst support and engagement cannot outweigh p_alive >= 0.9: 0.6 x 0.1 + 0.2 + 0.2 = 0.46.
    rows = [("W", 1, 0.9, True, 1, 3, 0), ("X", 1, 0.89, True, 1, 3, 0), ("Y", 1, 0.1, False, 0, 0, 0),
            ("Z", 0, None, True, 1, 3, 0)]  # fmt: skip
    df = spark.createDataFrame(
        rows, "customer_id string, orders_count int, p_alive double, _unhappy_90d boolean, open_tickets_count int, "
        "sessions_90d int, sessions_30d int",
    ).select(
        "*", F.lit(None).cast("int").alias("_purchase_days"), F.lit(None).cast("date").alias("first_purchase_date"),
        F.lit(None).cast("date").alias("last_purchase_date"), F.lit(0).alias("_tickets_45d"),
        F.lit(None).cast("boolean").alias("_neutral_90d"), F.lit(datetime(2023, 1, 1)).alias("registration_date"),
        F.lit(D).alias("as_of_date"),
    )  # fmt: skip
    got = {r["customer_id"]: r for r in with_churn_risk(df).collect()}
    assert (got["W"]["churn_risk_score"], got["W"]["churn_risk_label"]) == (0.46, "medium")
    assert (got["X"]["churn_risk_score"], got["X"]["churn_risk_label"]) == (0.466, "medium")
    assert (got["Y"]["churn_risk_score"], got["Y"]["churn_risk_label"]) == (0.54, "medium")
    assert got["Z"]["churn_risk_label"] == "never_purchased"


def test_an_order_without_lines_is_no_purchase_and_spend_and_margin_share_their_lines(spark: SparkSession) -> None:
    customers = dim_customer(spark, {"customer_id": "P"}, {"customer_id": "Q"})
    orders = fct_order(
        spark,
        {"transaction_id": "P1", "customer_id": "P", "transaction_date": date(2024, 3, 1), "total_amount": 0,
         "line_count": 0},
        # the header says 130; its lines say 120: the lines are the basis of spend and margin
        {"transaction_id": "Q1", "customer_id": "Q", "transaction_date": date(2024, 3, 2), "total_amount": 130,
         "line_count": 2},
    )  # fmt: skip
    lines = fct_sales_line(
        spark,
        {"item_id": "q1", "transaction_id": "Q1", "customer_id": "Q", "transaction_date": date(2024, 3, 2),
         "line_amount": 100, "margin_amount": 30},
        {"item_id": "q2", "transaction_id": "Q1", "customer_id": "Q", "transaction_date": date(2024, 3, 2),
         "line_amount": 20, "margin_amount": 5},
    )  # fmt: skip
    empty_tickets, empty_sessions = fct_support_ticket(spark), fct_app_session(spark)
    got = build_customer360_profile(customers, orders, lines, empty_tickets, empty_sessions, as_of=D)
    expected = spark.createDataFrame(
        [("P", 0, Decimal("0.00"), Decimal("0.00"), "never_purchased", None),
         ("Q", 1, Decimal("120.00"), Decimal("35.00"), "low", "degenerate_fit")],
        "customer_id string, orders_count int, total_spent decimal(14,2), historical_clv decimal(14,2), "
        "churn_risk_label string, clv_confidence string",
    )  # fmt: skip
    cols = ("customer_id", "orders_count", "total_spent", "historical_clv", "churn_risk_label", "clv_confidence")
    assert_df_equality(_pick(got, *cols), expected, ignore_nullable=True)


def test_clv_confidence_marks_left_censored_histories_and_degenerate_fits(spark: SparkSession) -> None:
    df = spark.createDataFrame(
        [("OLD", 2, date(2024, 1, 1), date(2024, 3, 1), Decimal(60), datetime(2022, 5, 1)),
         ("NEW", 2, date(2024, 1, 1), date(2024, 3, 1), Decimal(60), datetime(2023, 12, 1)),
         ("NONE", 0, None, None, Decimal(0), datetime(2023, 12, 1))],
        "customer_id string, _purchase_days int, first_purchase_date date, last_purchase_date date, "
        "historical_clv decimal(14,2), registration_date timestamp",
    ).withColumn("as_of_date", F.lit(D))  # fmt: skip
    fit = {"bg_r": 0.5, "bg_alpha": 20.0, "bg_a": 0.8, "bg_b": 2.5, "gg_p": None, "history_start": date(2023, 6, 1)}
    for degenerate, expected in ((False, ("left_censored", "ok")), (True, ("degenerate_fit", "degenerate_fit"))):
        got = {
            r["customer_id"]: r["clv_confidence"]
            for r in with_clv_prediction(df, {D: fit | {"degenerate": degenerate}}).collect()
        }
        assert (got["OLD"], got["NEW"], got["NONE"]) == (*expected, None)


def test_engagement_is_normalised_across_active_customers(spark: SparkSession, profile: DataFrame) -> None:
    # Raw: A and N 0.7 x 1 + 0.3 x 5 / 3 = 1.2 (a tie), S 0.7 x 6 + 0.3 x 6 / 3 = 4.8; E's session is too old.
    expected = spark.createDataFrame(
        [("A", 66.7, 1, 5), ("B", 0.0, 0, 0), ("C", 0.0, 0, 0), ("E", 0.0, 0, 0), ("H", 0.0, 0, 0),
         ("L", 0.0, 0, 0), ("N", 66.7, 1, 5), ("S", 100.0, 3, 3)],
        "customer_id string, engagement_score double, sessions_30d int, sessions_90d int",
    )  # fmt: skip
    got = _pick(profile, "customer_id", "engagement_score", "sessions_30d", "sessions_90d")
    assert_df_equality(got, expected, ignore_nullable=True)


def test_channel_mix_and_opportunity_flags(spark: SparkSession, profile: DataFrame) -> None:
    # L: Can't Lose with high churn and margin -> win back; Gold/M=5 with an open ticket -> VIP care.
    # A: Loyal with M=3 -> upsell; Premium but not Gold/M=5, unhappy -> no VIP care.
    expected = spark.createDataFrame(
        [("A", 0.3333, 0.3333, 0.3333, True, False, False), ("B", 1.0, 0.0, 0.0, False, False, False),
         ("C", None, None, None, False, False, False), ("L", 1.0, 0.0, 0.0, False, True, True)],
        "customer_id string, channel_share_online double, channel_share_store double, "
        "channel_share_mobile double, flag_upsell boolean, flag_win_back boolean, flag_vip_care boolean",
    )  # fmt: skip
    got = _pick(
        profile.filter(F.col("customer_id").isin("A", "B", "C", "L")),
        "customer_id", "channel_share_online", "channel_share_store", "channel_share_mobile",
        "flag_upsell", "flag_win_back", "flag_vip_care",
    )  # fmt: skip
    assert_df_equality(got, expected, ignore_nullable=True)


def test_predicted_clv_is_the_bg_nbd_closed_form_and_never_negative(profile: DataFrame) -> None:
    rows = {r["customer_id"]: r for r in profile.collect()}
    # Buyers' (x, t_x, T) in days, in the order the mart sorts them: B, A, L.
    fit = clv_model.fit_bg_nbd([0, 2, 2], [0, 60, 61], [6, 90, 182], [1, 1, 1])
    expected = clv_model.bg_nbd_expected_purchases(fit, 365, [0, 2, 2], [0, 60, 61], [6, 90, 182])
    alive = clv_model.bg_nbd_p_alive(fit, [0, 2, 2], [0, 60, 61], [6, 90, 182])
    mean_margin = {"B": 8.0, "A": 70 / 3, "L": 60.0}  # fewer than 10 repeat buyers: own mean margin
    for cid, e, p in zip("BAL", expected, alive, strict=True):
        assert rows[cid]["predicted_purchases_12m"] == pytest.approx(e, abs=1e-4)
        assert rows[cid]["p_alive"] == pytest.approx(p, abs=1e-4)
        clv = float(rows[cid]["predicted_clv_12m"])
        assert clv >= 0 and clv == pytest.approx(rows[cid]["predicted_purchases_12m"] * mean_margin[cid], abs=0.01)
    assert rows["L"]["p_alive"] < rows["A"]["p_alive"]  # same frequency, L silent for 4 months
    for cid in "CEHNS":
        assert (rows[cid]["p_alive"], rows[cid]["predicted_purchases_12m"], rows[cid]["predicted_clv_12m"]) == (
            None, 0.0, Decimal("0.00"),
        )  # fmt: skip


def test_same_inputs_give_identical_rows_and_later_events_change_nothing(
    spark: SparkSession, profile: DataFrame
) -> None:
    only_up_to_d = _build(spark, later=False)
    again = _build(spark, later=True)
    assert_df_equality(only_up_to_d, profile, ignore_row_order=True)
    assert_df_equality(again, profile, ignore_row_order=True)


def test_dates_built_in_one_pass_equal_each_date_built_alone(spark: SparkSession, profile: DataFrame) -> None:
    # The day A's segment changes, D, and the day B's tier changes (after A's and C's later events).
    dates = [date(2024, 2, 1), D, date(2024, 4, 10)]
    frames = [f(spark, True) for f in (_customers, _orders, _lines, _tickets, _sessions)]
    together = build_profiles(*frames, dates).cache()
    assert sorted(r[0] for r in together.select("as_of_date").distinct().collect()) == dates
    for d in dates:
        alone = profile if d == D else build_customer360_profile(*frames, as_of=d)
        assert_df_equality(together.filter(F.col("as_of_date") == d), alone, ignore_row_order=True)


@pytest.mark.parametrize(
    ("values", "expected"),
    [
        ([1, 2, 3, 4, 5], [1, 2, 3, 4, 5]),
        ([1, 2, 3, 4, 5, 6, 7, 8, 9, 10], [1, 1, 2, 2, 3, 3, 4, 4, 5, 5]),
        ([1, 1, 1, 1, 5], [3, 3, 3, 3, 5]),  # ties share the score of their mid-rank
        ([7, 7, 7], [3, 3, 3]),  # all equal: neutral
        ([42], [3]),  # a single purchaser
        ([1, 2], [2, 4]),  # fewer than five spread symmetrically
        ([None, 1, 2, 3], [0, 1, 3, 5]),  # no purchases: 0, and not part of the population
    ],
)
def test_quintile_scores(spark: SparkSession, values: list[int | None], expected: list[int]) -> None:
    df = spark.createDataFrame(list(enumerate(values)), "id int, v int")
    got = df.select("id", quintile_score("v").alias("score")).orderBy("id")
    want = spark.createDataFrame(list(enumerate(expected)), "id int, score int")
    assert_df_equality(got, want, ignore_nullable=True)


def test_recency_quintiles_reward_the_most_recent(spark: SparkSession) -> None:
    df = spark.createDataFrame([(1, 3), (2, 200), (3, 30), (4, 30)], "id int, recency_days int")
    got = df.select("id", quintile_score("recency_days", higher_is_better=False).alias("score")).orderBy("id")
    # Order worst first: 200 (mid-rank 1 -> 1), 30 x 2 (mid-rank 2.5 -> 3), 3 (mid-rank 4 -> 5).
    want = spark.createDataFrame([(1, 5), (2, 1), (3, 3), (4, 3)], "id int, score int")
    assert_df_equality(got, want, ignore_nullable=True)


def test_rfm_segment_rules(spark: SparkSession) -> None:
    cases = [
        (0, 0, 0, 0, "No Purchases"),
        (5, 5, 5, 9, "Champions"),
        (4, 4, 4, 6, "Champions"),
        (5, 5, 3, 9, "Loyal"),  # recent and frequent, not top spend
        (3, 4, 5, 6, "Loyal"),
        (5, 1, 2, 1, "New"),
        (4, 2, 2, 2, "Potential Loyalist"),
        (5, 3, 5, 3, "Potential Loyalist"),
        (3, 2, 1, 2, "Need Attention"),
        (2, 4, 4, 6, "Can't Lose"),
        (1, 5, 5, 9, "Can't Lose"),
        (2, 4, 3, 6, "At Risk"),
        (1, 3, 1, 3, "At Risk"),
        (2, 2, 5, 2, "Hibernating"),
        (1, 2, 5, 2, "Lost"),
        (1, 1, 1, 1, "Lost"),
    ]
    df = spark.createDataFrame(cases, "r int, f int, m int, orders int, expected string")
    segment = rfm_segment(F.col("r"), F.col("f"), F.col("m"), F.col("orders"))
    got = df.select("r", "f", "m", "orders", segment.alias("segment"))
    assert_df_equality(got, df.withColumnRenamed("expected", "segment"), ignore_nullable=True)


def test_gamma_gamma_is_used_with_enough_repeat_buyers(spark: SparkSession) -> None:
    # 12 buyers with 4 purchase days each, same rhythm, margins 10..120 per purchase day; one lapsed twin.
    rows = [(f"R{i:02d}", 4, date(2024, 1, 1), date(2024, 3, 25), Decimal(40 * (i + 1))) for i in range(12)]
    rows.append(("LAPSED", 4, date(2023, 7, 1), date(2023, 9, 15), Decimal(480)))
    df = spark.createDataFrame(
        rows, "customer_id string, _purchase_days int, first_purchase_date date, last_purchase_date date, "
        "historical_clv decimal(14,2)",
    ).select("*", F.lit(datetime(2023, 1, 1)).alias("registration_date"), F.lit(D).alias("as_of_date"))  # fmt: skip
    margins = [40 * (i + 1) / 4 for i in range(12)] + [120.0]
    gg = clv_model.fit_gamma_gamma([4] * 13, margins)
    assert gg is not None
    bg = clv_model.fit_bg_nbd([3] * 13, [84] * 12 + [76], [90] * 12 + [274], [1] * 13)
    fit = {"bg_r": bg.r, "bg_alpha": bg.alpha, "bg_a": bg.a, "bg_b": bg.b, "gg_p": gg.p, "gg_q": gg.q,
           "gg_gamma": gg.gamma, "history_start": date(2023, 1, 1), "degenerate": False}  # fmt: skip
    got = {r["customer_id"]: r for r in with_clv_prediction(df, {D: fit}).collect()}
    clv = [float(got[f"R{i:02d}"]["predicted_clv_12m"]) for i in range(12)]
    assert all(c > 0 for c in clv) and clv == sorted(clv)  # more margin per purchase, more predicted margin
    # Gamma-Gamma shrinks towards the mean: the top spender is predicted below its own mean x purchases.
    top = got["R11"]
    assert float(top["predicted_clv_12m"]) < top["predicted_purchases_12m"] * 120
    assert got["LAPSED"]["predicted_clv_12m"] < got["R11"]["predicted_clv_12m"]
    assert got["LAPSED"]["p_alive"] < got["R11"]["p_alive"]
