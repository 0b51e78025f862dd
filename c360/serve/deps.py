"""Request dependencies as ``Annotated`` aliases: the pinned generation, the caller, the audit record.

They are ``async def`` because none of them blocks: FastAPI runs a plain ``def`` dependency
in the thread pool, and those hops were most of a lookup's time."""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Coroutine
from datetime import date
from typing import Annotated, Any

from fastapi import Depends, Header, HTTPException, Request, Response
from fastapi.dependencies.utils import get_flat_dependant
from fastapi.exceptions import RequestValidationError
from fastapi.routing import APIRoute

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


class StrictQueryRoute(APIRoute):
    """A route whose unknown query parameters are a 422 naming the ones it takes.

    FastAPI drops parameters an endpoint does not declare, so ``?segement=Premium`` answered
    every customer, and ``/v1/customers/{id}?as_of=...`` the latest profile, as if the filter
    had been applied. Checked in the route's handler, not a dependency: a request without a
    query string (most lookups) pays one dictionary read."""

    def get_route_handler(self) -> Callable[[Request], Coroutine[Any, Any, Response]]:
        handler = super().get_route_handler()
        names = frozenset(p.alias for p in get_flat_dependant(self.dependant).query_params)
        takes = f"it takes {', '.join(sorted(names))}" if names else "it takes no query parameters"

        async def strict(request: Request) -> Response:
            if request.scope.get("query_string"):
                unknown = [k for k in dict.fromkeys(request.query_params.keys()) if k not in names]
                if unknown:
                    msg = f"unknown parameter for this endpoint; {takes}"
                    raise RequestValidationError(
                        [{"loc": ("query", k), "msg": msg, "type": "extra_forbidden"} for k in unknown]
                    )
            return await handler(request)

        return strict
