"""BG/NBD and Gamma-Gamma: the population parameters behind the predicted 12-month CLV.

Why these models: BG/NBD (Fader, Hardie & Lee 2005, "Counting your customers the easy
way") is the standard model for non-contractual repeat buying, where a customer's
departure is never observed; it needs only each customer's (frequency, recency, age), and
it turns "has not bought for a while" into a probability that depends on the customer's
own buying rate. Gamma-Gamma (Fader, Hardie & Lee 2005, "RFM and CLV") shrinks a
customer's average spend per purchase towards the population's, more so the fewer
purchases it rests on.

Only the few population parameters are fitted here, on the driver, from small arrays
collected from Spark (a histogram of (x, t_x, T) and one (purchases, mean margin) pair per
repeat customer). Per-customer scoring is done in Spark column expressions by the mart;
the one term Spark cannot express (the Gauss hypergeometric function 2F1) is tabulated
here per distinct (x, T) pair and joined back.

Conventions: time in days; x = repeat purchase days (purchase days - 1); t_x = days from
first to last purchase day; T = days from first purchase day to the as-of date.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from numpy.typing import ArrayLike, NDArray

# A ridge on the log-parameters (a Gaussian prior centred on parameters of 1) so tiny or
# degenerate populations (a handful of customers, nobody repeating) still give finite
# parameters. Its weight is fixed in units of customers: it is added to the *summed*
# log-likelihood, so with n customers it weighs 1/n of the data term and fades as the
# population grows (PENALIZER customers' worth of evidence). Added to the mean instead
# (as before 2026-11), it kept the same pull at every size and decided small fits.
PENALIZER = 0.1
# Likelihood-ratio test, one degree of freedom at 95 %: a regularised fit whose summed
# log-likelihood is within this of the unregularised one is not distinguishable from it.
FLAT_LOG_LIKELIHOOD = 1.92
# Mean dropout probabilities a/(a+b) further apart than this factor are a different story.
DROPOUT_RATIO = 2.0
_LOG_BOUND = 10.0  # parameters stay within [e^-10, e^10]
# Too few repeat buyers to estimate spend heterogeneity: use each customer's own average.
MIN_GAMMA_GAMMA_CUSTOMERS = 10


@dataclass(frozen=True)
class BgNbdParams:
    r: float
    alpha: float
    a: float
    b: float


@dataclass(frozen=True)
class GammaGammaParams:
    p: float
    q: float
    gamma: float

    @property
    def population_mean(self) -> float:
        return self.p * self.gamma / (self.q - 1.0)


def _minimize(objective, start: NDArray[np.float64]) -> NDArray[np.float64]:  # noqa: ANN001 - a callable
    from scipy.optimize import minimize

    bounds = [(-_LOG_BOUND, _LOG_BOUND)] * len(start)
    res = minimize(objective, start, method="L-BFGS-B", bounds=bounds)
    # Nelder-Mead from the gradient solution polishes flat valleys where L-BFGS-B stops early.
    res = minimize(
        objective, res.x, method="Nelder-Mead", bounds=bounds, options={"maxiter": 4000, "xatol": 1e-8, "fatol": 1e-12}
    )
    return np.asarray(res.x, dtype=np.float64)


def bg_nbd_log_likelihood(params: BgNbdParams, x: ArrayLike, t_x: ArrayLike, T: ArrayLike) -> NDArray[np.float64]:
    """Per-customer log-likelihood (Fader, Hardie & Lee 2005, eq. 6)."""
    return BgNbdLikelihood(*(np.asarray(v, dtype=np.float64) for v in (x, t_x, T)))(params)


class BgNbdLikelihood:
    """The BG/NBD log-likelihood over fixed (x, t_x, T), for an optimiser's thousands of calls.

    A histogram of 100,000 customers has some 40,000 rows but few distinct values per column
    (about 30 counts x and a year's days of t_x and T), and fewer distinct (x, T) and (x, t_x)
    pairs than rows. Each term is evaluated once per distinct value or pair it depends on and
    gathered; per row run only the gathers, ``logaddexp`` and one addition. Each element goes through the
    operations of eq. 6 in the order of its direct, per-row evaluation, so the values equal it
    bit for bit (tests/enhanced/marts/test_clv_model.py) and a fit's published digits do not
    depend on how the rows repeat.
    """

    def __init__(self, x: NDArray[np.float64], t_x: NDArray[np.float64], T: NDArray[np.float64]) -> None:
        self.xu, self.ix = np.unique(x, return_inverse=True)
        self.txu, itx = np.unique(t_x, return_inverse=True)
        self.Tu, iT = np.unique(T, return_inverse=True)
        # The (x, T) and (x, t_x) pairs, as indexes into the distinct values, and each row's pair.
        self.x_of_T, self.T_of_x, self.iT = _pairs(self.ix, iT, len(self.Tu))
        self.x_of_tx, self.tx_of_x, self.itx = _pairs(self.ix, itx, len(self.txu))

    def __call__(self, params: BgNbdParams) -> NDArray[np.float64]:
        from scipy.special import gammaln

        r, alpha, a, b = params.r, params.alpha, params.a, params.b
        xu = self.xu
        a1 = gammaln(r + xu) - gammaln(r) + r * np.log(alpha)
        a2 = gammaln(a + b) + gammaln(b + xu) - gammaln(b) - gammaln(a + b + xu)
        a3 = (-(r + xu[self.x_of_T]) * np.log(alpha + self.Tu)[self.T_of_x])[self.iT]
        with np.errstate(divide="ignore", invalid="ignore"):
            head = (np.log(a) - np.log(b + xu - 1))[self.x_of_tx]
            a4 = head - (r + xu[self.x_of_tx]) * np.log(alpha + self.txu)[self.tx_of_x]
            a4 = np.where(xu[self.x_of_tx] > 0, a4, -np.inf)[self.itx]
        return (a1 + a2)[self.ix] + np.logaddexp(a3, a4)


def _pairs(first: NDArray[np.intp], second: NDArray[np.intp], seconds: int) -> tuple[NDArray[np.intp], ...]:
    """The distinct (first, second) index pairs, as two index arrays, and each row's pair."""
    pair, row_pair = np.unique(first.astype(np.int64) * seconds + second, return_inverse=True)
    return pair // seconds, pair % seconds, row_pair


def fit_bg_nbd(
    x: ArrayLike, t_x: ArrayLike, T: ArrayLike, weights: ArrayLike, penalizer: float = PENALIZER
) -> BgNbdParams:
    """Maximum (penalised) likelihood over a weighted histogram of (x, t_x, T); deterministic
    for the same histogram. ``penalizer`` is the ridge's weight in customers (see PENALIZER)."""
    xs, txs, Ts, ws = (np.asarray(v, dtype=np.float64) for v in (x, t_x, T, weights))
    total = ws.sum()
    log_likelihood = BgNbdLikelihood(xs, txs, Ts)

    def objective(log_params: NDArray[np.float64]) -> float:
        p = BgNbdParams(*np.exp(log_params))
        ll = log_likelihood(p)
        # Divided by n for the optimiser's scale only; the ridge's weight relative to the data is penalizer / n.
        value = (-(ws * ll).sum() + penalizer * float((log_params**2).sum())) / total
        return float(value) if np.isfinite(value) else 1e100

    return BgNbdParams(*(float(v) for v in np.exp(_minimize(objective, np.zeros(4)))))


@dataclass(frozen=True)
class BgNbdFit:
    """A fit with the evidence needed to trust it (or not).

    ``degenerate`` is set when the data cannot tell the dropout process apart: nobody
    repeated, the unregularised optimum runs to a parameter bound, or the regularised and
    unregularised fits are statistically indistinguishable (likelihood-ratio test) while
    telling different dropout stories (mean dropout probability apart by DROPOUT_RATIO).
    Then the ridge, not the data, chose the parameters.
    """

    params: BgNbdParams
    log_likelihood: float  # summed, unpenalised, at ``params``
    unregularised: BgNbdParams
    unregularised_log_likelihood: float
    customers: int
    repeat_customers: int
    degenerate: bool
    reason: str | None

    @property
    def dropout_probability(self) -> float:
        return self.params.a / (self.params.a + self.params.b)


def _dropout(p: BgNbdParams) -> float:
    return p.a / (p.a + p.b)


def fit_bg_nbd_checked(
    x: ArrayLike, t_x: ArrayLike, T: ArrayLike, weights: ArrayLike, penalizer: float = PENALIZER
) -> BgNbdFit:
    """:func:`fit_bg_nbd` with and without the ridge, and the degeneracy verdict."""
    xs, txs, Ts, ws = (np.asarray(v, dtype=np.float64) for v in (x, t_x, T, weights))
    reg = fit_bg_nbd(xs, txs, Ts, ws, penalizer)
    free = fit_bg_nbd(xs, txs, Ts, ws, 0.0)
    ll_reg = float((ws * bg_nbd_log_likelihood(reg, xs, txs, Ts)).sum())
    ll_free = float((ws * bg_nbd_log_likelihood(free, xs, txs, Ts)).sum())
    repeat = int(ws[xs > 0].sum())
    at_bound = any(abs(np.log(v)) >= _LOG_BOUND - 0.5 for v in (free.r, free.alpha, free.a, free.b))
    d_reg, d_free = _dropout(reg), _dropout(free)
    ratio = max(d_reg, d_free) / max(min(d_reg, d_free), 1e-300)
    reason = None
    if repeat == 0:
        reason = "no repeat buyers: the purchase and dropout rates cannot be separated"
    elif at_bound:
        reason = f"unregularised optimum at a parameter bound ({free}): the dropout process is not identified"
    elif ll_free - ll_reg < FLAT_LOG_LIKELIHOOD and ratio > DROPOUT_RATIO:
        reason = (
            f"likelihood flat between the regularised and unregularised fits (difference {ll_free - ll_reg:.3f}) "
            f"while their mean dropout probabilities differ {ratio:.3g}-fold"
        )
    return BgNbdFit(reg, ll_reg, free, ll_free, int(ws.sum()), repeat, reason is not None, reason)


def _safe_a(a: float) -> float:
    # The expectation has a removable singularity at a = 1 ((a+b+x-1)/(a-1) * (1 - G) is 0/0).
    return a if abs(a - 1.0) > 1e-6 else 1.0 + 1e-6


def bg_nbd_tail(params: BgNbdParams, t: float, x: ArrayLike, T: ArrayLike) -> NDArray[np.float64]:
    """G(x, T) = ((alpha+T)/(alpha+T+t))^(r+x) * 2F1(r+x, b+x; a+b+x-1; t/(alpha+T+t)).

    Evaluated through Euler's transformation, (1-z)^(a-1) * 2F1(a+b-1-r, a-1; a+b+x-1; z),
    whose parameters stay small however many purchases a customer has (the direct form
    multiplies a vanishing power by an overflowing series).
    """
    from scipy.special import hyp2f1

    x, T = np.asarray(x, dtype=np.float64), np.asarray(T, dtype=np.float64)
    r, alpha, a, b = params.r, params.alpha, _safe_a(params.a), params.b
    z = t / (alpha + T + t)
    return (1.0 - z) ** (a - 1.0) * hyp2f1(a + b - 1.0 - r, a - 1.0, a + b + x - 1.0, z)


def bg_nbd_p_alive(params: BgNbdParams, x: ArrayLike, t_x: ArrayLike, T: ArrayLike) -> NDArray[np.float64]:
    """P(still active | x, t_x, T); the mart computes the same closed form in Spark."""
    x, t_x, T = (np.asarray(v, dtype=np.float64) for v in (x, t_x, T))
    r, alpha, a, b = params.r, params.alpha, params.a, params.b
    with np.errstate(divide="ignore", invalid="ignore", over="ignore"):
        odds = np.where(x > 0, a / (b + x - 1) * ((alpha + T) / (alpha + t_x)) ** (r + x), 0.0)
    return 1.0 / (1.0 + odds)


def bg_nbd_expected_purchases(
    params: BgNbdParams, t: float, x: ArrayLike, t_x: ArrayLike, T: ArrayLike
) -> NDArray[np.float64]:
    """E[purchases in the next t days | x, t_x, T] (Fader, Hardie & Lee 2005, eq. 10)."""
    x = np.asarray(x, dtype=np.float64)
    a, b = _safe_a(params.a), params.b
    lead = (a + b + x - 1.0) / (a - 1.0)
    return lead * (1.0 - bg_nbd_tail(params, t, x, T)) * bg_nbd_p_alive(params, x, t_x, T)


def gamma_gamma_log_likelihood(params: GammaGammaParams, x: ArrayLike, m: ArrayLike) -> NDArray[np.float64]:
    """Per-customer log-density of the mean spend m over x purchases."""
    return GammaGammaLikelihood(np.asarray(x, dtype=np.float64), np.asarray(m, dtype=np.float64))(params)


class GammaGammaLikelihood:
    """The Gamma-Gamma log-density over fixed (x, m), for an optimiser's calls.

    Its ``gammaln`` terms and ``p x log x`` depend on x alone, a few dozen purchase counts
    among tens of thousands of customers: they are evaluated per distinct x and gathered, and
    ``log m`` and ``m x`` once. Each element goes through the operations of the direct
    evaluation in its order, so the values equal it bit for bit
    (tests/enhanced/marts/test_clv_model.py).
    """

    def __init__(self, x: NDArray[np.float64], m: NDArray[np.float64]) -> None:
        self.xu, self.ix = np.unique(x, return_inverse=True)
        self.log_xu = np.log(self.xu)
        with np.errstate(divide="ignore", invalid="ignore"):
            self.log_m = np.log(m)
        self.mx = m * x

    def __call__(self, params: GammaGammaParams) -> NDArray[np.float64]:
        from scipy.special import gammaln

        p, q, g = params.p, params.q, params.gamma
        px = p * self.xu
        head = (gammaln(px + q) - gammaln(px) - gammaln(q) + q * np.log(g))[self.ix]
        row_px = px[self.ix]
        with np.errstate(divide="ignore", invalid="ignore"):
            return head + (row_px - 1) * self.log_m + (px * self.log_xu)[self.ix] - (row_px + q) * np.log(g + self.mx)


def fit_gamma_gamma(x: ArrayLike, m: ArrayLike) -> GammaGammaParams | None:
    """Fit on customers with >= 2 purchases and a positive mean; None when too few of them.

    q is kept above 1 (q = 1 + e^theta): below it the population mean spend is infinite.
    """
    xs, ms = np.asarray(x, dtype=np.float64), np.asarray(m, dtype=np.float64)
    keep = (xs >= 2) & (ms > 0)
    xs, ms = xs[keep], ms[keep]
    if len(xs) < MIN_GAMMA_GAMMA_CUSTOMERS:
        return None
    scale = float(np.mean(ms))  # fit in units of the mean spend so the start point is sensible
    log_likelihood = GammaGammaLikelihood(xs, ms / scale)

    def params_of(theta: NDArray[np.float64]) -> GammaGammaParams:
        return GammaGammaParams(float(np.exp(theta[0])), 1.0 + float(np.exp(theta[1])), float(np.exp(theta[2])))

    def objective(theta: NDArray[np.float64]) -> float:
        ll = log_likelihood(params_of(theta))
        value = (-ll.sum() + PENALIZER * float((theta**2).sum())) / len(xs)
        return float(value) if np.isfinite(value) else 1e100

    fitted = params_of(_minimize(objective, np.zeros(3)))
    return GammaGammaParams(fitted.p, fitted.q, fitted.gamma * scale)


def gamma_gamma_expected_spend(params: GammaGammaParams, x: ArrayLike, m: ArrayLike) -> NDArray[np.float64]:
    """E[spend per purchase | x purchases with mean m]: a weighted mean of m and the population mean."""
    x, m = np.asarray(x, dtype=np.float64), np.asarray(m, dtype=np.float64)
    return params.p * (params.gamma + x * m) / (params.p * x + params.q - 1.0)
