"""Health: ready only once the tables are loaded (503 before); details for a caller with a key.

Load balancers and uptime checks call it without a key, so what it says to them is only
whether this process serves and since which reload. The versions it serves (the table list,
which the roles' access rules narrow elsewhere) and the last reload's error (whose text can
name the lake's paths) are shown to a caller with a valid key, as far as its role reads."""

from __future__ import annotations

import os
from typing import Annotated

from fastapi import APIRouter, Header, Response

from c360.access import VAULT_TABLE
from c360.serve.deps import EngineDep, LakeDep
from c360.serve.models import Health

router = APIRouter(tags=["health"])

KEY_HEADER = Header(description="Optional: with a valid key, the versions served and the last reload's error.")


@router.get("/health", response_model=Health, summary="Ready when the tables are loaded")
@router.head("/health", include_in_schema=False)  # load balancers and uptime checks probe with HEAD (was a 405)
def health(
    lake: LakeDep,
    engine: EngineDep,
    response: Response,
    x_api_key: Annotated[str | None, KEY_HEADER] = None,
) -> Health:
    gen = lake.current
    if gen is None:
        response.status_code = 503
    # a key is checked against the loaded generation's keys; none loaded, none can be checked
    principal = gen.keys.authenticate(x_api_key) if gen is not None and x_api_key is not None else None
    versions: dict[str, int] | None = None
    error = None
    if principal is not None and gen is not None:
        role = principal.role
        versions = {
            t: v for t, v in gen.snapshot.versions.items() if role.may_read(t) or (role.reveal and t == VAULT_TABLE)
        }
        error = lake.last_error
    return Health(
        ready=gen is not None,
        process=os.getpid(),
        generation=gen.number if gen else None,
        versions=versions,
        last_reload_seconds=lake.last_reload_seconds,
        reload_failed=lake.last_error is not None,
        last_error=error,
        sql_processes=engine.processes_running(),
    )
