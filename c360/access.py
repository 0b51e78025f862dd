"""Who may read what: roles grant column tags, and one function turns (role, table) into columns.

Access is data, not endpoint code. The contracts and table specs tag columns (pii,
sensitive, subject); a role is granted tags and a set of tables. :func:`column_access` is
the one place that decides which columns of a table a role sees, which are masked (removed
before the data leaves), and which token columns are re-identified through the vault. The
API, the SQL engine and exports all call it before any data is read.

API keys are random secrets shown once; the lake stores only their SHA-256 (see
:mod:`c360.serve.keys`).
"""

from __future__ import annotations

import fnmatch
from collections.abc import Iterable, Mapping
from dataclasses import dataclass

import pyarrow as pa

from c360.registry import PII, SENSITIVE, SUBJECT
from c360.storage.names import TableName
from c360.storage.schema import TAGS_KEY

VAULT_TABLE = "vault.pii.values"
SERVED_TIERS = ("enhanced",)  # published tables only; raw, sanitized, vault and ops are never served
TOKEN_SUFFIX = "_token"  # a pii column holding an HMAC token of a vault value

# Endpoint groups (OpenAPI tags). A role lists the groups it may call.
CUSTOMERS = "customers"
MARKETING = "marketing"
FINANCE = "finance"
PRODUCT = "product"
AIR_QUALITY = "air-quality"
META = "meta"
SQL = "sql"
EXPORTS = "exports"
SCOPES = (CUSTOMERS, MARKETING, FINANCE, PRODUCT, AIR_QUALITY, META, SQL, EXPORTS)


class AccessDenied(PermissionError):
    """A table, column or endpoint outside the caller's role (HTTP 403)."""


class Unauthenticated(PermissionError):
    """No API key, or a key that is unknown or revoked (HTTP 401)."""


@dataclass(frozen=True)
class Role:
    """``grants``: column tags the role may see. ``tables``: fnmatch patterns of readable
    tables (None: every published table). ``reveal``: token columns are re-identified
    through the vault for this role."""

    name: str
    description: str
    grants: frozenset[str]
    scopes: frozenset[str]
    tables: tuple[str, ...] | None = None
    reveal: bool = False

    def may_read(self, table: str) -> bool:
        if not is_served(table):
            return False
        return self.tables is None or any(fnmatch.fnmatchcase(table, p) for p in self.tables)

    def require_scope(self, scope: str) -> None:
        if scope not in self.scopes:
            raise AccessDenied(f"role {self.name!r} may not call the {scope} endpoints")

    def require_table(self, table: str) -> None:
        if TableName.parse(table).tier == "vault":
            raise AccessDenied(f"{table} is never served")
        if not is_served(table):
            raise AccessDenied(f"{table} is not a published table; only the enhanced tier is served")
        if not self.may_read(table):
            raise AccessDenied(f"role {self.name!r} may not read {table}")


ANALYST = Role(
    "analyst",
    "Every published table, SQL and exports; no PII.",
    grants=frozenset({SENSITIVE, SUBJECT}),
    scopes=frozenset(SCOPES),
)
APPLICATION = Role(
    "application",
    "The customer and air-quality endpoints (and the tables behind them); no PII.",
    grants=frozenset({SENSITIVE, SUBJECT}),
    scopes=frozenset({CUSTOMERS, AIR_QUALITY, META}),
    tables=("enhanced.customer.customer360_profile", "enhanced.customer.dim_customer", "enhanced.air_quality.*"),
)
STEWARD = Role(
    "steward",
    "Everything, with PII: token columns are shown in clear, resolved through the vault.",
    grants=frozenset({PII, SENSITIVE, SUBJECT}),
    scopes=frozenset(SCOPES),
    reveal=True,
)
ROLES: dict[str, Role] = {r.name: r for r in (ANALYST, APPLICATION, STEWARD)}


def get_role(name: str | Role) -> Role:
    if isinstance(name, Role):
        return name
    try:
        return ROLES[name]
    except KeyError:
        raise ValueError(f"unknown role {name!r} (one of {', '.join(ROLES)})") from None


def is_served(table: str) -> bool:
    return TableName.parse(table).tier in SERVED_TIERS


@dataclass(frozen=True)
class ColumnAccess:
    """What a role gets of one table: ``visible`` columns in table order, ``masked`` columns
    removed, and ``reveal``: token columns whose clear value is added as ``clear_name(col)``."""

    table: str
    visible: tuple[str, ...]
    masked: tuple[str, ...]
    reveal: tuple[str, ...] = ()

    @property
    def output_columns(self) -> tuple[str, ...]:
        out: list[str] = []
        for c in self.visible:
            out.append(c)
            if c in self.reveal:
                out.append(clear_name(c))
        return tuple(out)


def clear_name(token_column: str) -> str:
    """The name of a token column's clear value: ``email_token`` -> ``email``."""
    if token_column.endswith(TOKEN_SUFFIX):
        return token_column[: -len(TOKEN_SUFFIX)]
    return f"{token_column}_clear"


def schema_tags(schema: pa.Schema) -> dict[str, tuple[str, ...]]:
    """Column tags as written in the Delta schema (field metadata ``c360.tags``)."""
    tags: dict[str, tuple[str, ...]] = {}
    for f in schema:
        raw = (f.metadata or {}).get(TAGS_KEY.encode(), b"").decode()
        tags[f.name] = tuple(t for t in raw.split(",") if t)
    return tags


def declared_tags(table: str) -> dict[str, tuple[str, ...]]:
    """Column tags the registry declares for ``table`` ({} for a table it does not know)."""
    from c360.registry import registry

    reg = registry()
    return dict(reg.get(table).column_tags) if table in reg else {}


def column_tags(table: str, schema: pa.Schema) -> dict[str, tuple[str, ...]]:
    """The union of the declared tags and the tags in the table's own schema: a column tagged
    in either place is treated as tagged (a stale table never loses a declared tag)."""
    declared = declared_tags(table)
    stored = schema_tags(schema)
    return {f.name: tuple(sorted(set(declared.get(f.name, ())) | set(stored.get(f.name, ())))) for f in schema}


def column_access(
    role: Role | str, table: str, schema: pa.Schema, tags: Mapping[str, Iterable[str]] | None = None
) -> ColumnAccess:
    """THE access decision: which columns of ``table`` (with this Arrow ``schema``) ``role`` sees.

    Raises :class:`AccessDenied` for a table outside the role (and for the vault, always).
    A column is masked when it carries a tag the role is not granted. For a role that
    reveals, visible pii columns named ``*_token`` are re-identified through the vault.
    """
    r = get_role(role)
    r.require_table(table)
    tags = column_tags(table, schema) if tags is None else {k: tuple(v) for k, v in tags.items()}
    visible: list[str] = []
    masked: list[str] = []
    reveal: list[str] = []
    for f in schema:
        col_tags = set(tags.get(f.name, ()))
        if col_tags - r.grants:
            masked.append(f.name)
            continue
        visible.append(f.name)
        if r.reveal and PII in col_tags and f.name.endswith(TOKEN_SUFFIX):
            reveal.append(f.name)
    return ColumnAccess(table, tuple(visible), tuple(masked), tuple(reveal))
