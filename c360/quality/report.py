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
