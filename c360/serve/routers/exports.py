"""Exports: a published table exactly as of one version, streamed as Parquet or CSV."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import datetime
from pathlib import Path
from typing import Annotated, Literal

from fastapi import APIRouter, Depends, Query
from fastapi import Path as PathParam
from fastapi.responses import StreamingResponse

from c360.access import EXPORTS, Principal
from c360.serve.deps import AuditDep, EngineDep, SettingsDep, StrictQueryRoute, scope
from c360.serve.exports import MEDIA_TYPES, ExportManifest, manifest_path, resolve_version, write_export

router = APIRouter(prefix="/v1", tags=[EXPORTS], route_class=StrictQueryRoute)
Caller = Annotated[Principal, Depends(scope(EXPORTS))]


def _file_chunks(path: Path, size: int = 1 << 16) -> Iterator[bytes]:
    with path.open("rb") as fp:
        while chunk := fp.read(size):
            yield chunk


@router.get(
    "/exports/{table}",
    response_class=StreamingResponse,
    responses={200: {"content": {t: {} for t in MEDIA_TYPES.values()}, "description": "The file, streamed."}},
    summary="A table exactly as of a version, as a file",
)
def export(
    caller: Caller,
    engine: EngineDep,
    audit: AuditDep,
    settings: SettingsDep,
    table: Annotated[str, PathParam(max_length=200, pattern=r"^[a-z][a-z0-9_]*\.[a-z][a-z0-9_]*\.[a-z][a-z0-9_]*$")],
    version: Annotated[int | None, Query(ge=0, le=2**62)] = None,
    as_of: Annotated[datetime | None, Query(description="export the version current at this time")] = None,
    format: Annotated[Literal["parquet", "csv"], Query()] = "parquet",
) -> StreamingResponse:
    """Headers: X-C360-Table, X-C360-Version, X-C360-Rows, X-C360-SHA256. The same version gives
    byte-identical files; the file is written once per version, format and column set, then served."""
    caller.role.require_table(table)
    v = resolve_version(settings.lake_root, table, version, as_of, caller.role)
    folder = settings.export_dir / table / f"v{v}"
    out = folder / f"{table}.v{v}.{caller.role.name}.{format}"
    if out.exists() and manifest_path(out).exists():
        manifest = ExportManifest.read(manifest_path(out))
    else:
        manifest = write_export(engine, table, v, format, out, role=caller.role)
    audit.read({table: v})
    audit.rows = manifest.rows
    audit.export_table, audit.export_version = table, v
    audit.export_format, audit.export_sha256 = format, manifest.sha256
    headers = {
        "X-C360-Table": table,
        "X-C360-Version": str(v),
        "X-C360-Rows": str(manifest.rows),
        "X-C360-SHA256": manifest.sha256,
        "Content-Length": str(manifest.bytes),
        "Content-Disposition": f'attachment; filename="{out.name}"',
    }
    return StreamingResponse(_file_chunks(out), media_type=MEDIA_TYPES[format], headers=headers)
