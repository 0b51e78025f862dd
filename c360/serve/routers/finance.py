"""Finance: CLV by value segment, revenue by customer segment with its share of the total."""

from __future__ import annotations

from datetime import date
from typing import Annotated

from fastapi import APIRouter, Depends, Query

from c360.access import FINANCE, Principal
from c360.serve.aggregate import latest_as_of, lit, run
from c360.serve.deps import AuditDep, EngineDep, GenerationDep, StrictQueryRoute, check_range, scope
from c360.serve.models import Rows
from c360.serve.state import PROFILE, SALES_BY_SEGMENT

router = APIRouter(prefix="/v1/finance", tags=[FINANCE], route_class=StrictQueryRoute)
Caller = Annotated[Principal, Depends(scope(FINANCE))]


@router.get("/clv-by-segment", response_model=Rows, summary="Historical and predicted CLV by customer segment")
def clv_by_segment(
    caller: Caller,
    gen: GenerationDep,
    engine: EngineDep,
    audit: AuditDep,
    as_of: Annotated[date | None, Query(description="as-of date of the profile (default: the latest)")] = None,
) -> Rows:
    day = latest_as_of(gen, as_of)
    sql = (
        "SELECT customer_segment, count(*) AS customers, sum(historical_clv) AS historical_clv, "
        "avg(historical_clv) AS avg_historical_clv, sum(predicted_clv_12m) AS predicted_clv_12m, "
        "avg(predicted_clv_12m) AS avg_predicted_clv_12m "
        f'FROM "{PROFILE}" WHERE as_of_date = {lit(day or date.min)} '
        "GROUP BY customer_segment ORDER BY customer_segment"
    )
    return run(engine, gen, caller, audit, sql)


@router.get("/revenue-by-segment", response_model=Rows, summary="Revenue by customer segment and share of the total")
def revenue_by_segment(
    caller: Caller,
    gen: GenerationDep,
    engine: EngineDep,
    audit: AuditDep,
    start: Annotated[date | None, Query(alias="from", description="first sales date (default: the first)")] = None,
    end: Annotated[date | None, Query(alias="to", description="last sales date, the as-of date (default: all)")] = None,
) -> Rows:
    check_range(start, end)
    where = " AND ".join(
        c for c in (
            f"sales_date >= {lit(start)}" if start else "", f"sales_date <= {lit(end)}" if end else "",
        ) if c
    ) or "TRUE"  # fmt: skip
    sql = (
        "WITH s AS (SELECT customer_segment, sum(revenue) AS revenue, sum(margin_amount) AS margin_amount "
        f'FROM "{SALES_BY_SEGMENT}" WHERE {where} GROUP BY customer_segment) '
        "SELECT customer_segment, revenue, margin_amount, "
        "CAST(revenue AS DOUBLE) / CAST(sum(revenue) OVER () AS DOUBLE) AS revenue_share "
        "FROM s ORDER BY revenue DESC, customer_segment"
    )
    return run(engine, gen, caller, audit, sql)
