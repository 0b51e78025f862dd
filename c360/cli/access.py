"""``c360 access ...``: roles and API keys of the serving API (keys are stored as hashes only)."""

from __future__ import annotations

from typing import Annotated

import typer
from rich.table import Table

from c360.cli.state import make_console, state

app = typer.Typer(help="Roles and API keys of the serving API.", no_args_is_help=True)
key_app = typer.Typer(help="Create, list and revoke API keys.", no_args_is_help=True)
app.add_typer(key_app, name="key")
console = make_console()


@app.command("roles")
def roles() -> None:
    """List the roles, the column tags they are granted and the endpoints they may call."""
    from c360.access import ROLES

    out = Table("role", "tags granted", "endpoints", "tables", "description")
    for r in ROLES.values():
        tables = "every published table" if r.tables is None else ", ".join(r.tables)
        out.add_row(r.name, ", ".join(sorted(r.grants)), ", ".join(sorted(r.scopes)), tables, r.description)
    console.print(out)


@key_app.command("create")
def create(
    role: Annotated[str, typer.Option("--role", help="analyst, application or steward.")],
    note: Annotated[str, typer.Option("--note", help="Who or what the key is for.")] = "",
) -> None:
    """Create a key; the key is printed once, alone on the last line (only its hash is stored)."""
    from c360.access import ROLES, create_key

    if role not in ROLES:
        raise typer.BadParameter(f"unknown role {role!r} (one of {', '.join(ROLES)})")
    key, record = create_key(state.settings.lake_root, role, note)
    typer.echo(f"created key {record.key_id} for role {role}; store it now, it cannot be shown again:")
    typer.echo(key)


@key_app.command("list")
def list_() -> None:
    """List keys: id, role, created, revoked (never the key or its hash)."""
    from c360.access import list_keys

    out = Table("key id", "role", "created (UTC)", "revoked (UTC)", "note")
    for k in list_keys(state.settings.lake_root):
        revoked = k.revoked_at.isoformat(timespec="seconds") if k.revoked_at else "-"
        out.add_row(k.key_id, k.role, k.created_at.isoformat(timespec="seconds"), revoked, k.note)
    console.print(out)


@key_app.command("revoke")
def revoke(key_id: Annotated[str, typer.Argument(help="The key id shown by `c360 access key list`.")]) -> None:
    """Revoke a key: a running server refuses it after its next reload."""
    from c360.access import revoke_key

    key = revoke_key(state.settings.lake_root, key_id)
    typer.echo(f"revoked key {key.key_id} (role {key.role}) at {key.revoked_at}")
