"""BG/NBD and Gamma-Gamma on the driver: published values, the Euler form, parameter recovery."""

from __future__ import annotations

import math

import numpy as np
import pytest
from scipy.special import hyp2f1

from c360.enhanced.marts import clv_model
from c360.enhanced.marts.clv_model import BgNbdParams, GammaGammaParams

# Fader, Hardie & Lee (2005), CDNOW sample, time in weeks.
CDNOW = BgNbdParams(r=0.243, alpha=4.414, a=0.793, b=2.426)


def test_expected_purchases_matches_the_published_cdnow_example() -> None:
    # The paper: a customer with x=2, t_x=30.43, T=38.86 makes 1.226 purchases in the next 39 weeks.
    got = clv_model.bg_nbd_expected_purchases(CDNOW, 39, [2], [30.43], [38.86])
    assert got[0] == pytest.approx(1.226, abs=5e-4)


@pytest.mark.parametrize(("x", "T"), [(0, 5.0), (2, 38.86), (10, 300.0), (40, 20.0)])
def test_euler_form_of_the_tail_equals_the_direct_form(x: int, T: float) -> None:
    r, alpha, a, b = CDNOW.r, CDNOW.alpha, CDNOW.a, CDNOW.b
    z = 39 / (alpha + T + 39)
    direct = ((alpha + T) / (alpha + T + 39)) ** (r + x) * hyp2f1(r + x, b + x, a + b + x - 1, z)
    assert clv_model.bg_nbd_tail(CDNOW, 39, [x], [T])[0] == pytest.approx(direct, rel=1e-9)


def test_p_alive_is_one_without_repeat_purchases_and_falls_with_silence() -> None:
    p = clv_model.bg_nbd_p_alive(CDNOW, [0, 3, 3], [0, 30, 10], [40, 40, 40])
    assert p[0] == 1.0
    assert 0 < p[2] < p[1] < 1


def _simulate(n: int, truth: BgNbdParams, seed: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    lam = rng.gamma(truth.r, 1 / truth.alpha, n)
    drop = rng.beta(truth.a, truth.b, n)
    ages = rng.integers(30, 366, n).astype(float)
    xs, txs = np.zeros(n), np.zeros(n)
    for i in range(n):
        t = 0.0
        while True:
            t += rng.exponential(1 / lam[i])
            if t > ages[i]:
                break
            xs[i], txs[i] = xs[i] + 1, math.floor(t)
            if rng.random() < drop[i]:
                break
    return xs, txs, ages


def test_fit_recovers_simulated_bg_nbd_parameters() -> None:
    truth = BgNbdParams(r=0.5, alpha=20.0, a=0.8, b=2.5)
    x, t_x, T = _simulate(1500, truth, seed=7)
    fit = clv_model.fit_bg_nbd(x, t_x, T, np.ones_like(x))
    # Population quantities are identified tightly: mean purchase rate r/alpha and mean dropout a/(a+b).
    assert fit.r / fit.alpha == pytest.approx(truth.r / truth.alpha, rel=0.15)
    assert fit.a / (fit.a + fit.b) == pytest.approx(truth.a / (truth.a + truth.b), rel=0.2)


def _direct_log_likelihood(p: BgNbdParams, x: np.ndarray, t_x: np.ndarray, T: np.ndarray) -> np.ndarray:
    """Eq. 6 of Fader, Hardie & Lee (2005) evaluated row by row, as c360 evaluated it before."""
    from scipy.special import gammaln

    a1 = gammaln(p.r + x) - gammaln(p.r) + p.r * np.log(p.alpha)
    a2 = gammaln(p.a + p.b) + gammaln(p.b + x) - gammaln(p.b) - gammaln(p.a + p.b + x)
    a3 = -(p.r + x) * np.log(p.alpha + T)
    with np.errstate(divide="ignore", invalid="ignore"):
        a4 = np.where(x > 0, np.log(p.a) - np.log(p.b + x - 1) - (p.r + x) * np.log(p.alpha + t_x), -np.inf)
    return a1 + a2 + np.logaddexp(a3, a4)


def test_the_likelihood_per_distinct_value_equals_the_direct_one_bit_for_bit() -> None:
    """The likelihood is evaluated per distinct value of each column: every element must equal
    the row-by-row evaluation exactly, or a fit's published digits would move."""
    truth = BgNbdParams(r=0.5, alpha=20.0, a=0.8, b=2.5)
    x, t_x, T = _simulate(1500, truth, seed=11)
    likelihood = clv_model.BgNbdLikelihood(x, t_x, T)
    assert len(likelihood.xu) < len(x) and len(likelihood.Tu) < len(x)  # the distinct values are fewer
    # Ordinary points, the degenerate corners the optimiser visits (a < 1, b < 1) and bounds.
    for p in (truth, BgNbdParams(0.01, 0.5, 0.3, 0.2), BgNbdParams(7281.5, 1e-3, 22025.2, 1e4)):
        direct = _direct_log_likelihood(p, x, t_x, T)
        assert np.array_equal(likelihood(p), direct, equal_nan=True)
        assert np.array_equal(clv_model.bg_nbd_log_likelihood(p, x, t_x, T), direct, equal_nan=True)


def _direct_gamma_gamma(p: GammaGammaParams, x: np.ndarray, m: np.ndarray) -> np.ndarray:
    """The Gamma-Gamma log-density evaluated row by row, as c360 evaluated it before."""
    from scipy.special import gammaln

    return (
        gammaln(p.p * x + p.q)
        - gammaln(p.p * x)
        - gammaln(p.q)
        + p.q * np.log(p.gamma)
        + (p.p * x - 1) * np.log(m)
        + p.p * x * np.log(x)
        - (p.p * x + p.q) * np.log(p.gamma + m * x)
    )


def test_the_gamma_gamma_density_per_distinct_count_equals_the_direct_one_bit_for_bit() -> None:
    """Its x-only terms are evaluated per distinct purchase count: every element must equal
    the row-by-row evaluation exactly, or the fit's published digits would move."""
    rng = np.random.default_rng(5)
    x = rng.integers(1, 40, 3000).astype(np.float64)
    m = rng.gamma(2.0, 0.7, 3000)
    m[:3] = [0.0, 1e-300, 1e6]  # the edges: a zero mean (log 0), a tiny and a huge one
    likelihood = clv_model.GammaGammaLikelihood(x, m)
    assert len(likelihood.xu) < len(x)
    # CDNOW's parameters, the bounds the optimiser reaches, and a plain point.
    corners = (GammaGammaParams(4.5e-5, 1.0 + 4.5e-5, 2.2e4), GammaGammaParams(1.0, 2.0, 1.0))
    for p in (GammaGammaParams(6.25, 3.74, 15.44), *corners):
        with np.errstate(divide="ignore", invalid="ignore"):
            direct = _direct_gamma_gamma(p, x, m)
        assert np.array_equal(likelihood(p), direct, equal_nan=True)
        assert np.array_equal(clv_model.gamma_gamma_log_likelihood(p, x, m), direct, equal_nan=True)


def test_fit_is_finite_for_degenerate_populations() -> None:
    for fit in (
        clv_model.fit_bg_nbd([0, 0], [0, 0], [3, 10], [1, 1]),  # nobody came back
        clv_model.fit_bg_nbd([1], [5], [5], [1]),  # one customer
    ):
        e = clv_model.bg_nbd_expected_purchases(fit, 365, [0, 1, 5], [0, 5, 20], [3, 5, 30])
        assert np.all(np.isfinite(e)) and np.all(e >= 0)


def test_gamma_gamma_shrinks_towards_the_population_mean() -> None:
    gg = GammaGammaParams(p=6.25, q=3.74, gamma=15.44)  # CDNOW, Fader, Hardie & Lee (2005)
    assert gg.population_mean == pytest.approx(35.22, abs=0.01)
    few, many = clv_model.gamma_gamma_expected_spend(gg, [1, 100], [100.0, 100.0])
    assert gg.population_mean < few < many < 100.0
    assert clv_model.gamma_gamma_expected_spend(gg, [0], [0.0])[0] == pytest.approx(gg.population_mean)


def test_gamma_gamma_fit_needs_enough_repeat_customers_and_recovers_the_mean() -> None:
    assert clv_model.fit_gamma_gamma([2] * 9, [10.0] * 9) is None
    rng = np.random.default_rng(3)
    nu = rng.gamma(3.7, 1 / 15.4, 800)  # q, gamma: spend scale per customer
    x = rng.integers(2, 10, 800)
    m = np.array([rng.gamma(6.0, 1 / v, k).mean() for v, k in zip(nu, x, strict=True)])
    fit = clv_model.fit_gamma_gamma(x, m)
    assert fit is not None and fit.q > 1
    assert fit.population_mean == pytest.approx(6.0 * 15.4 / 2.7, rel=0.15)
