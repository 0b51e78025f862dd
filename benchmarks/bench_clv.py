"""CLV model cost and accuracy: BG/NBD fit and calibration/holdout check for 100k customers.

Pure numpy/scipy on the driver, as in the pipeline (clv_model_fit collects one row per
purchase day; the fit runs on the distinct (x, t_x, T) rows with their counts). The data
follow BG/NBD exactly (c360.enhanced.marts.clv_holdout.simulate_purchase_days): two years,
customers arriving in the first, the last 183 days held out. Figures: time to summarise,
to fit (with and without the ridge, for the degeneracy verdict), to predict, and the
holdout errors of the fitted parameters next to those of the true ones.
``C360_BENCH_CLV_CUSTOMERS`` sets the size.
"""

from __future__ import annotations

import os
import time

from benchmarks.report import markdown_table, write_section

N = int(os.environ.get("C360_BENCH_CLV_CUSTOMERS", "100000"))
DAYS, ACQUISITION, HOLDOUT = 730, 365, 183


def main() -> None:
    from c360.enhanced.marts import clv_holdout
    from c360.enhanced.marts.clv_model import BgNbdParams

    truth = BgNbdParams(r=0.5, alpha=20.0, a=0.8, b=2.5)
    start = time.perf_counter()
    customer, day = clv_holdout.simulate_purchase_days(N, truth, DAYS, ACQUISITION, seed=1)
    simulated = time.perf_counter()
    s = clv_holdout.summarise(customer, day, cutoff=DAYS - HOLDOUT - 1, end=DAYS - 1)
    summarised = time.perf_counter()
    fit = clv_holdout.fit_summary(s)
    fitted = time.perf_counter()
    report = clv_holdout.evaluate_holdout(fit.params, s, HOLDOUT)
    predicted = time.perf_counter()
    oracle = clv_holdout.evaluate_holdout(truth, s, HOLDOUT)

    timings = markdown_table(
        ["step", "seconds"],
        [
            ["simulate purchase days", f"{simulated - start:.2f}"],
            [f"summarise {len(day):,} purchase days to (x, t_x, T)", f"{summarised - simulated:.2f}"],
            ["fit BG/NBD with and without the ridge (degeneracy check)", f"{fitted - summarised:.2f}"],
            ["predict the holdout for every customer", f"{predicted - fitted:.2f}"],
        ],
    )
    accuracy = markdown_table(
        ["parameters", "customers", "actual", "predicted", "total error", "MAE", "RMSE"],
        [
            [name, f"{r.customers:,}", f"{r.actual_total:,.0f}", f"{r.predicted_total:,.0f}",
             f"{100 * r.total_error:+.1f} %", f"{r.mae:.3f}", f"{r.rmse:.3f}"]
            for name, r in (("fitted", report), ("true (oracle)", oracle))
        ],
    )  # fmt: skip
    groups = markdown_table(
        ["repeat days in calibration", "customers", "mean actual", "mean predicted"],
        [[g, f"{n:,}", f"{a:.3f}", f"{p:.3f}"] for g, n, a, p in report.by_frequency],
    )
    p = fit.params
    body = (
        f"{N:,} customers, {DAYS} days, holdout {HOLDOUT} days; truth r={truth.r}, alpha={truth.alpha}, "
        f"a={truth.a}, b={truth.b}; fitted r={p.r:.3f}, alpha={p.alpha:.2f}, a={p.a:.3f}, b={p.b:.3f} "
        f"(degenerate: {fit.degenerate}).\n\n{timings}\n\n{accuracy}\n\n{groups}\n"
    )
    print(body)
    write_section("clv", "CLV model: fit time and holdout accuracy", body)


if __name__ == "__main__":
    main()
