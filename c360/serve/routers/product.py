"""Product: sales of a product line or category by customer segment, digital engagement by segment."""

from __future__ import annotations

from datetime import date
from typing import Annotated

from fastapi import APIRouter, Depends, Query

from c360.access import PRODUCT, Principal
from c360.serve.aggregate import latest_as_of, lit, run
from c360.serve.deps import AuditDep, EngineDep, GenerationDep, StrictQueryRoute, check_range, scope
from c360.serve.models import Rows
from c360.serve.state import PROFILE, SALES_BY_SEGMENT

router = APIRouter(prefix="/v1/product", tags=[PRODUCT], route_class=StrictQueryRoute)
Caller = Annotated[Principal, Depends(scope(PRODUCT))]


@router.get("/sales-by-segment", response_model=Rows, summary="Sales of a product line (or category) by segment")
def sales_by_segment(
    caller: Caller,
    gen: GenerationDep,
    engine: EngineDep,
    audit: AuditDep,
    category: Annotated[str | None, Query(max_length=128)] = None,
    product_line: Annotated[str | None, Query(max_length=128)] = None,
    start: Annotated[date | None, Query(alias="from", description="first sales date")] = None,
    end: Annotated[date | None, Query(alias="to", description="last sales date")] = None,
) -> Rows:
    check_range(start, end)
    conditions = ["TRUE"]
    if category is not None:
        conditions.append(f"category = {lit(category)}")
    if product_line is not None:
        conditions.append(f"product_line = {lit(product_line)}")
    if start is not None:
        conditions.append(f"sales_date >= {lit(start)}")
    if end is not None:
        conditions.append(f"sales_date <= {lit(end)}")
    sql = (
        "SELECT customer_segment, sum(revenue) AS revenue, sum(units) AS units, "
        "sum(margin_amount) AS margin_amount "
        f'FROM "{SALES_BY_SEGMENT}" WHERE {" AND ".join(conditions)} '
        "GROUP BY customer_segment ORDER BY revenue DESC, customer_segment"
    )
    return run(engine, gen, caller, audit, sql)


@router.get("/engagement-by-segment", response_model=Rows, summary="Digital (app) engagement by customer segment")
def engagement_by_segment(
    caller: Caller,
    gen: GenerationDep,
    engine: EngineDep,
    audit: AuditDep,
    as_of: Annotated[date | None, Query(description="as-of date of the profile (default: the latest)")] = None,
) -> Rows:
    day = latest_as_of(gen, as_of)
    sql = (
        "SELECT customer_segment, count(*) AS customers, avg(engagement_score) AS avg_engagement_score, "
        "sum(sessions_30d) AS sessions_30d, sum(sessions_90d) AS sessions_90d, "
        "avg(CASE WHEN sessions_90d > 0 THEN 1.0 ELSE 0.0 END) AS active_share_90d "
        f'FROM "{PROFILE}" WHERE as_of_date = {lit(day or date.min)} '
        "GROUP BY customer_segment ORDER BY customer_segment"
    )
    return run(engine, gen, caller, audit, sql)
