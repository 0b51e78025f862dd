"""Anomaly detection over a table's daily metrics history: trend + weekday seasonality.

Every point is judged only against the days before it (the same rule the daily run
applies to "today"), so a backtest over the history shows exactly what the gate
would have said on each day.

Method, for a metric ``y`` on day ``t`` with the previous ``lookback_days`` as history:

1. **Scale.** If every value in the window is > 0 the model works on ``log(y)``
   (counts and amounts vary multiplicatively: a weekday effect of +30% stays +30%
   as the table grows); otherwise on ``y`` itself (rates that can be 0, signed sums).
2. **Trend.** ``trend(s)`` = median of the ``trend_days`` (7) days before ``s``: one of
   each weekday, so the weekly pattern cancels, and up to 3 outliers are ignored.
3. **Weekday profile.** ``d(s) = y(s) - trend(s)``; ``profile[w]`` = median of ``d`` over
   the history days with weekday ``w`` (8 weeks -> 8 values each).
4. **Residual and robust z.** ``r(s) = d(s) - profile[weekday(s)]`` on the history;
   (leave-one-out: each history day against a profile built without it, the way day
   ``t`` is judged); ``center = median(r)``, ``scale = 1.4826 * MAD(r)`` (the MAD scaled to a normal
   sigma), floored at ``rel_floor`` (1%) of the level on the log scale or
   ``max(rel_floor * |trend|, abs_floor)`` on the raw scale, so a metric that never
   moves (a null rate stuck at 0) does not turn a tiny wobble into an infinite z.
   ``expected(t) = trend(t) + profile[weekday(t)] + center`` and
   ``z(t) = (y(t) - expected(t)) / scale``.
5. **Flag** when ``|z| > threshold`` (4.0). A normal residual exceeds 4 sigma about
   once in 16,000 days; the medians of short windows add estimation noise, which is
   why the threshold is 4 and not 3. A 50% drop in a row count whose daily noise is a
   few percent sits at z ~ -15.

Nothing is judged until ``min_history`` (28) days with values precede the point.
Values and bands are reported back on the metric's own scale.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, timedelta
from pathlib import Path

import numpy as np

MAD_TO_SIGMA = 1.4826


@dataclass(frozen=True)
class DetectorSettings:
    """Thresholds of the detector (the defaults are the documented method)."""

    threshold: float = 4.0
    trend_days: int = 7
    lookback_days: int = 56
    min_history: int = 28
    rel_floor: float = 0.01
    abs_floor: float = 0.001


@dataclass(frozen=True)
class Score:
    """The detector's view of one day of one metric (``z`` is None when not judged)."""

    day: date
    value: float
    expected: float | None
    lower: float | None
    upper: float | None
    z: float | None
    flagged: bool


def score_series(
    days: Sequence[date], values: Sequence[float], settings: DetectorSettings | None = None
) -> list[Score]:
    """Judge every day of a daily series against the days before it."""
    cfg = settings or DetectorSettings()
    series = dict(zip(days, (float(v) for v in values), strict=True))
    return [score_day(series, day, cfg) for day in sorted(series)]


def score_day(series: dict[date, float], day: date, cfg: DetectorSettings) -> Score:
    """Judge ``series[day]`` against the ``lookback_days`` before it."""
    value = series[day]
    first = day - timedelta(days=cfg.lookback_days + cfg.trend_days)
    window = [first + timedelta(days=i) for i in range((day - first).days + 1)]
    raw = np.array([series.get(d, np.nan) for d in window], dtype=float)
    unjudged = Score(day, value, None, None, None, None, False)
    finite = raw[np.isfinite(raw)]
    if not math.isfinite(value) or finite.size == 0:
        return unjudged
    use_log = bool(np.all(finite > 0))
    y = np.log(raw) if use_log else raw
    n = len(window)
    trend = np.full(n, np.nan)
    for i in range(cfg.trend_days, n):
        prev = y[i - cfg.trend_days : i]
        prev = prev[np.isfinite(prev)]
        if prev.size >= (cfg.trend_days + 1) // 2:
            trend[i] = np.median(prev)
    d = y - trend
    weekdays = np.array([w.weekday() for w in window])
    hist = np.isfinite(d) & (np.arange(n) < n - 1)
    if hist.sum() < cfg.min_history or not math.isfinite(trend[-1]):
        return unjudged
    profile = np.zeros(7)
    for w in range(7):
        sel = hist & (weekdays == w)
        if sel.sum() >= 2:
            profile[w] = np.median(d[sel])
    # Leave-one-out residuals: day s is compared with a profile built without it, as day t
    # is; in-sample medians would shrink the residuals and overstate every z.
    resid_list = []
    for k in np.flatnonzero(hist).tolist():
        others = hist & (weekdays == weekdays[k])
        others[k] = False
        resid_list.append(d[k] - (np.median(d[others]) if others.sum() >= 2 else 0.0))
    resid = np.array(resid_list)
    center = float(np.median(resid))
    mad_scale = MAD_TO_SIGMA * float(np.median(np.abs(resid - center)))
    level = float(trend[-1])
    floor = cfg.rel_floor if use_log else max(cfg.rel_floor * abs(level), cfg.abs_floor)
    scale = max(mad_scale, floor)
    expected = level + float(profile[weekdays[-1]]) + center
    z = (float(y[-1]) - expected) / scale
    lo, hi = expected - cfg.threshold * scale, expected + cfg.threshold * scale
    if use_log:
        expected, lo, hi = math.exp(expected), math.exp(lo), math.exp(hi)
    return Score(day, value, expected, lo, hi, z, abs(z) > cfg.threshold)


def plot_scores(scores: Sequence[Score], title: str, path: Path) -> Path:
    """A PNG a person can read: the metric, the expected band, flagged days in red.

    Drawn on a ``Figure`` of its own, not through pyplot, whose global figure registry is not
    thread-safe: a step publishes several tables at a time (c360.publish)."""
    import matplotlib.dates as mdates
    from matplotlib.figure import Figure

    path.parent.mkdir(parents=True, exist_ok=True)

    def days(of: Sequence[Score]) -> np.ndarray:
        return np.array([s.day for s in of], dtype="datetime64[D]")

    def values(of: Sequence[Score], attr: str) -> np.ndarray:
        return np.array([getattr(s, attr) for s in of], dtype=float)

    fig = Figure(figsize=(11, 4.5), dpi=110)
    ax = fig.subplots()
    judged = [s for s in scores if s.expected is not None]
    if judged:
        ax.fill_between(
            days(judged),
            values(judged, "lower"),
            values(judged, "upper"),
            color="tab:blue",
            alpha=0.15,
            label="expected band (|z| <= threshold)",
        )
        ax.plot(
            days(judged),
            values(judged, "expected"),
            color="tab:blue",
            lw=1,
            ls="--",
            label="expected",
        )
    ax.plot(
        days(scores),
        values(scores, "value"),
        color="black",
        lw=1.2,
        marker=".",
        ms=4,
        label="observed",
    )
    flagged = [s for s in scores if s.flagged]
    if flagged:
        ax.scatter(
            days(flagged),
            values(flagged, "value"),
            s=70,
            color="red",
            zorder=5,
            label="anomaly",
        )
        for s in flagged:
            ax.annotate(
                f"{s.day:%a %d %b}\nz={s.z:+.1f}",
                (s.day, s.value),
                textcoords="offset points",
                xytext=(6, -18 if (s.z or 0) < 0 else 8),
                fontsize=8,
                color="red",
            )
    ax.set_title(title, fontsize=11)
    ax.xaxis.set_major_formatter(mdates.DateFormatter("%d %b"))
    ax.grid(alpha=0.3)
    ax.legend(loc="best", fontsize=8)
    fig.autofmt_xdate()
    fig.tight_layout()
    fig.savefig(path)
    return path
