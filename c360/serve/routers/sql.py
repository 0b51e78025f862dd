"""SQL by table name: one read-only SELECT, the caller's column access applied first."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends

from c360.access import SQL, Principal
from c360.serve.deps import AuditDep, EngineDep, GenerationDep, SettingsDep, StrictQueryRoute, scope
from c360.serve.models import ColumnOut, SqlRequest, SqlResponse
from c360.sql import json_records

router = APIRouter(prefix="/v1", tags=[SQL], route_class=StrictQueryRoute)
Caller = Annotated[Principal, Depends(scope(SQL))]


@router.post("/sql", response_model=SqlResponse, summary="Run one read-only SELECT over the published tables")
def run_sql(
    body: SqlRequest, caller: Caller, gen: GenerationDep, engine: EngineDep, audit: AuditDep, settings: SettingsDep
) -> SqlResponse:
    """Tables are named ``tier.domain.table``, e.g.
    ``SELECT customer_segment, avg(predicted_clv_12m) FROM enhanced.customer.customer360_profile GROUP BY 1``.
    Refused with 400: anything but one SELECT, DDL, DML, several statements, file or URL reads."""
    audit.sql = body.sql
    limit = min(body.limit or settings.serve_sql_row_limit, settings.serve_sql_row_limit)
    result = engine.query(
        body.sql, role=caller.role, snapshot=gen.snapshot, limit=limit, timeout=settings.serve_sql_timeout_seconds
    )
    audit.read(result.versions)
    audit.rows = result.rows
    return SqlResponse(
        columns=[ColumnOut(name=f.name, type=str(f.type)) for f in result.table.schema],
        rows=json_records(result.table),
        row_count=result.rows,
        truncated=result.truncated,
        versions=result.versions,
    )
