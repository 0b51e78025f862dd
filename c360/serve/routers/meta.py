"""Meta: the tables the caller may see, with versions, rows, descriptions, columns and tags."""

from __future__ import annotations

from typing import Annotated

import pyarrow as pa
from fastapi import APIRouter, Depends

from c360.access import META, Principal, column_access, column_tags
from c360.serve.deps import AuditDep, GenerationDep, StrictQueryRoute, scope
from c360.serve.models import ColumnMeta, TableOut, TablesOut
from c360.sql import PinnedTable

router = APIRouter(prefix="/v1", tags=[META], route_class=StrictQueryRoute)
Caller = Annotated[Principal, Depends(scope(META))]


def _rows(p: PinnedTable) -> int | None:
    """Rows from the Delta log's file statistics (no data read)."""
    actions = pa.table(p.dt.get_add_actions(flatten=True))
    if "num_records" not in actions.column_names:
        return None
    counts = actions.column("num_records").to_pylist()
    return None if any(c is None for c in counts) else int(sum(counts))


@router.get("/tables", response_model=TablesOut, summary="Published tables the caller may read")
def tables(caller: Caller, gen: GenerationDep, audit: AuditDep) -> TablesOut:
    out = []
    for name in gen.snapshot.served():
        if not caller.role.may_read(name):
            continue
        p = gen.snapshot.tables[name]
        access = column_access(caller.role, name, p.schema)
        tags = column_tags(name, p.schema)
        fields = {f.name: f for f in p.schema}
        columns = [
            ColumnMeta(
                name=c,
                type=str(fields[c].type),
                description=(fields[c].metadata or {}).get(b"comment", b"").decode(),
                tags=list(tags.get(c, ())),
            )
            for c in access.visible
        ]
        out.append(
            TableOut(
                name=name,
                version=p.version,
                rows=_rows(p),
                description=p.dt.metadata().description,
                columns=columns,
                masked=list(access.masked),
            )
        )
        audit.read({name: p.version})
    audit.rows = len(out)
    return TablesOut(tables=out)
