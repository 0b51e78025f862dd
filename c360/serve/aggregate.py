"""Aggregate endpoints run through the one SQL engine, on the request's generation and role."""

from __future__ import annotations

from datetime import date

from c360.access import Principal
from c360.serve.audit import AuditRecord
from c360.serve.models import Rows
from c360.serve.state import Generation
from c360.sql import SqlEngine, check_sql, json_records


def lit(value: str | date | int | float) -> str:
    """A SQL literal for a validated parameter (strings quoted, dates typed)."""
    if isinstance(value, date):
        return f"DATE '{value.isoformat()}'"
    if isinstance(value, bool):
        raise TypeError("no boolean literals here")
    if isinstance(value, int | float):
        return repr(value)
    return "'" + str(value).replace("'", "''") + "'"


def run(
    engine: SqlEngine, gen: Generation, caller: Principal, audit: AuditRecord, sql: str, limit: int = 10_000
) -> Rows:
    """The endpoint's query on the request's generation. A table it reads that the lake has not
    published (its product's pipeline has not run) is a 404, like a missing profile."""
    _, refs = check_sql(sql)
    missing = sorted({r.name for r in refs} - set(gen.snapshot.tables))
    if missing:
        raise LookupError(f"{', '.join(missing)} is not in the lake yet")
    result = engine.query(sql, role=caller.role, snapshot=gen.snapshot, limit=limit)
    audit.read(result.versions)
    audit.rows = result.rows
    return Rows(rows=json_records(result.table), truncated=result.truncated, versions=result.versions)


def latest_as_of(gen: Generation, given: date | None) -> date | None:
    """The as-of date asked for (404 if the profile does not hold it), else the profile's latest."""
    return gen.profiles.day(given) if gen.profiles is not None else given
