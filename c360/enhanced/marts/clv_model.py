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

# Shrinks log-parameters towards 0 (parameters towards 1) so tiny or degenerate populations
# (a handful of customers, nobody repeating) still give finite parameters; at realistic
# sizes its effect is negligible (the data term is a mean over customers).
PENALIZER = 1e-3
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
    from scipy.special import gammaln

    x, t_x, T = (np.asarray(v, dtype=np.float64) for v in (x, t_x, T))
    r, alpha, a, b = params.r, params.alpha, params.a, params.b
    a1 = gammaln(r + x) - gammaln(r) + r * np.log(alpha)
    a2 = gammaln(a + b) + gammaln(b + x) - gammaln(b) - gammaln(a + b + x)
    a3 = -(r + x) * np.log(alpha + T)
    with np.errstate(divide="ignore", invalid="ignore"):
        a4 = np.where(x > 0, np.log(a) - np.log(b + x - 1) - (r + x) * np.log(alpha + t_x), -np.inf)
    return a1 + a2 + np.logaddexp(a3, a4)


def fit_bg_nbd(x: ArrayLike, t_x: ArrayLike, T: ArrayLike, weights: ArrayLike) -> BgNbdParams:
    """Maximum likelihood over a weighted histogram of (x, t_x, T); deterministic for the same histogram."""
    xs, txs, Ts, ws = (np.asarray(v, dtype=np.float64) for v in (x, t_x, T, weights))
    total = ws.sum()

    def objective(log_params: NDArray[np.float64]) -> float:
        p = BgNbdParams(*np.exp(log_params))
        ll = bg_nbd_log_likelihood(p, xs, txs, Ts)
        value = -(ws * ll).sum() / total + PENALIZER * float((log_params**2).sum())
        return float(value) if np.isfinite(value) else 1e100

    return BgNbdParams(*(float(v) for v in np.exp(_minimize(objective, np.zeros(4)))))


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
    from scipy.special import gammaln

    x, m = np.asarray(x, dtype=np.float64), np.asarray(m, dtype=np.float64)
    p, q, g = params.p, params.q, params.gamma
    return (
        gammaln(p * x + q)
        - gammaln(p * x)
        - gammaln(q)
        + q * np.log(g)
        + (p * x - 1) * np.log(m)
        + p * x * np.log(x)
        - (p * x + q) * np.log(g + m * x)
    )


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

    def params_of(theta: NDArray[np.float64]) -> GammaGammaParams:
        return GammaGammaParams(float(np.exp(theta[0])), 1.0 + float(np.exp(theta[1])), float(np.exp(theta[2])))

    def objective(theta: NDArray[np.float64]) -> float:
        ll = gamma_gamma_log_likelihood(params_of(theta), xs, ms / scale)
        value = -ll.mean() + PENALIZER * float((theta**2).sum())
        return float(value) if np.isfinite(value) else 1e100

    fitted = params_of(_minimize(objective, np.zeros(3)))
    return GammaGammaParams(fitted.p, fitted.q, fitted.gamma * scale)


def gamma_gamma_expected_spend(params: GammaGammaParams, x: ArrayLike, m: ArrayLike) -> NDArray[np.float64]:
    """E[spend per purchase | x purchases with mean m]: a weighted mean of m and the population mean."""
    x, m = np.asarray(x, dtype=np.float64), np.asarray(m, dtype=np.float64)
    return params.p * (params.gamma + x * m) / (params.p * x + params.q - 1.0)
