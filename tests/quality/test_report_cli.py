"""``c360 quality report`` prints each table's latest verdict from the ops tables."""

from __future__ import annotations

from datetime import UTC, date, datetime
from pathlib import Path

from typer.testing import CliRunner

from c360.quality import Anomaly, ExpectationResult, Severity, ValidationReport
from c360.quality.ops import record

D1, D2 = date(2024, 6, 3), date(2024, 6, 4)


def _report(table: str, run_id: str, day: date, results, anomalies=(), at: int = 0):  # noqa: ANN001, ANN202
    return ValidationReport(
        table=table,
        run_id=run_id,
        run_date=day,
        validated_at=datetime(2024, 6, 5, 1, at, tzinfo=UTC),
        results=tuple(results),
        metrics={"row_count": 10.0},
        anomalies=tuple(anomalies),
        anomalies_block=False,
        data_docs=Path("/docs/page.html"),
    )


def _ok(name: str) -> ExpectationResult:
    return ExpectationResult(name, "gx", Severity.ERROR, True, None, 0, 10, 0.0)


def test_report_shows_latest_attempt_failures_anomalies_and_docs(storage, settings) -> None:  # noqa: ANN001
    from c360.cli import app
    from c360.cli.state import state

    sales, stock = "enhanced.sales.fct_sales_line", "enhanced.stock.fct_stock"
    bad = ExpectationResult("unique(id)", "gx", Severity.ERROR, False, None, 2, 10, 20.0)
    odd = ExpectationResult("in_set(channel)", "gx", Severity.WARN, False, None, 1, 10, 10.0)
    stale = ExpectationResult("fresh(ts)", "freshness", Severity.WARN, False, "2024-06-01 00:00:00")
    drop = Anomaly("row_count", 10.0, 20.0, 14.0, 28.0, -9.5, Path("/plots/row_count.png"))
    record(storage, _report(sales, "old", D1, [_ok("unique(id)")]), 1, published=True)
    record(storage, _report(sales, "a1", D2, [bad, odd], at=1), 1, published=False)
    record(storage, _report(sales, "a2", D2, [_ok("unique(id)"), odd], [drop], at=2), 2, True)
    record(storage, _report(stock, "s1", D1, [_ok("not_null(sku)"), stale]), 7, True)

    state._settings = settings
    try:
        runner = CliRunner()
        latest = runner.invoke(app, ["quality", "report"])
        filtered = runner.invoke(app, ["quality", "report", "--table", sales, "--run-date", "2024-06-04"])
        empty = runner.invoke(app, ["quality", "report", "--run-date", "2024-01-01"])
        typo = runner.invoke(app, ["quality", "report", "--table", "enhanced.sales.fct_sales_lines"])
    finally:
        state._settings = None

    index = settings.lake_root / "ops" / "data_docs" / "index.html"
    assert latest.exit_code == 0, latest.output
    assert latest.output.splitlines() == [
        f"{sales}  2024-06-04  warn  (published as version 2; run a2; 2 expectations, 1 failed)",
        "    warn   in_set(channel): 1 unexpected row(s) of 10",
        "    anomaly row_count = 10, expected 20 (robust z -9.5)",
        "        plot: /plots/row_count.png",
        "    data docs: /docs/page.html",
        f"{stock}  2024-06-03  warn  (published as version 7; run s1; 2 expectations, 1 failed)",
        "    warn   fresh(ts): observed 2024-06-01 00:00:00",
        "    data docs: /docs/page.html",
        f"Data Docs index: {index}",
        f"  the same without network (GX's index loads scripts from CDNs): {index.with_name('c360-index.html')}",
    ]
    # The index that needs no network: every attempt, newest first, no script, nothing fetched.
    offline = index.with_name("c360-index.html").read_text()
    assert "<script" not in offline and "http" not in offline
    attempts = [line for line in offline.splitlines() if line.startswith("<tr><td>")]
    assert [(a.split("<td>")[2].split("<")[0], a.split("<td>")[3].split("<")[0]) for a in attempts] == [
        (sales, "2024-06-04"),  # a2, validated at 01:02
        (sales, "2024-06-04"),  # a1, 01:01
        (sales, "2024-06-03"),  # old and s1 at 01:00: by table name
        (stock, "2024-06-03"),
    ]
    assert filtered.exit_code == 0
    assert filtered.output.splitlines()[0].startswith(f"{sales}  2024-06-04  warn  (published")
    assert empty.output.strip() == f"No quality results on 2024-01-01 under {settings.lake_root}"
    # a mistyped table is named with the close ones, not answered "no quality results"
    assert "did you mean enhanced.sales.fct_sales_line" in str(typo.exception)
