"""Request dependencies as ``Annotated`` aliases: the pinned generation, the caller, the audit record.

They are ``async def`` because none of them blocks: FastAPI runs a plain ``def`` dependency
in the thread pool, and those hops were most of a lookup's time."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from datetime import date
from typing import Annotated

from fastapi import Depends, Header, HTTPException, Request
from fastapi.dependencies.utils import get_flat_dependant
from fastapi.exceptions import RequestValidationError

from c360.access import Principal
from c360.serve.audit import AuditRecord
from c360.serve.state import Generation, ServedLake
from c360.settings import Settings
from c360.sql import SqlEngine


async def get_settings(request: Request) -> Settings:
    return request.app.state.settings


async def get_lake(request: Request) -> ServedLake:
    return request.app.state.lake


async def get_engine(request: Request) -> SqlEngine:
    return request.app.state.engine


async def get_audit(request: Request) -> AuditRecord:
    rec = getattr(request.state, "audit", None)
    if rec is None:  # a route outside /v1: a throwaway record keeps handlers uniform
        rec = AuditRecord(request.method, request.url.path, request.url.path)
    return rec


async def get_generation(request: Request) -> Generation:
    """The generation this request reads, taken once: every table stays at one version."""
    gen = request.app.state.lake.current
    if gen is None:
        raise HTTPException(503, "the lake is still loading; retry shortly (GET /health says when it is ready)")
    return gen


SettingsDep = Annotated[Settings, Depends(get_settings)]
LakeDep = Annotated[ServedLake, Depends(get_lake)]
EngineDep = Annotated[SqlEngine, Depends(get_engine)]
GenerationDep = Annotated[Generation, Depends(get_generation)]
AuditDep = Annotated[AuditRecord, Depends(get_audit)]


async def get_principal(
    gen: GenerationDep,
    audit: AuditDep,
    x_api_key: Annotated[str | None, Header(description="Your API key (`c360 access key create`).")] = None,
) -> Principal:
    principal = gen.keys.authenticate(x_api_key)
    audit.key_id, audit.role = principal.key_id, principal.role.name
    return principal


PrincipalDep = Annotated[Principal, Depends(get_principal)]


def scope(name: str) -> Callable[[Principal], Awaitable[Principal]]:
    """A dependency admitting only roles allowed to call the ``name`` endpoints (else 403)."""

    async def check(principal: PrincipalDep) -> Principal:
        principal.role.require_scope(name)
        return principal

    return check


def check_range(start: date | None, end: date | None) -> None:
    """The 400 of every endpoint with ``from``/``to`` dates when ``from`` is after ``to``."""
    if start is not None and end is not None and start > end:
        raise HTTPException(400, "from must not be after to")


_QUERY_NAMES: dict[int, frozenset[str]] = {}  # by route: the query parameters its endpoint declares


async def known_query_parameters(request: Request) -> None:
    """A query parameter the endpoint does not take is a 422 naming the ones it does.

    FastAPI drops unknown parameters, so ``?segement=Premium`` answered every customer, and
    ``/v1/customers/{id}?as_of=...`` the latest profile, as if the filter had been applied."""
    route = request.scope.get("route")
    dependant = getattr(route, "dependant", None)
    if dependant is None:
        return
    names = _QUERY_NAMES.get(id(route))
    if names is None:
        names = _QUERY_NAMES[id(route)] = frozenset(p.alias for p in get_flat_dependant(dependant).query_params)
    unknown = [k for k in dict.fromkeys(request.query_params.keys()) if k not in names]
    if unknown:
        takes = f"it takes {', '.join(sorted(names))}" if names else "it takes no query parameters"
        raise RequestValidationError(
            [
                {"loc": ("query", k), "msg": f"unknown parameter for this endpoint; {takes}", "type": "extra_forbidden"}
                for k in unknown
            ]
        )
