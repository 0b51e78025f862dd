"""Rows on their way out: only the columns the caller's role sees, tokens re-identified for
a role that reveals (through the vault snapshot of the same generation)."""

from __future__ import annotations

from collections.abc import Iterable, Mapping

import pyarrow as pa
from deltalake import QueryBuilder
from starlette.concurrency import run_in_threadpool

from c360.access import VAULT_TABLE, ColumnAccess, Role, clear_name
from c360.serve.state import Generation
from c360.sql import FilesGoneError, files_missing


def access_for(gen: Generation, role: Role, table: str) -> ColumnAccess:
    """column_access for a table of this generation (404-style LookupError when not loaded)."""
    return gen.access(role, table)


def vault_values(gen: Generation, tokens: Iterable[str]) -> dict[str, str]:
    """Clear values of ``tokens`` from the generation's vault snapshot."""
    wanted = sorted({t for t in tokens if t})
    vault = gen.table(VAULT_TABLE)
    if not wanted or vault is None:
        return {}
    values = ", ".join("'" + t.replace("'", "''") + "'" for t in wanted)
    sql = f"SELECT token, min(value) AS value FROM v WHERE token IN ({values}) GROUP BY token"
    try:
        out = pa.table(QueryBuilder().register("v", vault.dt).execute(sql).read_all())
    except Exception:
        if files_missing(vault):
            raise FilesGoneError(
                f"the files of {VAULT_TABLE} version {vault.version} were deleted while the request read them "
                "(an erasure replaced them); retry the request"
            ) from None
        raise
    return dict(zip(out.column("token").to_pylist(), out.column("value").to_pylist(), strict=True))


def shape(
    gen: Generation, rows: list[dict[str, object]], access: ColumnAccess
) -> tuple[list[dict[str, object]], dict[str, int]]:
    """``rows`` reduced to the caller's columns; returns them and the extra versions read (the vault)."""
    if not access.reveal:  # the common case: only drop what the role may not see
        return [{c: r.get(c) for c in access.visible} for r in rows], {}
    clear: Mapping[str, str] = {}
    extra: dict[str, int] = {}
    if access.reveal:
        clear = vault_values(gen, (str(r[c]) for r in rows for c in access.reveal if r.get(c)))
        vault = gen.table(VAULT_TABLE)
        if vault is not None:
            extra[VAULT_TABLE] = vault.version
    out = []
    for r in rows:
        shaped: dict[str, object] = {}
        for c in access.visible:
            shaped[c] = r.get(c)
            if c in access.reveal:
                token = r.get(c)
                shaped[clear_name(c)] = clear.get(str(token)) if token else None
        out.append(shaped)
    return out, extra


async def shape_async(
    gen: Generation, rows: list[dict[str, object]], access: ColumnAccess
) -> tuple[list[dict[str, object]], dict[str, int]]:
    """:func:`shape` for ``async`` endpoints: in the event loop when nothing is re-identified
    (pure dict work), in the thread pool when the vault must be queried."""
    if access.reveal:
        return await run_in_threadpool(shape, gen, rows, access)
    return shape(gen, rows, access)
