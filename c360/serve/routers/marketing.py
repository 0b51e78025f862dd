"""Marketing: churn-risk and win-back lists for a campaign, segment sizes and value, loyalty tiers."""

from __future__ import annotations

from datetime import date
from typing import Annotated

from fastapi import APIRouter, Depends, Query

from c360.access import MARKETING, Principal
from c360.serve.aggregate import latest_as_of, lit, run
from c360.serve.deps import AuditDep, EngineDep, GenerationDep, StrictQueryRoute, scope
from c360.serve.models import Rows
from c360.serve.state import PROFILE

router = APIRouter(prefix="/v1/marketing", tags=[MARKETING], route_class=StrictQueryRoute)
Caller = Annotated[Principal, Depends(scope(MARKETING))]
AsOf = Annotated[date | None, Query(description="as-of date of the profile (default: the latest)")]
Limit = Annotated[int, Query(ge=1, le=10_000, description="most rows returned")]
P = f'"{PROFILE}"'
LIST_COLUMNS = (
    "customer_id, customer_segment, loyalty_tier, rfm_segment, churn_risk_score, churn_risk_label, "
    "orders_count, total_spent, historical_clv, predicted_clv_12m, last_purchase_date"
)


@router.get("/churn-risk", response_model=Rows, summary="Customers at churn risk, riskiest first")
def churn_risk(
    caller: Caller,
    gen: GenerationDep,
    engine: EngineDep,
    audit: AuditDep,
    as_of: AsOf = None,
    min_score: Annotated[float, Query(ge=0, le=1, allow_inf_nan=False, description="churn_risk_score at least")] = 0.6,
    limit: Limit = 1000,
) -> Rows:
    day = latest_as_of(gen, as_of)
    sql = (
        f"SELECT {LIST_COLUMNS} FROM {P} WHERE as_of_date = {lit(day or date.min)} "
        f"AND churn_risk_score >= {lit(min_score)} ORDER BY churn_risk_score DESC, customer_id"
    )
    return run(engine, gen, caller, audit, sql, limit)


@router.get("/win-back", response_model=Rows, summary="Win-back campaign list: profitable buyers at high risk")
def win_back(
    caller: Caller, gen: GenerationDep, engine: EngineDep, audit: AuditDep, as_of: AsOf = None, limit: Limit = 1000
) -> Rows:
    day = latest_as_of(gen, as_of)
    sql = (
        f"SELECT {LIST_COLUMNS} FROM {P} WHERE as_of_date = {lit(day or date.min)} AND flag_win_back "
        "ORDER BY historical_clv DESC, customer_id"
    )
    return run(engine, gen, caller, audit, sql, limit)


@router.get("/segments", response_model=Rows, summary="RFM segment sizes and value")
def segments(caller: Caller, gen: GenerationDep, engine: EngineDep, audit: AuditDep, as_of: AsOf = None) -> Rows:
    day = latest_as_of(gen, as_of)
    sql = (
        "SELECT rfm_segment, count(*) AS customers, sum(total_spent) AS total_spent, "
        "sum(historical_clv) AS historical_clv, sum(predicted_clv_12m) AS predicted_clv_12m, "
        "avg(churn_risk_score) AS avg_churn_risk_score "
        f"FROM {P} WHERE as_of_date = {lit(day or date.min)} GROUP BY rfm_segment ORDER BY customers DESC, rfm_segment"
    )
    return run(engine, gen, caller, audit, sql)


@router.get("/loyalty-tiers", response_model=Rows, summary="Loyalty-tier metrics (no tier = not a member)")
def loyalty_tiers(caller: Caller, gen: GenerationDep, engine: EngineDep, audit: AuditDep, as_of: AsOf = None) -> Rows:
    day = latest_as_of(gen, as_of)
    sql = (
        "SELECT loyalty_tier, count(*) AS customers, avg(total_spent) AS avg_total_spent, "
        "avg(orders_count) AS avg_orders, avg(churn_risk_score) AS avg_churn_risk_score, "
        "avg(engagement_score) AS avg_engagement_score, sum(predicted_clv_12m) AS predicted_clv_12m "
        f"FROM {P} WHERE as_of_date = {lit(day or date.min)} GROUP BY loyalty_tier ORDER BY loyalty_tier NULLS LAST"
    )
    return run(engine, gen, caller, audit, sql)
