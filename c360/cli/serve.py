"""``c360 serve`` (the API under uvicorn) and ``c360 export`` (a table at a version, as a file)."""

from __future__ import annotations

import shutil
import sys
import tempfile
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from c360.cli.state import state

if TYPE_CHECKING:
    from c360.serve.exports import ExportManifest


def serve(
    host: Annotated[str | None, typer.Option("--host", help="Interface to bind (default 127.0.0.1).")] = None,
    port: Annotated[int | None, typer.Option("--port", help="Port (default 8000).")] = None,
    access_log: Annotated[
        bool, typer.Option("--access-log/--no-access-log", help="Log every request (the audit table has them all).")
    ] = False,
    workers: Annotated[
        int | None,
        typer.Option("--workers", min=1, max=64, help="Server processes (default 1; C360_SERVE_WORKERS)."),
    ] = None,
) -> None:
    """Serve the published tables over HTTP (docs at /docs); no Spark in this process."""
    import uvicorn

    from c360.serve import create_app
    from c360.serve.audit import AUDIT_TABLE
    from c360.sql import served_tables
    from c360.storage.light import ensure

    settings = state.settings
    host, port = host or settings.serve_host, port or settings.serve_port
    workers = workers or settings.serve_workers
    if not served_tables(settings.lake_root):  # a mistyped C360_LAKE_ROOT would otherwise look healthy
        typer.echo(
            f"warning: no published table under {settings.lake_root}; the endpoints answer 404 until a "
            "pipeline run publishes them (is C360_LAKE_ROOT right?)",
            err=True,
        )
    if workers == 1:
        uvicorn.run(create_app(settings), host=host, port=port, log_level="info", access_log=access_log)
        return
    # Several processes: each worker builds the app from the environment (the settings are
    # environment variables, inherited), and the audit table exists before they race to create it.
    ensure(AUDIT_TABLE, settings.lake_root)
    uvicorn.run(
        "c360.serve.app:create_app_from_environment", factory=True, workers=workers, host=host, port=port,
        log_level="info", access_log=access_log,
    )  # fmt: skip


def export(
    table: Annotated[str, typer.Argument(help="A published table, tier.domain.table.")],
    out: Annotated[
        Path,
        typer.Option(
            "--out",
            "-o",
            help="File to write (or a folder: the file gets the server's name); its manifest goes next to it. "
            "'-' writes to stdout (the manifest's figures go to stderr).",
        ),
    ],
    version: Annotated[int | None, typer.Option("--version", min=0, help="Table version (default: latest).")] = None,
    as_of: Annotated[datetime | None, typer.Option("--as-of", help="The version current at this UTC time.")] = None,
    fmt: Annotated[
        str | None,
        typer.Option("--format", "-f", help="parquet or csv (default: the --out file's extension, else parquet)."),
    ] = None,
    role: Annotated[str, typer.Option("--role", help="Column access of this role.")] = "analyst",
) -> None:
    """Export a table exactly as of one version; recorded in the audit table (erasure reports list exports)."""
    import getpass

    from c360.access import get_role
    from c360.serve.audit import AUDIT_TABLE, AuditRecord
    from c360.serve.exports import FORMATS, resolve_version
    from c360.storage.light import append_rows, ensure
    from c360.storage.locks import PIPELINE_LOCK, lake_locks

    to_stdout = str(out) == "-"
    named = out.suffix.lstrip(".").lower() if not (to_stdout or out.is_dir()) else ""
    if fmt is None:
        fmt = named if named in FORMATS else "parquet"
    elif named in FORMATS and named != fmt:
        raise typer.BadParameter(f"--out {out.name} names a {named} file, but --format is {fmt}")
    if to_stdout and fmt == "parquet" and sys.stdout.isatty():
        raise typer.BadParameter("--out - would write Parquet's bytes to the terminal: redirect it, or --format csv")
    root = state.settings.lake_root
    # held shared from the version's choice to the audit's row: an erasure (exclusive) either
    # comes before the export, whose latest version then holds no subject, or after it, and
    # lists it in its report
    with lake_locks(root, [], f"export of {table}", shared=[PIPELINE_LOCK]):
        v = resolve_version(root, table, version, as_of, get_role(role))
        if not to_stdout and out.is_dir():  # the name the server gives the same export
            out = out / f"{table}.v{v}.{role}.{fmt}"
        manifest = _export(root, table, v, fmt, out, role, to_stdout)
        rec = AuditRecord(
            "CLI", "c360 export", f"c360 export {table} --version {v} --format {fmt} --out {out}", status=200,
            key_id=None, role=role, tables=[f"{table}@{v}"], rows=manifest.rows, export_table=table,
            export_version=v, export_format=fmt, export_sha256=manifest.sha256,
            error=None, sql=None, duration_ms=None,
        )  # fmt: skip
        rec.key_id = f"cli:{getpass.getuser()}"
        ensure(AUDIT_TABLE, root)
        append_rows(root, AUDIT_TABLE.name, [rec.row()], operation="audit")
    typer.echo(
        f"{table}@v{v}: {manifest.rows} rows, {manifest.bytes} bytes, sha256 {manifest.sha256} -> "
        + ("stdout" if to_stdout else str(out)),
        err=to_stdout,
    )


def _export(root: Path, table: str, v: int, fmt: str, out: Path, role: str, to_stdout: bool) -> ExportManifest:
    """Write the export (to a scratch file first when it goes to stdout)."""
    from c360.serve.exports import write_export
    from c360.sql import SqlEngine

    engine = SqlEngine(root, workers=1, memory_bytes=state.settings.sql_memory_bytes(1))
    try:
        with tempfile.TemporaryDirectory(prefix="c360-export-") as scratch:
            target = Path(scratch) / f"export.{fmt}" if to_stdout else out
            manifest = write_export(engine, table, v, fmt, target, role=role)
            if to_stdout:  # written whole first, so the hash and the audit describe exactly these bytes
                with target.open("rb") as fp:
                    shutil.copyfileobj(fp, sys.stdout.buffer)
                sys.stdout.buffer.flush()
    finally:
        engine.close()
    return manifest
