"""Health: ready only once the tables are loaded (503 before), with the versions served."""

from __future__ import annotations

import os

from fastapi import APIRouter, Response

from c360.serve.deps import EngineDep, LakeDep
from c360.serve.models import Health

router = APIRouter(tags=["health"])


@router.get("/health", response_model=Health, summary="Ready when the tables are loaded")
@router.head("/health", include_in_schema=False)  # load balancers and uptime checks probe with HEAD (was a 405)
def health(lake: LakeDep, engine: EngineDep, response: Response) -> Health:
    gen = lake.current
    if gen is None:
        response.status_code = 503
    return Health(
        ready=gen is not None,
        process=os.getpid(),
        generation=gen.number if gen else None,
        versions=gen.snapshot.versions if gen else {},
        last_reload_seconds=lake.last_reload_seconds,
        last_error=lake.last_error,
        sql_processes=engine.processes_running(),
    )
