"""Request dependencies as ``Annotated`` aliases: the pinned generation, the caller, the audit record."""

from __future__ import annotations

from collections.abc import Callable
from typing import Annotated

from fastapi import Depends, Header, HTTPException, Request

from c360.access import Principal
from c360.serve.audit import AuditRecord
from c360.serve.state import Generation, ServedLake
from c360.settings import Settings
from c360.sql import SqlEngine


def get_settings(request: Request) -> Settings:
    return request.app.state.settings


def get_lake(request: Request) -> ServedLake:
    return request.app.state.lake


def get_engine(request: Request) -> SqlEngine:
    return request.app.state.engine


def get_audit(request: Request) -> AuditRecord:
    rec = getattr(request.state, "audit", None)
    if rec is None:  # a route outside /v1: a throwaway record keeps handlers uniform
        rec = AuditRecord(request.method, request.url.path, request.url.path)
    return rec


def get_generation(request: Request) -> Generation:
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


def get_principal(
    gen: GenerationDep,
    audit: AuditDep,
    x_api_key: Annotated[str | None, Header(description="Your API key (`c360 access key create`).")] = None,
) -> Principal:
    principal = gen.keys.authenticate(x_api_key)
    audit.key_id, audit.role = principal.key_id, principal.role.name
    return principal


PrincipalDep = Annotated[Principal, Depends(get_principal)]


def scope(name: str) -> Callable[[Principal], Principal]:
    """A dependency admitting only roles allowed to call the ``name`` endpoints (else 403)."""

    def check(principal: PrincipalDep) -> Principal:
        principal.role.require_scope(name)
        return principal

    return check
