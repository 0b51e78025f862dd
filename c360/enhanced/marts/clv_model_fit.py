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
day) up to the last as-of date, and one of the customers' dimension rows: a few rows per
customer, for every as-of date of the run at once, fitted with numpy/scipy on the driver.
"""

from __future__ import annotations

import dataclasses
import json
import multiprocessing as mp
import os
import threading
from collections.abc import Sequence
from concurrent.futures import ProcessPoolExecutor
from datetime import date

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
from pyspark.sql import DataFrame, SparkSession
from pyspark.sql import functions as F
from pyspark.sql import types as T

from c360.enhanced.marts import clv_holdout, clv_model
from c360.enhanced.marts.customer360_profile import UNKNOWN_CUSTOMER_KEY, purchased_orders
from c360.quality import TableSuite
from c360.registry import C360, Table, column
from c360.storage.schema import local_frame

NAME = "enhanced.customer.clv_model_fit"
# Holdout: the last third of the lake's history up to the as-of date, at most 180 days; no
# holdout check below 28 days (too few purchases to compare).
MAX_HOLDOUT_DAYS = 180
MIN_HOLDOUT_DAYS = 28
# A backfill fits every run date (about a second each on 100,000 customers, on the driver):
# from this many dates on, they are fitted in worker processes, one per core (fit_dates).
PARALLEL_FIT_MIN_DATES = 4

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


_NEVER = date.max.toordinal()  # valid_to of a current dimension row
_UNKNOWN = -1  # registration day of a customer who has none: always censored
_EPOCH = date(1970, 1, 1).toordinal()  # an Arrow date32 counts days from here


@dataclasses.dataclass(frozen=True)
class PurchaseHistory:
    """What the fit of any as-of date up to the last one needs, read from the star once.

    One entry per purchase day of a customer (sorted by customer and day) and dimension row
    of that customer: the day's margin, and the row's validity and registration day, as day
    ordinals. A date's fit takes the entries up to it whose row is valid at its end.
    """

    first_order: date | None  # the first order day the lake knows of (any status)
    customer: np.ndarray  # object: customer_id
    day: np.ndarray  # int64: purchase day
    margin: np.ndarray  # float64: margin of the day
    valid_from: np.ndarray  # int64: the dimension row is valid at the end of valid_from..valid_to - 1
    valid_to: np.ndarray  # int64: _NEVER for the current row
    registered: np.ndarray  # int64: registration day, _UNKNOWN when there is none

    def history_start(self, as_of: date) -> date | None:
        """The first order day up to ``as_of``: the start of observed history."""
        return self.first_order if self.first_order is not None and self.first_order <= as_of else None

    def up_to(self, as_of: date) -> np.ndarray:
        """Which entries ``as_of``'s fit takes: purchases up to it, of the row valid at its end."""
        d = as_of.toordinal()
        return (self.day <= d) & (self.valid_from <= d) & (self.valid_to > d)


def purchase_history(
    dim_customer: DataFrame, fct_order: DataFrame, fct_sales_line: DataFrame, last: date
) -> PurchaseHistory:
    """The purchases up to ``last`` and the customers' dimension rows, in two Arrow collects.

    Each purchase day is paired with every dimension row of its customer, in the order the
    dimension's rows were read (a customer without a row has no entry), with NumPy rather than
    a Python loop: on 100,000 customers the Python rows of ``collect`` cost more than the fit.
    """
    first = fct_order.agg(F.min("transaction_date")).first()
    assert first is not None  # an aggregate without groups has one row
    first_order = first[0]
    orders = purchased_orders(fct_order).filter(F.col("transaction_date") <= F.lit(last)).select("transaction_id")
    lines = fct_sales_line.join(orders, on="transaction_id", how="inner")
    days = lines.groupBy("customer_id", "transaction_date").agg(
        F.coalesce(F.sum("margin_amount"), F.lit(0)).cast("double").alias("margin")
    )
    known = dim_customer.filter(F.col("customer_key") != UNKNOWN_CUSTOMER_KEY).select(
        "customer_id", *[F.to_date(c).alias(c) for c in ("valid_from", "valid_to", "registration_date")]
    )
    # Sorted on the driver, in the order Spark's orderBy gives (bytes of the id, NULL first; the
    # pairs are unique): a global sort in Spark costs a sampling job and a shuffle more.
    bought = days.toArrow().sort_by([("customer_id", "ascending", "at_start"), ("transaction_date", "ascending")])
    rows = known.toArrow()
    # Customers as codes into the dimension's distinct ids (-1: no row), then each purchase
    # day repeated once per row of its customer, the rows in the order they were read.
    ids = pc.unique(rows["customer_id"])
    row_code = pc.index_in(rows["customer_id"], value_set=ids).to_numpy(zero_copy_only=False)
    day_code = pc.fill_null(pc.index_in(bought["customer_id"], value_set=ids), -1).to_numpy()
    order = np.argsort(row_code, kind="stable")
    sorted_code = row_code[order]
    first = np.searchsorted(sorted_code, day_code, side="left")
    count = np.searchsorted(sorted_code, day_code, side="right") - first
    entry = np.repeat(np.arange(len(day_code)), count)
    within = np.arange(len(entry)) - np.repeat(np.cumsum(count) - count, count)
    version = order[np.repeat(first, count) + within]

    def ordinals(table: pa.Table, name: str, pick: np.ndarray, missing: int | None = None) -> np.ndarray:
        """A date column as day ordinals; ``missing`` for its NULLs (None: it has none)."""
        days = table[name].cast(pa.int32())
        if missing is not None:
            days = pc.fill_null(days, missing - _EPOCH)
        return days.to_numpy().astype(np.int64)[pick] + _EPOCH

    return PurchaseHistory(
        first_order,
        bought["customer_id"].to_numpy(zero_copy_only=False).astype(object)[entry],
        ordinals(bought, "transaction_date", entry),
        bought["margin"].to_numpy().astype(np.float64)[entry],
        ordinals(rows, "valid_from", version),
        ordinals(rows, "valid_to", version, _NEVER),
        ordinals(rows, "registration_date", version, _UNKNOWN),
    )


def fit_as_of(dim_customer: DataFrame, fct_order: DataFrame, fct_sales_line: DataFrame, as_of: date) -> tuple:
    """The fit row for ``as_of`` (SCHEMA order): the fit, the censoring and the holdout check."""
    return fit_from(purchase_history(dim_customer, fct_order, fct_sales_line, as_of), as_of)


def fit_rows(
    dim_customer: DataFrame, fct_order: DataFrame, fct_sales_line: DataFrame, dates: Sequence[date]
) -> list[tuple]:
    """The fit rows of every as-of date (in date order), from one read of the star."""
    return fit_dates(purchase_history(dim_customer, fct_order, fct_sales_line, max(dates)), dates)


def fit_dates(history: PurchaseHistory, dates: Sequence[date], workers: int | None = None) -> list[tuple]:
    """The fit rows of every as-of date (in date order) from the purchase history.

    From ``PARALLEL_FIT_MIN_DATES`` dates on, ``workers`` processes (default one per core)
    fit them, forked from this one so that they share the history without copying it. A fit
    is numpy and scipy on its own arrays, so a date's row is the same in any process (the
    tests compare them).

    BLAS runs on one thread throughout: the optimiser's BLAS calls are on vectors of four,
    and OpenBLAS's other threads only spun between them, on the core Spark's tasks (or the
    other worker) needed: a third more CPU for the same fits (docs/benchmarks.md).
    """
    from threadpoolctl import threadpool_limits

    wanted = sorted(set(dates))
    processes = min((os.cpu_count() or 1) if workers is None else workers, len(wanted))
    if processes < 2 or len(wanted) < PARALLEL_FIT_MIN_DATES or "fork" not in mp.get_all_start_methods():
        with threadpool_limits(limits=1, user_api="blas"):
            return [fit_from(history, d) for d in wanted]
    global _FORKED_HISTORY
    # Imported here, not in a worker: a fork taken while another thread imports would hold
    # that import's lock forever.
    import scipy.optimize  # noqa: F401
    import scipy.special  # noqa: F401

    with _FORKING:  # one history at a time: the workers take the one set when they fork
        _FORKED_HISTORY = history
        try:
            fork = mp.get_context("fork")
            with ProcessPoolExecutor(processes, mp_context=fork, initializer=_one_blas_thread) as pool:
                return list(pool.map(_fit_forked, wanted))
        finally:
            _FORKED_HISTORY = None


def _one_blas_thread() -> None:
    """A forked fit worker's BLAS on one thread, for the worker's life."""
    from threadpoolctl import threadpool_limits

    threadpool_limits(limits=1, user_api="blas")


_FORKED_HISTORY: PurchaseHistory | None = None  # what fit_dates' forked workers fit
_FORKING = threading.Lock()


def _fit_forked(as_of: date) -> tuple:
    assert _FORKED_HISTORY is not None  # noqa: S101 - set by fit_dates before its workers fork
    return fit_from(_FORKED_HISTORY, as_of)


def fit_from(history: PurchaseHistory, as_of: date) -> tuple:
    """The fit row for ``as_of`` (SCHEMA order) from the purchase history."""
    start = history.history_start(as_of)
    taken = history.up_to(as_of)
    cut = as_of.toordinal()
    # Customers as their rank among the ids: the order of np.unique's ids, so every array
    # below comes out in the order it would with the ids themselves, without sorting strings again.
    ids, cust = np.unique(history.customer[taken], return_inverse=True)
    day, margin = history.day[taken], history.margin[taken]
    # Left-censored: registered before the lake's history starts, or registration unknown.
    registered = history.registered[taken]
    cens = (registered < start.toordinal()) if start is not None else np.zeros(len(cust), dtype=bool)
    buyers = len(ids)
    censored_buyers = len(np.unique(cust[cens]))
    use = ~cens if censored_buyers < buyers else np.ones_like(cens)
    fit = clv_holdout.fit_summary(clv_holdout.summarise(cust[use], day[use], cut)) if buyers else None
    if fit is not None and censored_buyers == buyers:
        reason = "every buyer registered before the lake's first order: their histories are left-censored"
        fit = dataclasses.replace(fit, degenerate=True, reason=reason)

    # Gamma-Gamma on every buyer: spend per purchase day is not biased by a missing start.
    n_days = np.bincount(cust, minlength=buyers).astype(np.float64)
    mean_margin = np.bincount(cust, weights=margin, minlength=buyers) / np.maximum(n_days, 1)
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
    return local_frame(spark, [fit_as_of(dim_customer, fct_order, fct_sales_line, as_of)], SCHEMA)


def build(
    spark: SparkSession,
    dim_customer: DataFrame,
    fct_order: DataFrame,
    fct_sales_line: DataFrame,
    profile_dates: Sequence[date],
) -> DataFrame:
    """The fits of every profile date, from the facts as built for this run."""
    return local_frame(spark, fit_rows(dim_customer, fct_order, fct_sales_line, profile_dates), SCHEMA)


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
