"""The latest quality status per table, read from the ops tables with delta-rs (no Spark).

``c360 quality report`` runs in a second instead of paying for a JVM: the ops tables
are small and DataFusion (inside delta-rs) filters them.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime
from pathlib import Path
from typing import Any

import pyarrow as pa
from deltalake import QueryBuilder

from c360.quality.ops import ANOMALIES_TABLE, RESULTS_TABLE, data_docs_dir, resolve_in_lake
from c360.storage.catalog import LakeCatalog


@dataclass(frozen=True)
class FailedExpectation:
    expectation: str
    severity: str
    unexpected_count: int | None
    element_count: int | None
    observed_value: str | None
    details: str | None


@dataclass(frozen=True)
class AnomalyRow:
    metric: str
    value: float
    expected: float
    z_score: float
    blocks: bool
    plot: str | None


@dataclass(frozen=True)
class TableStatus:
    """The latest validation attempt of one table for one run date (file paths resolved
    against the lake's current root)."""

    table: str
    run_date: date
    run_id: str
    status: str
    published: bool
    table_version: int | None
    validated_at: datetime
    expectations: int
    failures: tuple[FailedExpectation, ...]
    anomalies: tuple[AnomalyRow, ...]
    data_docs: str | None


def _sql_text(value: str) -> str:
    return "'" + value.replace("'", "''") + "'"


def _query(catalog: LakeCatalog, name: str, sql: str) -> list[dict[str, Any]]:
    reader = QueryBuilder().register("t", catalog.open(name)).execute(sql)
    return pa.table(reader.read_all()).to_pylist()


def table_status(lake_root: Path, table: str | None = None, run_date: date | None = None) -> list[TableStatus]:
    """Latest attempt per table (for ``run_date``, or the table's latest run date)."""
    catalog = LakeCatalog(lake_root)
    if not catalog.exists(RESULTS_TABLE):
        return []
    where = []
    if table is not None:
        where.append(f"table_name = {_sql_text(table)}")
    if run_date is not None:
        where.append(f"run_date = DATE {_sql_text(run_date.isoformat())}")
    cond = f"WHERE {' AND '.join(where)}" if where else ""
    latest = _query(
        catalog,
        RESULTS_TABLE,
        f"SELECT table_name, max(run_date) AS run_date FROM t {cond} GROUP BY table_name ORDER BY table_name",
    )
    out = []
    for row in latest:
        name, day = row["table_name"], row["run_date"]
        key = f"table_name = {_sql_text(name)} AND run_date = DATE {_sql_text(day.isoformat())}"
        rows = _query(catalog, RESULTS_TABLE, f"SELECT * FROM t WHERE {key}")
        last = max(r["validated_at"] for r in rows)
        attempt = [r for r in rows if r["validated_at"] == last]
        first = attempt[0]
        failures = tuple(
            FailedExpectation(
                r["expectation"],
                r["severity"],
                r["unexpected_count"],
                r["element_count"],
                r["observed_value"],
                r["details"],
            )
            for r in sorted(attempt, key=lambda r: (r["severity"], r["expectation"]))
            if not r["success"]
        )
        anomalies: tuple[AnomalyRow, ...] = ()
        if catalog.exists(ANOMALIES_TABLE):
            found = _query(catalog, ANOMALIES_TABLE, f"SELECT * FROM t WHERE {key} ORDER BY metric")
            anomalies = tuple(
                AnomalyRow(
                    a["metric"], a["value"], a["expected"], a["z_score"], a["blocks"], _shown(lake_root, a["plot"])
                )
                for a in found
                if a["run_id"] == first["run_id"] and a["validated_at"] == last
            )
        out.append(
            TableStatus(
                table=name,
                run_date=day,
                run_id=first["run_id"],
                status=first["status"],
                published=first["published"],
                table_version=first["table_version"],
                validated_at=last,
                expectations=len(attempt),
                failures=failures,
                anomalies=anomalies,
                data_docs=_shown(lake_root, first["data_docs"]),
            )
        )
    return out


def _shown(lake_root: Path, stored: str | None) -> str | None:
    path = resolve_in_lake(lake_root, stored)
    return None if path is None else str(path)


def data_docs_index(lake_root: Path) -> Path:
    return data_docs_dir(lake_root) / "index.html"


def offline_index(lake_root: Path) -> Path:
    return data_docs_dir(lake_root) / OFFLINE_INDEX


OFFLINE_INDEX = "c360-index.html"
_STATUS_COLOURS = {"passed": "#1a7f37", "warn": "#9a6700", "failed": "#cf222e"}


def write_offline_index(lake_root: Path) -> Path | None:
    """An index of every validation page that needs no network: ``ops/data_docs/c360-index.html``.

    GX's own index.html lists the validations with bootstrap-table and jQuery loaded from
    CDNs; on a machine without the internet it shows an empty page, and the validation pages
    (plain HTML, readable unstyled) cannot be found from it. This one is server-rendered HTML
    with its style inline and no script: one row per validation attempt, newest first, with
    its table, run date, run, verdict, failed expectations and the link to its page. Rewritten
    from ``ops.quality.expectation_results`` whenever Data Docs are built."""
    import html
    import os

    catalog = LakeCatalog(lake_root)
    if not catalog.exists(RESULTS_TABLE):
        return None
    attempts = _query(
        catalog,
        RESULTS_TABLE,
        "SELECT table_name, run_date, run_id, status, published, table_version, validated_at, "
        "count(*) AS expectations, sum(CASE WHEN success THEN 0 ELSE 1 END) AS failed, max(data_docs) AS page "
        "FROM t GROUP BY table_name, run_date, run_id, status, published, table_version, validated_at "
        "ORDER BY validated_at DESC, table_name",
    )
    folder = data_docs_dir(lake_root)
    rows = []
    for a in attempts:
        page = resolve_in_lake(lake_root, a["page"])
        link = (
            f'<a href="{html.escape(Path(os.path.relpath(page, folder)).as_posix())}">page</a>'
            if page is not None and page.exists()
            else "-"
        )
        colour = _STATUS_COLOURS.get(a["status"], "#57606a")
        version = f"v{a['table_version']}" if a["published"] and a["table_version"] is not None else "not published"
        cells = [
            html.escape(a["validated_at"].strftime("%Y-%m-%d %H:%M:%S")),
            html.escape(a["table_name"]),
            html.escape(a["run_date"].isoformat()),
            f'<b style="color:{colour}">{html.escape(a["status"])}</b>',
            html.escape(version),
            f"{a['failed']} of {a['expectations']}",
            f"<code>{html.escape(a['run_id'])}</code>",
            link,
        ]
        rows.append("<tr>" + "".join(f"<td>{c}</td>" for c in cells) + "</tr>")
    head = ["validated (UTC)", "table", "run date", "verdict", "published", "failed", "run", "Data Docs"]
    text = (
        '<!DOCTYPE html>\n<html><head><meta charset="utf-8"><title>c360 quality gates</title><style>'
        "body{font-family:system-ui,sans-serif;margin:2em;color:#1f2328}"
        "table{border-collapse:collapse;font-size:14px}th,td{padding:4px 10px;border-bottom:1px solid #d0d7de;"
        "text-align:left;white-space:nowrap}th{background:#f6f8fa;position:sticky;top:0}code{font-size:12px}"
        "</style></head><body>\n<h1>c360 quality gates</h1>\n"
        f"<p>{len(attempts)} validation(s), newest first. This page needs no network; Great Expectations' "
        '<a href="index.html">index.html</a> loads its scripts from the internet.</p>\n'
        "<table><thead><tr>"
        + "".join(f"<th>{h}</th>" for h in head)
        + "</tr></thead><tbody>\n"
        + "\n".join(rows)
        + "\n</tbody></table></body></html>\n"
    )
    out = offline_index(lake_root)
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = out.with_name(f".{out.name}.partial")
    tmp.write_text(text, encoding="utf-8")
    tmp.replace(out)
    return out
