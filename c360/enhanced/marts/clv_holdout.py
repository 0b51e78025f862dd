"""Calibration/holdout evidence for the BG/NBD fit, and a purchase process with known truth.

The standard check of a repeat-buying model (Fader, Hardie & Lee 2005; ``lifetimes``'
``calibration_and_holdout_data``; PyMC-Marketing): fit on the purchases before a cut-off,
predict each customer's purchases in the holdout period after it, and compare with what
happened -- in total, by number of calibration purchases, and per customer.

Everything here is numpy on the driver, on one (customer, purchase day) pair per purchase
day: the model-fit table collects those pairs from Spark (a few per customer), and the
tests and the benchmark generate them with :func:`simulate_purchase_days`.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
from numpy.typing import ArrayLike, NDArray

from c360.enhanced.marts import clv_model
from c360.enhanced.marts.clv_model import BgNbdFit, BgNbdParams

# Calibration purchases (x = repeat purchase days) are grouped 0, 1, ..., 6 and "7+".
FREQUENCY_GROUPS = 7


@dataclass(frozen=True)
class RfmSummary:
    """Per customer, BG/NBD's sufficient statistics at a cut-off (days), and holdout purchase days."""

    x: NDArray[np.float64]
    t_x: NDArray[np.float64]
    T: NDArray[np.float64]
    holdout: NDArray[np.float64]


def summarise(customer: ArrayLike, day: ArrayLike, cutoff: int, end: int | None = None) -> RfmSummary:
    """(x, t_x, T) from the purchase days on or before ``cutoff`` of every customer who had bought by
    then, and the purchase days in (cutoff, end] (0 when ``end`` is None).

    ``customer`` and ``day`` are one pair per purchase (same-day purchases count once: the
    model counts purchase days); days are integers (days since any epoch).
    """
    c, d = np.asarray(customer), np.asarray(day, dtype=np.int64)
    if c.shape != d.shape:
        raise ValueError(f"customer and day must pair up, got {c.shape} and {d.shape}")
    pairs = np.unique(np.stack([np.unique(c, return_inverse=True)[1], d]), axis=1)
    ids, days = pairs[0], pairs[1]
    calib = days <= cutoff
    n = int(ids.max()) + 1 if ids.size else 0
    count = np.bincount(ids[calib], minlength=n).astype(np.float64)
    first = np.full(n, np.iinfo(np.int64).max)
    last = np.full(n, np.iinfo(np.int64).min)
    np.minimum.at(first, ids[calib], days[calib])
    np.maximum.at(last, ids[calib], days[calib])
    later = (~calib) & (days <= (end if end is not None else cutoff))
    holdout = np.bincount(ids[later], minlength=n).astype(np.float64)
    seen = count > 0
    return RfmSummary(
        x=count[seen] - 1,
        t_x=(last[seen] - first[seen]).astype(np.float64),
        T=(cutoff - first[seen]).astype(np.float64),
        holdout=holdout[seen],
    )


def fit_summary(s: RfmSummary, penalizer: float = clv_model.PENALIZER) -> BgNbdFit:
    """Fit on the distinct (x, t_x, T) rows with their counts: the same fit, a fraction of the work."""
    rows, counts = np.unique(np.stack([s.x, s.t_x, s.T], axis=1), axis=0, return_counts=True)
    return clv_model.fit_bg_nbd_checked(rows[:, 0], rows[:, 1], rows[:, 2], counts, penalizer)


@dataclass(frozen=True)
class HoldoutReport:
    """Predicted against actual holdout purchase days."""

    customers: int
    holdout_days: int
    actual_total: float
    predicted_total: float
    mae: float  # mean absolute per-customer error, purchase days
    rmse: float
    # per calibration-frequency group (x = 0..6, 7+): customers, mean actual, mean predicted
    by_frequency: tuple[tuple[str, int, float, float], ...]
    predicted: NDArray[np.float64]
    actual: NDArray[np.float64]

    @property
    def total_error(self) -> float:
        """(predicted - actual) / actual over everybody; NaN without holdout purchases."""
        return (self.predicted_total - self.actual_total) / self.actual_total if self.actual_total else float("nan")


def evaluate_holdout(params: BgNbdParams, s: RfmSummary, holdout_days: int) -> HoldoutReport:
    """Predict each calibration customer's purchases over the holdout and compare with ``s.holdout``."""
    if holdout_days <= 0:
        raise ValueError(f"the holdout period must be at least one day, got {holdout_days}")
    pred = clv_model.bg_nbd_expected_purchases(params, float(holdout_days), s.x, s.t_x, s.T)
    err = pred - s.holdout
    group = np.minimum(s.x, FREQUENCY_GROUPS).astype(int)
    by = tuple(
        (
            str(g) if g < FREQUENCY_GROUPS else f"{FREQUENCY_GROUPS}+",
            int((group == g).sum()),
            float(s.holdout[group == g].mean()),
            float(pred[group == g].mean()),
        )
        for g in range(FREQUENCY_GROUPS + 1)
        if (group == g).any()
    )
    n = len(pred)
    return HoldoutReport(
        customers=n,
        holdout_days=holdout_days,
        actual_total=float(s.holdout.sum()),
        predicted_total=float(pred.sum()),
        mae=float(np.abs(err).mean()) if n else float("nan"),
        rmse=float(np.sqrt((err**2).mean())) if n else float("nan"),
        by_frequency=by,
        predicted=pred,
        actual=s.holdout,
    )


def plot_holdout(report: HoldoutReport, path: Path) -> Path:
    """Mean predicted and actual holdout purchases by calibration purchases (the lifetimes plot)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    labels = [g[0] for g in report.by_frequency]
    fig, ax = plt.subplots(figsize=(7, 4))
    ax.plot(labels, [g[2] for g in report.by_frequency], marker="o", label="actual")
    ax.plot(labels, [g[3] for g in report.by_frequency], marker="s", label="predicted (BG/NBD)")
    ax.set_xlabel("repeat purchase days in calibration")
    ax.set_ylabel(f"mean purchase days in the {report.holdout_days}-day holdout")
    totals = f"predicted {report.predicted_total:.0f}, actual {report.actual_total:.0f}"
    ax.set_title(f"{report.customers} customers: {totals}")
    ax.legend()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=100, bbox_inches="tight")
    plt.close(fig)
    return path


def simulate_purchase_days(
    n: int, truth: BgNbdParams, days: int, acquisition_days: int, seed: int
) -> tuple[NDArray[np.int64], NDArray[np.int64]]:
    """(customer, day) of every purchase day of ``n`` customers following BG/NBD exactly.

    Each customer makes a first purchase on a uniform day of the first ``acquisition_days``,
    buys at a Poisson rate lambda ~ Gamma(r, alpha) per day, and after each repeat purchase
    leaves for good with probability p ~ Beta(a, b) (BG/NBD: never right after the first).
    Vectorised over customers, one round per purchase.
    """
    rng = np.random.default_rng(seed)
    lam = rng.gamma(truth.r, 1.0 / truth.alpha, n)
    drop = rng.beta(truth.a, truth.b, n)
    t = rng.integers(0, acquisition_days, n).astype(np.float64)
    customers, out_days = [np.arange(n)], [t.astype(np.int64)]
    active = np.arange(n)
    while active.size:
        t[active] += rng.exponential(1.0, active.size) / lam[active]
        active = active[t[active] < days]
        customers.append(active)
        out_days.append(np.floor(t[active]).astype(np.int64))
        active = active[rng.random(active.size) >= drop[active]]
    return np.concatenate(customers), np.concatenate(out_days)
