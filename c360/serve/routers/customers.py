"""Customers: one profile by id (from the in-memory index), filtered pages, history.

The handlers are ``async``: they read only the in-memory generation (microseconds), so a
thread-pool hop would cost more than the work; re-identification through the vault, the
one blocking read, goes to the pool (:func:`c360.serve.rows.shape_async`)."""

from __future__ import annotations

import base64
import binascii
import json
from datetime import date
from decimal import Decimal
from enum import StrEnum
from typing import Annotated

from fastapi import APIRouter, Depends, HTTPException, Path, Query

from c360.access import CUSTOMERS, AccessDenied, ColumnAccess, Principal
from c360.serve.deps import AuditDep, GenerationDep, SettingsDep, StrictQueryRoute, check_range, scope
from c360.serve.models import CustomerHistory, CustomerOut, CustomerPage
from c360.serve.rows import access_for, shape_async
from c360.serve.state import DIM_CUSTOMER, PROFILE, Generation, Match, ProfileIndex

router = APIRouter(prefix="/v1/customers", tags=[CUSTOMERS], route_class=StrictQueryRoute)
Caller = Annotated[Principal, Depends(scope(CUSTOMERS))]
CustomerId = Annotated[str, Path(min_length=1, max_length=64, description="CRM customer id")]


class ChurnRisk(StrEnum):
    low = "low"
    medium = "medium"
    high = "high"
    never_purchased = "never_purchased"


def _profiles(gen: Generation) -> ProfileIndex:
    if gen.profiles is None:
        raise HTTPException(404, f"{PROFILE} is not in the lake yet")
    return gen.profiles


@router.get("/{customer_id}", response_model=CustomerOut, summary="One customer's profile and current attributes")
async def get_customer(customer_id: CustomerId, caller: Caller, gen: GenerationDep, audit: AuditDep) -> CustomerOut:
    idx = _profiles(gen)
    access = access_for(gen, caller.role, PROFILE)
    i = idx.latest_row(customer_id)
    if i is None:
        raise HTTPException(404, f"no profile for customer {customer_id!r}")
    versions = {PROFILE: gen.version(PROFILE)}
    (profile,), extra = await shape_async(gen, [idx.row(i)], access)
    versions.update(extra)
    attributes = None
    masked = [f"{PROFILE}.{c}" for c in access.masked]
    current = gen.customers.get(customer_id)
    if current is not None and gen.table(DIM_CUSTOMER) is not None and caller.role.may_read(DIM_CUSTOMER):
        dim_access = access_for(gen, caller.role, DIM_CUSTOMER)
        (attributes,), extra = await shape_async(gen, [current], dim_access)
        versions[DIM_CUSTOMER] = gen.version(DIM_CUSTOMER)
        versions.update(extra)
        masked += [f"{DIM_CUSTOMER}.{c}" for c in dim_access.masked]
    audit.read(versions)
    audit.rows = 1
    as_of = idx.table.column("as_of_date")[i].as_py()
    return CustomerOut(
        customer_id=customer_id, as_of_date=as_of, profile=profile, attributes=attributes, masked=masked,
        versions=versions,
    )  # fmt: skip


# The filters that match a profile column exactly (query parameter -> column), and every filter.
_EQUALS = {
    "segment": "customer_segment", "rfm_segment": "rfm_segment", "churn_risk": "churn_risk_label",
    "loyalty_tier": "loyalty_tier",
}  # fmt: skip
_FILTERS = {*_EQUALS, "min_clv"}


def _filterable(access: ColumnAccess, column: str) -> None:
    # Filtering on a masked column would disclose it one bit at a time.
    if column in access.masked:
        raise AccessDenied(f"column {column} of {access.table} is outside your role; it cannot be filtered on")


MAX_CLV = 10**12  # the largest min_clv asked (the column holds less: such a filter matches nothing)
# A page's filters, as the cursor carries them: the query parameter's name -> its value as text.
Filters = dict[str, str]


def _encode_cursor(as_of: date, after: str, filters: Filters) -> str:
    body = {"d": as_of.isoformat(), "k": after, "f": filters}
    return base64.urlsafe_b64encode(json.dumps(body, ensure_ascii=False).encode()).decode().rstrip("=")


def _decode_cursor(cursor: str) -> tuple[date, str, Filters]:
    try:
        raw = json.loads(base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)))
        filters = raw["f"]
        if not isinstance(filters, dict) or not all(isinstance(v, str) for v in filters.values()):
            raise TypeError("filters")
        return date.fromisoformat(raw["d"]), str(raw["k"]), filters
    except (ValueError, KeyError, TypeError, binascii.Error, json.JSONDecodeError):
        raise HTTPException(400, "invalid cursor: pass the next_cursor of the previous page unchanged") from None


def _filters(**given: str | Decimal | None) -> Filters:
    """The filters given, as text (``min_clv`` normalised, so 100 and 100.0 are one filter)."""
    return {k: str(v.normalize() if isinstance(v, Decimal) else v) for k, v in given.items() if v is not None}


def _cursor_filters(cursor: Filters, given: Filters) -> Filters:
    """The next page's filters: the cursor's. Filters sent along with it must be the same ones:
    the cursor is a position in the selection they made."""
    if given and given != cursor:
        named = ", ".join(f"{k}={v}" for k, v in sorted(cursor.items())) or "none"
        raise HTTPException(
            400, f"the cursor belongs to other filters ({named}); pass the next_cursor alone, or with the same filters"
        )
    if not set(cursor) <= _FILTERS:
        raise HTTPException(400, "invalid cursor: pass the next_cursor of the previous page unchanged")
    return cursor


@router.get("", response_model=CustomerPage, summary="Customers by segment, churn risk, tier or value, paged")
async def list_customers(
    caller: Caller,
    gen: GenerationDep,
    audit: AuditDep,
    settings: SettingsDep,
    segment: Annotated[str | None, Query(max_length=64, description="CRM segment, e.g. Premium")] = None,
    rfm_segment: Annotated[str | None, Query(max_length=64, description="e.g. Champions, At Risk")] = None,
    churn_risk: Annotated[ChurnRisk | None, Query(description="churn risk label")] = None,
    loyalty_tier: Annotated[str | None, Query(max_length=32, description="Bronze, Silver, Gold, Platinum")] = None,
    min_clv: Annotated[
        Decimal | None,
        Query(ge=0, le=MAX_CLV, max_digits=18, decimal_places=6, description="predicted_clv_12m at least"),
    ] = None,
    as_of: Annotated[date | None, Query(description="as-of date of the profile (default: the latest)")] = None,
    limit: Annotated[int, Query(ge=1, description="page size")] = 50,
    cursor: Annotated[
        str | None, Query(max_length=2048, description="next_cursor of the previous page: it carries the filters")
    ] = None,
) -> CustomerPage:
    idx = _profiles(gen)
    if limit > settings.serve_page_max:
        raise HTTPException(400, f"limit must be at most {settings.serve_page_max}")
    access = access_for(gen, caller.role, PROFILE)
    after = None
    filters = _filters(
        segment=segment, rfm_segment=rfm_segment, churn_risk=churn_risk.value if churn_risk else None,
        loyalty_tier=loyalty_tier, min_clv=min_clv,
    )  # fmt: skip
    if cursor is not None:
        cursor_date, after, cursor_filters = _decode_cursor(cursor)
        if as_of is not None and as_of != cursor_date:
            raise HTTPException(400, "the cursor belongs to another as_of date")
        as_of = cursor_date
        filters = _cursor_filters(cursor_filters, filters)
    day = idx.day(as_of)
    where: list[Match] = []
    for name, column in _EQUALS.items():
        if name in filters:
            _filterable(access, column)
            where.append(Match(column, "eq", filters[name]))
    if "min_clv" in filters:
        _filterable(access, "predicted_clv_12m")
        try:
            least = Decimal(filters["min_clv"])
        except ArithmeticError:
            least = Decimal("NaN")
        if not (least.is_finite() and 0 <= least <= MAX_CLV):  # a cursor is a client's text too
            raise HTTPException(400, "invalid cursor: pass the next_cursor of the previous page unchanged")
        where.append(Match("predicted_clv_12m", "ge", least))
    page, more = idx.page(day, where, after, limit) if day is not None else (idx.table.slice(0, 0), False)
    # Only the visible columns become Python objects: the conversion is most of a page's cost.
    items, extra = await shape_async(gen, page.select(list(access.visible)).to_pylist(), access)
    versions = {PROFILE: gen.version(PROFILE), **extra}
    audit.read(versions)
    audit.rows = len(items)
    next_cursor = _encode_cursor(day, str(items[-1]["customer_id"]), filters) if more and items and day else None
    return CustomerPage(
        as_of_date=day, items=items, next_cursor=next_cursor, masked=list(access.masked), versions=versions
    )


@router.get("/{customer_id}/history", response_model=CustomerHistory, summary="A customer's profile over as-of dates")
async def customer_history(
    customer_id: CustomerId,
    caller: Caller,
    gen: GenerationDep,
    audit: AuditDep,
    start: Annotated[date | None, Query(alias="from", description="first as-of date")] = None,
    end: Annotated[date | None, Query(alias="to", description="last as-of date")] = None,
) -> CustomerHistory:
    check_range(start, end)
    idx = _profiles(gen)
    access = access_for(gen, caller.role, PROFILE)
    rows = idx.rows_of.get(customer_id)
    if not rows:
        raise HTTPException(404, f"no profile for customer {customer_id!r}")
    lo, hi = idx.span(start, end)
    items, extra = await shape_async(gen, [idx.row(i) for i in rows if lo <= i < hi], access)
    versions = {PROFILE: gen.version(PROFILE), **extra}
    audit.read(versions)
    audit.rows = len(items)
    return CustomerHistory(customer_id=customer_id, items=items, masked=list(access.masked), versions=versions)
