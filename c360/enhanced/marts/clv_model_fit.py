"""clv_model_fit: one row per as-of date, the CLV model behind that date's customer profile.

Grain and keys: one row per ``as_of_date`` (partition). It holds what a reader needs to
trust ``predicted_clv_12m`` / ``p_alive`` or not: the BG/NBD and Gamma-Gamma parameters,
the log-likelihood with and without the ridge, the sample sizes, a calibration/holdout
check inside the lake's own history, and the degeneracy verdict
(:func:`c360.enhanced.marts.clv_model.fit_bg_nbd_checked`). The profile reads its
parameters from here, so both always describe the same fit.

Left censoring: the lake starts at its first order (``history_start``). A customer who
registered before that day may have bought before the lake saw anything, so its first
purchase in the lake is not its first purchase, and its (x, t_x, T) would be wrong. Such
customers (and those without a registration date) are *left-censored*: excluded from the
fit, still scored with the fitted parameters, and marked in the profile
(``clv_confidence = 'left_censored'``). If every buyer is censored, the fit uses them all
and is marked degenerate. docs/customer360.md has the reasoning.

The per-customer arrays come from one collect of (customer, purchase day, margin of the
day): a few rows per customer, fitted with numpy/scipy on the driver.
"""

from __future__ import annotations

import dataclasses
import functools
import json
from collections.abc import Sequence
from datetime import date

import numpy as np
from pyspark.sql import DataFrame, SparkSession
from pyspark.sql import functions as F
from pyspark.sql import types as T

from c360.enhanced.marts import clv_holdout, clv_model
from c360.enhanced.marts.customer360_profile import customers_as_of, purchased_orders
from c360.quality import TableSuite
from c360.registry import C360, Table, column

NAME = "enhanced.customer.clv_model_fit"
# Holdout: the last third of the lake's history up to the as-of date, at most 180 days; no
# holdout check below 28 days (too few purchases to compare).
MAX_HOLDOUT_DAYS = 180
MIN_HOLDOUT_DAYS = 28

SCHEMA = T.StructType(
    [
        column("as_of_date", T.DateType(), "the profile date this fit serves (partition)", False),
        column("history_start", T.DateType(), "first order day in the lake: the start of observed history"),
        column("buyers", T.IntegerType(), "customers with a completed purchase up to as_of_date", False),
        column("left_censored_buyers", T.IntegerType(), "buyers registered before history_start (not fitted)", False),
        column("fitted_customers", T.IntegerType(), "customers the BG/NBD fit used", False),
        column("repeat_customers", T.IntegerType(), "fitted customers with at least one repeat purchase day", False),
        column("penalizer", T.DoubleType(), "weight of the ridge on the log-parameters, in customers", False),
        column("bg_r", T.DoubleType(), "BG/NBD r (shape of the purchase-rate gamma)"),
        column("bg_alpha", T.DoubleType(), "BG/NBD alpha (scale of the purchase-rate gamma, days)"),
        column("bg_a", T.DoubleType(), "BG/NBD a (dropout beta)"),
        column("bg_b", T.DoubleType(), "BG/NBD b (dropout beta)"),
        column("log_likelihood", T.DoubleType(), "summed BG/NBD log-likelihood at the (regularised) fit"),
        column("unregularised_log_likelihood", T.DoubleType(), "summed log-likelihood of the fit without the ridge"),
        column("unregularised_a", T.DoubleType(), "a of the fit without the ridge"),
        column("unregularised_b", T.DoubleType(), "b of the fit without the ridge"),
        column("gg_p", T.DoubleType(), "Gamma-Gamma p; NULL when too few repeat buyers"),
        column("gg_q", T.DoubleType(), "Gamma-Gamma q; NULL when too few repeat buyers"),
        column("gg_gamma", T.DoubleType(), "Gamma-Gamma gamma; NULL when too few repeat buyers"),
        column("gg_customers", T.IntegerType(), "buyers with >= 2 purchase days and a positive mean margin", False),
        column("degenerate", T.BooleanType(), "the data do not identify the fit: the ridge chose it", False),
        column("degenerate_reason", T.StringType(), "why the fit is degenerate; NULL when it is not"),
        column("holdout_days", T.IntegerType(), "length of the holdout period; NULL when history is too short"),
        column("holdout_customers", T.IntegerType(), "fitted customers who had bought before the holdout"),
        column("holdout_actual_purchases", T.DoubleType(), "purchase days they made in the holdout"),
        column("holdout_predicted_purchases", T.DoubleType(), "purchase days the calibration fit predicted"),
        column("holdout_total_error", T.DoubleType(), "(predicted - actual) / actual over the holdout"),
        column("holdout_mae", T.DoubleType(), "mean absolute per-customer error, purchase days"),
        column("holdout_by_frequency", T.StringType(), "JSON: per calibration repeat days, customers/actual/predicted"),
        column("holdout_degenerate", T.BooleanType(), "the calibration fit itself was degenerate"),
    ]
)


def history_start(fct_order: DataFrame, as_of: date) -> date | None:
    """The first order day the lake knows of (any status) up to ``as_of``."""
    return fct_order.filter(F.col("transaction_date") <= F.lit(as_of)).agg(F.min("transaction_date")).first()[0]


def left_censored(registration: str, start: date | None) -> F.Column:
    """Registered before the lake's history starts (or registration unknown): history may be missing."""
    if start is None:
        return F.lit(False)
    return F.col(registration).isNull() | (F.to_date(registration) < F.lit(start))


def purchase_days(dim_customer: DataFrame, fct_order: DataFrame, fct_sales_line: DataFrame, as_of: date) -> DataFrame:
    """(customer_id, transaction_date, margin of the day) of the profile's customers up to ``as_of``."""
    orders = purchased_orders(fct_order, as_of).select("transaction_id")
    lines = fct_sales_line.join(orders, on="transaction_id", how="inner")
    days = lines.groupBy("customer_id", "transaction_date").agg(
        F.coalesce(F.sum("margin_amount"), F.lit(0)).cast("double").alias("margin")
    )
    customers = customers_as_of(dim_customer, as_of).select("customer_id", "registration_date")
    return days.join(customers, on="customer_id", how="inner")


def fit_as_of(dim_customer: DataFrame, fct_order: DataFrame, fct_sales_line: DataFrame, as_of: date) -> tuple:
    """The fit row for ``as_of`` (SCHEMA order): the fit, the censoring and the holdout check."""
    start = history_start(fct_order, as_of)
    rows = (
        purchase_days(dim_customer, fct_order, fct_sales_line, as_of)
        .select("customer_id", "transaction_date", "margin", left_censored("registration_date", start).alias("cens"))
        .orderBy("customer_id", "transaction_date")
        .collect()
    )
    cut = as_of.toordinal()
    cust = np.array([r["customer_id"] for r in rows], dtype=object)
    day = np.array([r["transaction_date"].toordinal() for r in rows], dtype=np.int64)
    margin = np.array([r["margin"] for r in rows], dtype=np.float64)
    cens = np.array([bool(r["cens"]) for r in rows], dtype=bool)
    buyers = len(set(cust.tolist()))
    censored_buyers = len(set(cust[cens].tolist()))
    use = ~cens if censored_buyers < buyers else np.ones_like(cens)
    fit = clv_holdout.fit_summary(clv_holdout.summarise(cust[use], day[use], cut)) if buyers else None
    if fit is not None and censored_buyers == buyers:
        reason = "every buyer registered before the lake's first order: their histories are left-censored"
        fit = dataclasses.replace(fit, degenerate=True, reason=reason)

    # Gamma-Gamma on every buyer: spend per purchase day is not biased by a missing start.
    ids, inverse = np.unique(cust, return_inverse=True)
    n_days = np.bincount(inverse, minlength=len(ids)).astype(np.float64)
    mean_margin = np.bincount(inverse, weights=margin, minlength=len(ids)) / np.maximum(n_days, 1)
    gg = clv_model.fit_gamma_gamma(n_days, mean_margin) if buyers else None
    gg_customers = int(((n_days >= 2) & (mean_margin > 0)).sum())

    holdout: tuple = (None,) * 8
    span = cut - start.toordinal() if start is not None else 0
    holdout_days = min(MAX_HOLDOUT_DAYS, span // 3)
    if buyers and holdout_days >= MIN_HOLDOUT_DAYS:
        s = clv_holdout.summarise(cust[use], day[use], cut - holdout_days, cut)
        if len(s.x):
            calib = clv_holdout.fit_summary(s)
            rep = clv_holdout.evaluate_holdout(calib.params, s, holdout_days)
            by = json.dumps([{"repeat_days": g, "customers": n, "actual": round(a, 4), "predicted": round(p, 4)}
                             for g, n, a, p in rep.by_frequency])  # fmt: skip
            error = None if not rep.actual_total else round(rep.total_error, 6)
            holdout = (holdout_days, rep.customers, rep.actual_total, round(rep.predicted_total, 4), error,
                       round(rep.mae, 6), by, calib.degenerate)  # fmt: skip
    p = fit.params if fit else None
    return (
        as_of, start, buyers, censored_buyers if censored_buyers < buyers else 0,
        fit.customers if fit else 0, fit.repeat_customers if fit else 0, clv_model.PENALIZER,
        *((p.r, p.alpha, p.a, p.b) if p else (None,) * 4),
        fit.log_likelihood if fit else None, fit.unregularised_log_likelihood if fit else None,
        fit.unregularised.a if fit else None, fit.unregularised.b if fit else None,
        *((gg.p, gg.q, gg.gamma) if gg else (None,) * 3), gg_customers,
        bool(fit.degenerate) if fit else True, fit.reason if fit else "no buyers",
        *holdout,
    )  # fmt: skip


def build_clv_model_fit(
    spark: SparkSession, dim_customer: DataFrame, fct_order: DataFrame, fct_sales_line: DataFrame, as_of: date
) -> DataFrame:
    """The one-row fit frame of ``as_of``."""
    return spark.createDataFrame([fit_as_of(dim_customer, fct_order, fct_sales_line, as_of)], SCHEMA)


def build(
    spark: SparkSession,
    dim_customer: DataFrame,
    fct_order: DataFrame,
    fct_sales_line: DataFrame,
    profile_dates: Sequence[date],
) -> DataFrame:
    """The fits of every profile date, from the facts as built for this run."""
    fits = [build_clv_model_fit(spark, dim_customer, fct_order, fct_sales_line, d) for d in sorted(profile_dates)]
    return functools.reduce(DataFrame.unionByName, fits)


SUITE = (
    TableSuite(NAME, key=("as_of_date",), measures=("buyers", "fitted_customers"))
    .in_range("holdout_total_error", -1, None)
    .invariant("fitted_within_buyers", "fitted_customers + left_censored_buyers <= buyers")
    # A degenerate fit is published (the profile marks its predictions) but never silently.
    .invariant(
        "fit_identified",
        "NOT degenerate",
        severity="warn",
        description="the BG/NBD dropout process is identified by the data, not by the ridge",
    )
)

TABLE = Table(
    name=NAME,
    schema=SCHEMA,
    description="The CLV model (BG/NBD + Gamma-Gamma) of each profile date: parameters, log-likelihood, "
    "sample sizes, calibration/holdout check and degeneracy flag.",
    grain="one row per as-of date",
    keys=("as_of_date",),
    partition_by=("as_of_date",),
    product=C360,
    owner="customer-analytics",
    inputs={
        "dim_customer": "enhanced.customer.dim_customer",
        "fct_order": "enhanced.sales.fct_order",
        "fct_sales_line": "enhanced.sales.fct_sales_line",
    },
    build=build,
    publish="partitions",
    suite=SUITE,
    freshness_hours=36,
)
