"""customer360_profile: one row per customer per as-of date, the Customer 360 mart.

Grain and keys: one row per (``as_of_date``, ``customer_id``), for every customer whose
``dim_customer`` row is valid at the end of the as-of date D (``valid_from`` on or before
D, ``valid_to`` NULL or after D; intervals are half-open, so this is the ``is_current``
row when the star is built for D, and still the right row when the star is newer). The
unknown member (``customer_key = -1``) has no profile. Partitioned by ``as_of_date``.

Every figure uses only events on or before D, and nothing reads the clock, so the same
inputs and D give the same rows, and events after D never change D's profile. Statuses
are the ones in the facts given (the star as of its own run date).

Several as-of dates are built in one pass, not one build per date: every event is paired
with each as-of date it is visible at (a broadcast join on ``event date <= as_of_date``),
and every aggregate and ranking is per ``as_of_date``. A date's rows are the same whether
it is built alone or with others (the tests build both ways).

Rules (docs/customer360.md has the reasoning and the segment table):

- Identity and contact are carried as the dimension's HMAC tokens; clear values come only
  from the vault, for readers with the pii grant. Tokens, ``zip_code`` and ``birth_year``
  (quasi-identifiers) are tagged pii.
- Purchases are COMPLETED orders with ``transaction_date <= D`` and at least one line;
  pending, cancelled, returned and refunded orders never count, nor does a completed order
  without lines (the sanitized cross-table checks count those). Lines are never filtered by product status,
  so orders containing inactive or discontinued products count in full.
- ``orders_count``: purchases; ``total_spent``: sum of ``line_amount`` of their lines (one
  money basis with ``historical_clv``: the same lines);
  ``avg_order_value`` = total_spent / orders_count; first/last purchase dates;
  ``recency_days`` = D - last purchase date. NULL (no value) for customers without purchases.
- R/F/M scores 1-5 by quintiles of the current population of purchasers (R on
  recency_days, lower is better; F on orders_count; M on total_spent). A customer's position
  is the mid-rank of its value (Hazen): p = (customers strictly worse + ties / 2) / n, and
  score = floor(5p) + 1, in exact integer arithmetic. Tied values therefore always share a
  score whatever the row order; everybody equal (or one purchaser) scores 3; fewer than
  five purchasers spread symmetrically (two: 2 and 4). Customers without purchases score 0.
- ``rfm_segment`` (first matching rule): No Purchases (no completed order); Champions
  (R>=4, F>=4, M>=4); Loyal (R>=3, F>=4); New (R>=4, exactly one order); Potential Loyalist
  (R>=4); Need Attention (R=3); Can't Lose (R<=2, F>=4, M>=4); At Risk (R<=2, F>=3);
  Hibernating (R=2); Lost (R=1).
- ``historical_clv``: sum of ``margin_amount`` of the purchases' lines up to D (lines
  whose cost is unknown add nothing rather than a guessed margin).
- ``predicted_purchases_12m`` and ``p_alive``: BG/NBD fitted on this as-of date's
  population minus left-censored customers (clv_model_fit; the profile reads its row;
  time in days; a purchase is a purchase day); ``predicted_clv_12m`` = expected
  purchases in the next 365 days x expected margin per purchase (Gamma-Gamma on the mean
  margin per purchase day of customers with >= 2 purchase days, the customer's own mean
  when fewer than 10 such customers exist; negative means count as 0). Undiscounted, never
  negative; 0 (and p_alive NULL) for customers without purchases, whom the model does not
  cover. See :mod:`c360.enhanced.marts.clv_model`.
- ``clv_confidence``: ok, left_censored (registered before the lake's first order) or
  degenerate_fit (the date's fit is not identified by the data); NULL without purchases.
- ``churn_risk_score`` in [0, 1] = 0.6 x recency risk + 0.2 x support risk + 0.2 x
  engagement risk. Recency risk = 1 - p_alive for buyers (so the two agree: p_alive >= 0.9
  caps the score at 0.46); for customers who never bought, clamp((days since registration
  / gap - 1) / 2, 0, 1) with the buyers' median gap between purchase days (30 days if
  nobody has one). Support risk = 1 for an unhappy score
  (1-2) on a ticket resolved in the last 90 days, else 0.5 for an open ticket or two or
  more tickets opened in the last 45 days, else 0.25 for a neutral score (3) in the last
  90 days, else 0; an unanswered survey adds nothing. Engagement risk = the drop of app
  sessions in the last 30 days against the monthly average of days 31-90 (0 without
  earlier sessions: no app use is no evidence). Label: never_purchased without purchases,
  else high >= 0.6, medium >= 0.3, low.
- ``engagement_score`` 0-100: activity = sessions + actions / 10, raw = 0.7 x activity of
  the last 30 days + 0.3 x monthly average activity of the last 90 days; the score is
  100 x the share of active customers with raw <= the customer's (cume_dist, ties equal,
  most engaged = 100); 0 for no app activity in 90 days.
- Tickets count when created on or before D; a ticket is open unless resolved or closed
  with ``resolved_ts`` on or before D, and its score counts only then.
  ``support_satisfaction``: no_tickets (none), no_score (tickets, no answered survey),
  satisfied (mean score >= 4), neutral (>= 3), unhappy (< 3). A missing score is never
  unhappy.
- Channel mix: share of completed orders per channel (NULL without orders).
- Flags: ``flag_upsell`` = Loyal or Potential Loyalist with M <= 3 (buying often, spending
  below the top 40 %); ``flag_win_back`` = has bought, churn label high, historical CLV > 0;
  ``flag_vip_care`` = valuable (M = 5, Champions, or Gold/Platinum tier) with an open ticket
  or unhappy.
"""

from __future__ import annotations

import functools
from collections.abc import Mapping, Sequence
from datetime import date

from pyspark.sql import Column, DataFrame, SparkSession, Window
from pyspark.sql import functions as F
from pyspark.sql import types as T

from c360.enhanced.marts import clv_model
from c360.quality import TableSuite
from c360.registry import C360, PII, SUBJECT, Table, column
from c360.storage.schema import local_frame

UNKNOWN_CUSTOMER_KEY = -1
NEVER_PURCHASED = "never_purchased"
HORIZON_DAYS = 365
DEFAULT_GAP_DAYS = 30.0
MONEY = T.DecimalType(14, 2)
CHANNELS = ("online", "store", "mobile")
SEGMENTS = (
    "Champions", "Loyal", "New", "Potential Loyalist", "Need Attention",
    "Can't Lose", "At Risk", "Hibernating", "Lost", "No Purchases",
)  # fmt: skip

SCHEMA = T.StructType(
    [
        column("as_of_date", T.DateType(), "the run date the profile describes (partition)", False),
        column("customer_id", T.StringType(), "CRM customer id (durable key)", False, tags=(SUBJECT,)),
        column("customer_key", T.LongType(), "dim_customer row valid at the end of as_of_date", False),
        column("first_name_token", T.StringType(), "HMAC token of the given name", tags=(PII,)),
        column("last_name_token", T.StringType(), "HMAC token of the family name", tags=(PII,)),
        column("email_token", T.StringType(), "HMAC token of the e-mail address", tags=(PII,)),
        column("phone_token", T.StringType(), "HMAC token of the phone number", tags=(PII,)),
        column("address_line1_token", T.StringType(), "HMAC token of the street address", tags=(PII,)),
        column("birth_year", T.IntegerType(), "year of birth", tags=(PII,)),
        column("gender", T.StringType(), "F, M, X or U"),
        column("registration_date", T.TimestampType(), "when the customer signed up"),
        column("tenure_days", T.IntegerType(), "days from registration to as_of_date"),
        column("city", T.StringType(), "city"),
        column("state", T.StringType(), "state or region code"),
        column("zip_code", T.StringType(), "postal code", tags=(PII,)),
        column("country", T.StringType(), "ISO 3166-1 alpha-2 country"),
        column("customer_segment", T.StringType(), "CRM segment (Premium/Standard/Basic)"),
        column("loyalty_tier", T.StringType(), "loyalty tier (Bronze < Silver < Gold < Platinum), NULL if no member"),
        column("preferred_channel", T.StringType(), "channel the customer says it prefers"),
        column("orders_count", T.IntegerType(), "completed orders with lines up to as_of_date", False),
        column("total_spent", MONEY, "sum of line_amount of the purchases' lines up to as_of_date", False),
        column("avg_order_value", MONEY, "total_spent / orders_count; NULL without orders"),
        column("first_purchase_date", T.DateType(), "date of the first completed order"),
        column("last_purchase_date", T.DateType(), "date of the latest completed order up to as_of_date"),
        column("recency_days", T.IntegerType(), "as_of_date - last_purchase_date; NULL without orders"),
        column("recency_score", T.IntegerType(), "R quintile 1-5 (5 = most recent), 0 without orders", False),
        column("frequency_score", T.IntegerType(), "F quintile 1-5 (5 = most orders), 0 without orders", False),
        column("monetary_score", T.IntegerType(), "M quintile 1-5 (5 = highest total_spent), 0 without orders", False),
        column("rfm_cell", T.StringType(), "R, F and M scores as three digits ('000' without orders)", False),
        column("rfm_segment", T.StringType(), "named RFM segment (rules in the module docstring)", False),
        column("historical_clv", MONEY, "sum of margin_amount of the same lines as total_spent", False),
        column("p_alive", T.DoubleType(), "BG/NBD probability the customer is still active; NULL without orders"),
        column("predicted_purchases_12m", T.DoubleType(), "BG/NBD expected purchase days in the next 365 days", False),
        column("predicted_clv_12m", MONEY, "expected margin of the next 365 days (BG/NBD x Gamma-Gamma)", False),
        column(
            "clv_confidence",
            T.StringType(),
            "ok, left_censored (history starts before the lake) or degenerate_fit; NULL without orders",
        ),
        column("churn_risk_score", T.DoubleType(), "0-1: 1 - p_alive (buyers), support, app engagement drop", False),
        column(
            "churn_risk_label",
            T.StringType(),
            "low (< 0.3), medium (< 0.6), high; never_purchased without orders",
            False,
        ),
        column("engagement_score", T.DoubleType(), "0-100 app engagement, relative to active customers", False),
        column("sessions_30d", T.IntegerType(), "app sessions in the 30 days up to as_of_date", False),
        column("sessions_90d", T.IntegerType(), "app sessions in the 90 days up to as_of_date", False),
        column("tickets_count", T.IntegerType(), "support tickets opened up to as_of_date", False),
        column("open_tickets_count", T.IntegerType(), "tickets not resolved or closed by as_of_date", False),
        column("avg_satisfaction_score", T.DoubleType(), "mean answered survey score (1-5); NULL if none"),
        column("support_satisfaction", T.StringType(), "no_tickets, no_score, satisfied, neutral or unhappy", False),
        column("channel_share_online", T.DoubleType(), "share of completed orders placed online"),
        column("channel_share_store", T.DoubleType(), "share of completed orders placed in store"),
        column("channel_share_mobile", T.DoubleType(), "share of completed orders placed on mobile"),
        column("flag_upsell", T.BooleanType(), "Loyal or Potential Loyalist spending below the top 40 %", False),
        column("flag_win_back", T.BooleanType(), "profitable buyer with high churn risk", False),
        column("flag_vip_care", T.BooleanType(), "valuable customer with an open ticket or unhappy", False),
    ]
)

NAME = "enhanced.customer.customer360_profile"


def _clamp01(c: Column) -> Column:
    return F.least(F.lit(1.0), F.greatest(F.lit(0.0), c))


def as_of_dates(spark: SparkSession, dates: Sequence[date]) -> DataFrame:
    """The as-of dates as a one-column frame (``as_of_date``) to pair events with."""
    return local_frame(spark, [(d,) for d in sorted(set(dates))], _AS_OF_DATES)


def visible_on(events: DataFrame, dates: DataFrame, column: str, within_days: int | None = None) -> DataFrame:
    """Each event once for every as-of date it is visible at: ``column <= as_of_date`` (and,
    with ``within_days``, ``column > as_of_date - within_days``)."""
    d = F.col("as_of_date")
    seen = F.col(column) <= d
    if within_days is not None:
        seen &= F.col(column) > F.date_sub(d, within_days)
    return events.join(F.broadcast(dates), seen, "inner")


def customers_on(dim_customer: DataFrame, dates: DataFrame) -> DataFrame:
    """The dim_customer row valid at the end of each as-of date, for every known customer."""
    d = F.col("as_of_date")
    valid = (F.to_date("valid_from") <= d) & (F.col("valid_to").isNull() | (F.to_date("valid_to") > d))
    known = dim_customer.filter(F.col("customer_key") != UNKNOWN_CUSTOMER_KEY)
    return known.join(F.broadcast(dates), valid, "inner")


def purchased_orders(fct_order: DataFrame) -> DataFrame:
    """The orders that are purchases: completed, with at least one line (any date; an as-of
    date counts those on or before it).

    A completed order without lines bought nothing the lake can price or cost; the sanitized
    cross-table check counts such orders (c360/sanitized/crosscheck.py).
    """
    completed = F.col("order_status") == "completed"
    return fct_order.filter(completed & (F.coalesce(F.col("line_count"), F.lit(0)) > 0))


def purchase_days(fct_order: DataFrame, fct_sales_line: DataFrame) -> DataFrame:
    """Per customer and day with purchases: the purchases, by channel, and their lines' spend
    and margin (``_spent``, ``_margin``; NULL when none of the day's lines has one).

    An order is one row of ``fct_order`` (its key) and its lines carry its customer, so the
    lines are summed per order before they meet the orders, and an as-of date then sums the
    days on or before it: fewer rows than the lines, and no distinct count.
    """
    by_order = fct_sales_line.groupBy("transaction_id").agg(
        F.sum("line_amount").alias("_spent"), F.sum("margin_amount").alias("_margin")
    )
    orders = purchased_orders(fct_order).select("transaction_id", "customer_id", "transaction_date", "channel")
    priced = orders.join(by_order, on="transaction_id", how="left")
    by_channel = [F.count(F.when(F.col("channel") == ch, 1)).alias(f"_orders_{ch}") for ch in CHANNELS]
    return priced.groupBy("customer_id", "transaction_date").agg(
        F.count("transaction_id").alias("_orders"),
        *by_channel,
        F.sum("_spent").alias("_spent"),
        F.sum("_margin").alias("_margin"),
    )


def purchase_summary(fct_order: DataFrame, fct_sales_line: DataFrame, dates: DataFrame) -> DataFrame:
    """Per as-of date and customer: purchases up to the date, spend and margin (both from
    their lines), dates, channels."""
    # One money basis: spend and margin are sums over the same lines (those of the purchases), so
    # total_spent - historical_clv is their cost. No join to dim_product: a line of an inactive
    # product is as much a sale as any other.
    days = visible_on(purchase_days(fct_order, fct_sales_line), dates, "transaction_date")
    return days.groupBy("as_of_date", "customer_id").agg(
        F.sum("_orders").cast("int").alias("orders_count"),
        F.min("transaction_date").alias("first_purchase_date"),
        F.max("transaction_date").alias("last_purchase_date"),
        F.count(F.lit(1)).cast("int").alias("_purchase_days"),
        *[F.sum(f"_orders_{ch}").alias(f"_orders_{ch}") for ch in CHANNELS],
        F.sum("_spent").cast(MONEY).alias("total_spent"),
        F.sum("_margin").alias("_margin"),
    )


def support_summary(fct_support_ticket: DataFrame, dates: DataFrame) -> DataFrame:
    """Per as-of date and customer: tickets, open tickets, answered scores and their recent extremes."""
    d = F.col("as_of_date")
    t = visible_on(fct_support_ticket, dates, "created_date")
    done = F.col("status").isin("resolved", "closed") & (
        F.coalesce(F.to_date("resolved_ts"), F.col("created_date")) <= d
    )
    score = F.when(done, F.col("satisfaction_score"))
    resolved_recently = done & (F.coalesce(F.to_date("resolved_ts"), F.col("created_date")) > F.date_sub(d, 90))
    return t.groupBy("as_of_date", "customer_id").agg(
        F.count("ticket_id").cast("int").alias("tickets_count"),
        F.count(F.when(~done, 1)).cast("int").alias("open_tickets_count"),
        F.avg(score).alias("avg_satisfaction_score"),
        F.count(F.when(F.col("created_date") > F.date_sub(d, 45), 1)).alias("_tickets_45d"),
        F.max(F.when(resolved_recently & (F.col("satisfaction_score") <= 2), True)).alias("_unhappy_90d"),
        F.max(F.when(resolved_recently & (F.col("satisfaction_score") == 3), True)).alias("_neutral_90d"),
    )


def engagement_summary(fct_app_session: DataFrame, dates: DataFrame) -> DataFrame:
    """Per as-of date and customer: app sessions and actions in the last 30 and 90 days."""
    s = visible_on(fct_app_session, dates, "session_date", within_days=90)
    in_30 = F.col("session_date") > F.date_sub(F.col("as_of_date"), 30)
    actions = F.coalesce(F.col("actions_taken"), F.lit(0))
    return s.groupBy("as_of_date", "customer_id").agg(
        F.count(F.when(in_30, 1)).cast("int").alias("sessions_30d"),
        F.count("usage_id").cast("int").alias("sessions_90d"),
        F.sum(F.when(in_30, actions).otherwise(0)).alias("_actions_30d"),
        F.sum(actions).alias("_actions_90d"),
    )


def _positions(value: str, higher_is_better: bool, within: Sequence[str]) -> tuple[Column, Column, Column]:
    """(worse, ties, n) of a row's value among the non-NULL values of its group (the rows
    with the same ``within`` columns; the whole frame when there are none).

    Window functions over the same frame keep the plan linear (a self-join per score would
    copy the whole upstream plan each time). ``rank`` counts strictly worse rows plus one,
    and ties share it, so no row order can split them. The three are frames of one window
    (the row's peers, the whole group), so Spark sorts the rows once per score, not three times.
    """
    group = [*(F.col(c) for c in within), F.col(value).isNull()]
    order = F.col(value).asc() if higher_is_better else F.col(value).desc()
    ranked = Window.partitionBy(*group).orderBy(order)
    worse = F.rank().over(ranked) - 1
    ties = F.count(F.lit(1)).over(ranked.rangeBetween(Window.currentRow, Window.currentRow))
    n = F.count(F.lit(1)).over(ranked.rowsBetween(Window.unboundedPreceding, Window.unboundedFollowing))
    return worse, ties, n


def quintile_score(value: str, higher_is_better: bool = True, within: Sequence[str] = ()) -> Column:
    """floor(5 x mid-rank position) + 1 in 1..5 among the rows of the same ``within`` columns,
    exact integer arithmetic; 0 where ``value`` is NULL."""
    worse, ties, n = _positions(value, higher_is_better, within)
    # Integers below 2^53: an integral quotient is exact, any other is >= 1/(2n) from an integer.
    score = F.floor((10 * worse + 5 * ties) / (2 * n)).cast("int") + 1
    return F.when(F.col(value).isNotNull(), score).otherwise(0)


def engagement_raw() -> Column:
    """Recent app activity: 0.7 x last 30 days + 0.3 x monthly average of 90 days; NULL when none."""
    act30 = F.col("sessions_30d") + F.col("_actions_30d") / 10.0
    act90 = F.col("sessions_90d") + F.col("_actions_90d") / 10.0
    raw = 0.7 * act30 + 0.3 * act90 / 3.0
    return F.when(raw > 0, raw)


def engagement_score(raw: str, within: Sequence[str] = ()) -> Column:
    """0-100: share of active customers (of the same ``within`` columns) whose raw activity is
    <= this one's (ties equal); 0 if inactive."""
    worse, ties, n = _positions(raw, True, within)
    return F.when(F.col(raw).isNotNull(), F.round(100.0 * (worse + ties) / n, 1)).otherwise(0.0)


def rfm_segment(r: Column, f: Column, m: Column, orders: Column) -> Column:
    """The named segment for R/F/M scores; the order of the rules is part of their meaning."""
    return (
        F.when(orders == 0, "No Purchases")
        .when((r >= 4) & (f >= 4) & (m >= 4), "Champions")
        .when((r >= 3) & (f >= 4), "Loyal")
        .when((r >= 4) & (orders == 1), "New")
        .when(r >= 4, "Potential Loyalist")
        .when(r == 3, "Need Attention")
        .when((f >= 4) & (m >= 4), "Can't Lose")
        .when(f >= 3, "At Risk")
        .when(r == 2, "Hibernating")
        .otherwise("Lost")
    )


def with_churn_risk(df: DataFrame) -> DataFrame:
    """``churn_risk_score`` and ``churn_risk_label`` (weights and thresholds in the module
    docstring) of each row's ``as_of_date``.

    For buyers the recency part is the model's own 1 - p_alive, so the score cannot contradict
    p_alive: with p_alive >= 0.9 the score is at most 0.6 x 0.1 + 0.2 + 0.2 = 0.46 < 0.6 (never
    high). Customers who never bought are ``never_purchased`` whatever their score: they are
    leads, not customers at risk.
    """
    # Non-buyers: days since registration against the buyers' median gap between purchase days.
    own_gap = F.when(
        F.col("_purchase_days") >= 2,
        F.datediff("last_purchase_date", "first_purchase_date") / (F.col("_purchase_days") - 1),
    )
    df = df.withColumn("_own_gap", own_gap)
    pop_gap = F.coalesce(F.median("_own_gap").over(Window.partitionBy("as_of_date")), F.lit(DEFAULT_GAP_DAYS))
    df = df.withColumn("_pop_gap", pop_gap)
    inactive = F.datediff(F.col("as_of_date"), F.to_date("registration_date"))
    lead_risk = _clamp01((F.greatest(inactive, F.lit(0)) / F.col("_pop_gap") - 1.0) / 2.0)
    buyer = F.col("orders_count") > 0
    recency_risk = F.when(buyer, 1.0 - F.col("p_alive")).otherwise(F.coalesce(lead_risk, F.lit(0.0)))
    support_risk = (
        F.when(F.col("_unhappy_90d"), 1.0)
        .when((F.col("open_tickets_count") > 0) | (F.col("_tickets_45d") >= 2), 0.5)
        .when(F.col("_neutral_90d"), 0.25)
        .otherwise(0.0)
    )
    prior_monthly = (F.col("sessions_90d") - F.col("sessions_30d")) / 2.0
    engagement_risk = F.when(prior_monthly > 0, _clamp01(1.0 - F.col("sessions_30d") / prior_monthly)).otherwise(0.0)
    score = F.round(_clamp01(0.6 * recency_risk + 0.2 * support_risk + 0.2 * engagement_risk), 4)
    label = (
        F.when(~buyer, NEVER_PURCHASED)
        .when(F.col("churn_risk_score") >= 0.6, "high")
        .when(F.col("churn_risk_score") >= 0.3, "medium")
        .otherwise("low")
    )
    return df.withColumn("churn_risk_score", score).withColumn("churn_risk_label", label)


def clv_fits_of(clv_model_fit: DataFrame, dates: Sequence[date]) -> dict[date, dict]:
    """The fit row of each as-of date from the model-fit table (exactly one each), in one read."""
    wanted = sorted(set(dates))
    rows = clv_model_fit.filter(F.col("as_of_date").isin(*wanted)).collect()
    fits: dict[date, list[dict]] = {}
    for row in rows:
        fits.setdefault(row["as_of_date"], []).append(row.asDict())
    for d in wanted:
        found = len(fits.get(d, []))
        if found != 1:
            raise ValueError(f"clv_model_fit has {found} rows for {d}; the profile needs exactly one")
    return {d: fits[d][0] for d in wanted}


_AS_OF_DATES = T.StructType([T.StructField("as_of_date", T.DateType())])
_TAILS = T.StructType(
    [T.StructField("as_of_date", T.DateType()), T.StructField("_x", T.IntegerType())]
    + [T.StructField("_T", T.IntegerType()), T.StructField("_tail", T.DoubleType())]
)
_FIT_COLUMNS = T.StructType(
    [T.StructField("as_of_date", T.DateType())]
    + [T.StructField(c, T.DoubleType()) for c in ("_r", "_alpha", "_a", "_b", "_gg_p", "_gg_q", "_gg_gamma")]
    + [T.StructField("_history_start", T.DateType()), T.StructField("_degenerate", T.BooleanType())]
)


def _fit_row(as_of: date, fit: Mapping) -> tuple:
    """One as-of date's parameters as a row of ``_FIT_COLUMNS`` (NULLs where there is no fit)."""
    bg = (
        (fit["bg_r"], fit["bg_alpha"], clv_model._safe_a(fit["bg_a"]), fit["bg_b"])
        if fit.get("bg_r") is not None
        else (None,) * 4
    )
    gg = (fit["gg_p"], fit["gg_q"], fit["gg_gamma"]) if fit.get("gg_p") is not None else (None,) * 3
    return (as_of, *bg, *gg, fit.get("history_start"), bool(fit.get("degenerate")))


def with_clv_prediction(df: DataFrame, fits: Mapping[date, Mapping]) -> DataFrame:
    """``p_alive``, ``predicted_purchases_12m``, ``predicted_clv_12m`` and ``clv_confidence``.

    The parameters come from the model-fit row of each row's ``as_of_date`` (clv_model_fit,
    same inputs), joined as columns; the closed forms are Spark expressions, with the 2F1 term
    joined from a table per (as-of date, x, T), computed on the driver for every date in one
    collect. Run on the per-customer purchase summary, before any window, so that collect
    does not recompute the ranking.
    """
    buyers = F.col("_purchase_days") >= 1
    df = df.select(
        "*",
        F.when(buyers, F.col("_purchase_days") - 1).alias("_x"),
        F.when(buyers, F.datediff("last_purchase_date", "first_purchase_date")).alias("_tx"),
        F.when(buyers, F.datediff(F.col("as_of_date"), "first_purchase_date")).alias("_T"),
        F.when(buyers, F.col("historical_clv") / F.col("_purchase_days")).alias("_m"),
    )
    spark = df.sparkSession
    params = local_frame(spark, [_fit_row(d, f) for d, f in sorted(fits.items())], _FIT_COLUMNS)
    df = df.join(F.broadcast(params), on="as_of_date", how="left")
    fitted = buyers & F.col("_r").isNotNull()

    bg = {d: clv_model.BgNbdParams(f["bg_r"], f["bg_alpha"], f["bg_a"], f["bg_b"])
          for d, f in fits.items() if f.get("bg_r") is not None}  # fmt: skip
    pairs: dict[date, list[tuple[int, int]]] = {}
    for row in df.filter(fitted).select("as_of_date", "_x", "_T").distinct().collect():
        pairs.setdefault(row["as_of_date"], []).append((int(row["_x"]), int(row["_T"])))
    tails = []
    for d, xt in sorted(pairs.items()):
        xt.sort()
        g = clv_model.bg_nbd_tail(bg[d], HORIZON_DAYS, [p[0] for p in xt], [p[1] for p in xt])
        tails += [(d, x, t, float(v)) for (x, t), v in zip(xt, g, strict=True)]
    df = df.join(F.broadcast(local_frame(spark, tails, _TAILS)), on=["as_of_date", "_x", "_T"], how="left")

    x, tx, big_t = F.col("_x"), F.col("_tx"), F.col("_T")
    r, alpha, a, b = F.col("_r"), F.col("_alpha"), F.col("_a"), F.col("_b")
    log_odds = F.log(a) - F.log(b + x - 1) + (r + x) * (F.log(alpha + big_t) - F.log(alpha + tx))
    p_alive = 1.0 / (1.0 + F.when(x > 0, F.exp(log_odds)).otherwise(0.0))
    purchases = (a + b + x - 1) / (a - 1) * (1.0 - F.col("_tail")) * p_alive
    mean_margin = F.greatest(F.col("_m").cast("double"), F.lit(0.0))
    n = F.col("_purchase_days").cast("double")
    gg_p, gg_q, gg_gamma = F.col("_gg_p"), F.col("_gg_q"), F.col("_gg_gamma")
    per_purchase = F.when(gg_p.isNull(), mean_margin).otherwise(
        gg_p * (gg_gamma + n * mean_margin) / (gg_p * n + gg_q - 1.0)
    )
    purchases_12m = F.greatest(F.round(purchases, 4), F.lit(0.0))
    clv = F.greatest(F.round(purchases_12m * per_purchase, 2), F.lit(0.0)).cast(MONEY)
    start = F.col("_history_start")
    censored = start.isNotNull() & (F.col("registration_date").isNull() | (F.to_date("registration_date") < start))
    confidence = (
        F.when(~fitted, F.lit(None).cast("string"))
        .when(F.col("_degenerate"), "degenerate_fit")
        .when(censored, "left_censored")
        .otherwise("ok")
    )
    return df.select(
        *(c for c in df.columns if c not in _FIT_COLUMNS.fieldNames() or c == "as_of_date"),
        F.when(fitted, F.round(p_alive, 4)).alias("p_alive"),
        F.coalesce(F.when(fitted, purchases_12m), F.lit(0.0)).alias("predicted_purchases_12m"),
        F.coalesce(F.when(fitted, clv), F.lit(0).cast(MONEY)).alias("predicted_clv_12m"),
        confidence.alias("clv_confidence"),
    )


def build_profiles(
    dim_customer: DataFrame,
    fct_order: DataFrame,
    fct_sales_line: DataFrame,
    fct_support_ticket: DataFrame,
    fct_app_session: DataFrame,
    dates: Sequence[date],
    clv_model_fit: DataFrame | None = None,
) -> DataFrame:
    """The profile of every customer valid at each as-of date, in one pass (rules in the
    module docstring).

    ``clv_model_fit`` is the model-fit table (the pipeline passes the one it just built); without
    it the fits are computed here from the same frames (what the unit tests do).
    """
    if clv_model_fit is None:
        from c360.enhanced.marts import clv_model_fit as fit_module  # it imports this module

        rows = fit_module.fit_rows(dim_customer, fct_order, fct_sales_line, dates)
        fits = {row[0]: dict(zip(fit_module.SCHEMA.fieldNames(), row, strict=True)) for row in rows}
    else:
        fits = clv_fits_of(clv_model_fit, dates)
    d = F.col("as_of_date")
    on = as_of_dates(dim_customer.sparkSession, dates)
    keys = ["as_of_date", "customer_id"]
    base = (
        customers_on(dim_customer, on)
        .join(purchase_summary(fct_order, fct_sales_line, on), on=keys, how="left")
        .join(support_summary(fct_support_ticket, on), on=keys, how="left")
        .join(engagement_summary(fct_app_session, on), on=keys, how="left")
    )
    zero_filled = ["orders_count", "_purchase_days", "tickets_count", "open_tickets_count", "_tickets_45d",
                   "sessions_30d", "sessions_90d", "_actions_30d", "_actions_90d",
                   *(f"_orders_{ch}" for ch in CHANNELS)]  # fmt: skip
    base = base.fillna(0, subset=zero_filled).select(
        "*",
        F.coalesce(F.col("_margin"), F.lit(0)).cast(MONEY).alias("historical_clv"),
        F.when(F.col("orders_count") > 0, F.datediff(d, "last_purchase_date")).alias("recency_days"),
    )
    # Held once: the CLV step collects its (x, T) pairs from it before the rest is computed, and
    # without it that collect and the final write would each join the facts again.
    base = with_clv_prediction(base.localCheckpoint(), fits)
    purchasers = F.col("orders_count") > 0
    profile = base.select(
        "*",
        F.when(purchasers, F.col("orders_count")).alias("_frequency"),
        F.when(purchasers, F.col("total_spent")).alias("_monetary"),
        engagement_raw().alias("_engagement_raw"),
    )
    per_date = ("as_of_date",)
    scores = [
        quintile_score("recency_days", higher_is_better=False, within=per_date).alias("recency_score"),
        quintile_score("_frequency", within=per_date).alias("frequency_score"),
        quintile_score("_monetary", within=per_date).alias("monetary_score"),
        engagement_score("_engagement_raw", within=per_date).alias("engagement_score"),
    ]
    # Ranked on the four values alone and joined back: each window sorts its own partitioning of
    # the rows, and four sorts of narrow rows and one join cost less than four of the wide ones.
    ranked = profile.select(*keys, "recency_days", "_frequency", "_monetary", "_engagement_raw")
    profile = profile.join(ranked.select(*keys, *scores), on=keys)
    profile = profile.transform(with_churn_risk)
    r, f, m = F.col("recency_score"), F.col("frequency_score"), F.col("monetary_score")
    segment = rfm_segment(r, f, m, F.col("orders_count"))
    satisfaction = (
        F.when(F.col("tickets_count") == 0, "no_tickets")
        .when(F.col("avg_satisfaction_score").isNull(), "no_score")
        .when(F.col("avg_satisfaction_score") >= 4, "satisfied")
        .when(F.col("avg_satisfaction_score") >= 3, "neutral")
        .otherwise("unhappy")
    )
    profile = profile.withColumn("rfm_segment", segment).withColumn("support_satisfaction", satisfaction)
    shares = [
        F.when(purchasers, F.round(F.col(f"_orders_{ch}") / F.col("orders_count"), 4)).alias(f"channel_share_{ch}")
        for ch in CHANNELS
    ]
    # A customer outside the loyalty programme (NULL tier) is simply not Gold: no NULL flags.
    gold = F.coalesce(F.col("loyalty_tier").isin("Gold", "Platinum"), F.lit(False))
    valuable = (m == 5) | (F.col("rfm_segment") == "Champions") | gold
    needs_care = (F.col("open_tickets_count") > 0) | (F.col("support_satisfaction") == "unhappy")
    return profile.select(
        "as_of_date",
        "customer_id",
        F.col("customer_key").cast("long").alias("customer_key"),
        "first_name_token",
        "last_name_token",
        "email_token",
        "phone_token",
        "address_line1_token",
        F.col("birth_year").cast("int").alias("birth_year"),
        "gender",
        "registration_date",
        F.datediff(d, F.to_date("registration_date")).alias("tenure_days"),
        "city",
        "state",
        "zip_code",
        "country",
        "customer_segment",
        "loyalty_tier",
        "preferred_channel",
        "orders_count",
        F.coalesce(F.col("total_spent"), F.lit(0).cast(MONEY)).alias("total_spent"),
        F.when(purchasers, (F.col("total_spent") / F.col("orders_count")).cast(MONEY)).alias("avg_order_value"),
        "first_purchase_date",
        "last_purchase_date",
        "recency_days",
        "recency_score",
        "frequency_score",
        "monetary_score",
        F.concat_ws("", r, f, m).alias("rfm_cell"),
        "rfm_segment",
        "historical_clv",
        "p_alive",
        "predicted_purchases_12m",
        "predicted_clv_12m",
        "clv_confidence",
        "churn_risk_score",
        "churn_risk_label",
        "engagement_score",
        "sessions_30d",
        "sessions_90d",
        "tickets_count",
        "open_tickets_count",
        F.round("avg_satisfaction_score", 4).alias("avg_satisfaction_score"),
        "support_satisfaction",
        *shares,
        (F.col("rfm_segment").isin("Loyal", "Potential Loyalist") & (m <= 3)).alias("flag_upsell"),
        (purchasers & (F.col("churn_risk_label") == "high") & (F.col("historical_clv") > 0)).alias("flag_win_back"),
        (valuable & needs_care).alias("flag_vip_care"),
    )


def build_customer360_profile(
    dim_customer: DataFrame,
    fct_order: DataFrame,
    fct_sales_line: DataFrame,
    fct_support_ticket: DataFrame,
    fct_app_session: DataFrame,
    as_of: date,
    clv_model_fit: DataFrame | None = None,
) -> DataFrame:
    """The profile of one as-of date (:func:`build_profiles` of that date alone)."""
    return build_profiles(
        dim_customer, fct_order, fct_sales_line, fct_support_ticket, fct_app_session, [as_of], clv_model_fit
    )


# A pass pairs each event with every as-of date after it: a long backfill goes in passes of
# this many dates, so the paired rows stay a bounded multiple of the facts.
DATES_PER_PASS = 31


def build(
    dim_customer: DataFrame,
    fct_order: DataFrame,
    fct_sales_line: DataFrame,
    fct_support_ticket: DataFrame,
    fct_app_session: DataFrame,
    clv_model_fit: DataFrame,
    profile_dates: Sequence[date],
) -> DataFrame:
    """The profiles of every as-of date, from the facts as built for this run (as of its last
    date), never the published tables, which may hold later versions when an older date is rebuilt."""
    dates = sorted(set(profile_dates))
    passes = [dates[i : i + DATES_PER_PASS] for i in range(0, len(dates), DATES_PER_PASS)]
    frames = (dim_customer, fct_order, fct_sales_line, fct_support_ticket, fct_app_session)
    profiles = [build_profiles(*frames, chunk, clv_model_fit) for chunk in passes]
    return functools.reduce(DataFrame.unionByName, profiles)


SUITE = (
    TableSuite(NAME, key=("as_of_date", "customer_id"), measures=("total_spent", "historical_clv", "predicted_clv_12m"))
    .foreign_key("customer_key", "enhanced.customer.dim_customer")
    .in_range("churn_risk_score", 0, 1)
    .in_set("churn_risk_label", ["low", "medium", "high", NEVER_PURCHASED])
    .in_set("clv_confidence", ["ok", "left_censored", "degenerate_fit"])
    .invariant("churn_agrees_with_p_alive", "NOT (p_alive >= 0.9 AND churn_risk_label = 'high')")
    .invariant("non_buyers_never_purchased", "(orders_count = 0) = (churn_risk_label = 'never_purchased')")
    .in_range("engagement_score", 0, 100)
    .in_set("support_satisfaction", ["no_tickets", "no_score", "satisfied", "neutral", "unhappy"])
    .in_range("recency_score", 0, 5)
    .in_range("frequency_score", 0, 5)
    .in_range("monetary_score", 0, 5)
    .invariant("spent_not_negative", "total_spent >= 0")
    .invariant("predicted_clv_not_negative", "predicted_clv_12m IS NULL OR predicted_clv_12m >= 0")
    .invariant(
        "aov_matches", "orders_count = 0 OR abs(avg_order_value * orders_count - total_spent) <= 0.01 * orders_count"
    )
    .row_count_vs_previous(0.9, 1.5, severity="warn")
)


TABLE = Table(
    name=NAME,
    schema=SCHEMA,
    description="Customer 360 profile: one row per customer per as-of date with RFM, CLV, churn risk, "
    "engagement, support satisfaction, channel mix and opportunity flags.",
    grain="one row per customer per as-of date",
    keys=("as_of_date", "customer_id"),
    partition_by=("as_of_date",),
    product=C360,
    owner="customer-analytics",
    inputs={
        "dim_customer": "enhanced.customer.dim_customer",
        "fct_order": "enhanced.sales.fct_order",
        "fct_sales_line": "enhanced.sales.fct_sales_line",
        "fct_support_ticket": "enhanced.customer.fct_support_ticket",
        "fct_app_session": "enhanced.customer.fct_app_session",
        "clv_model_fit": "enhanced.customer.clv_model_fit",
    },
    build=build,
    publish="partitions",
    suite=SUITE,
    freshness_hours=36,
)
