"""Who may read what: roles grant column tags, and one function turns (role, table) into columns.

Access is data, not endpoint code. The contracts and table specs tag columns (pii,
sensitive, subject); a role is granted tags and a set of tables. :func:`column_access` is
the one place that decides which columns of a table a role sees, which are masked (removed
before the data leaves), and which token columns are re-identified through the vault. The
API, the SQL engine and exports all call it before any data is read.

API keys are random secrets shown once; the lake stores only their SHA-256, in the append-only
``ops.access.api_keys`` table (created and revoked events), written with delta-rs so the
serving process never needs Spark.
"""

from __future__ import annotations

import fnmatch
import hashlib
import re
import secrets
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from pathlib import Path

import pyarrow as pa
from pyspark.sql import types as T

from c360.registry import PII, PLATFORM, SENSITIVE, SUBJECT, Table, column
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


# ---------------------------------------------------------------------------------- API keys
KEYS_TABLE = Table(
    name="ops.access.api_keys",
    schema=T.StructType(
        [
            column("key_id", T.StringType(), "public id of the key (also its prefix)", nullable=False),
            column("key_hash", T.StringType(), "SHA-256 of the whole key; the key itself is never stored"),
            column("role", T.StringType(), "role the key acts as", nullable=False),
            column("event", T.StringType(), "created or revoked", nullable=False),
            column("at", T.TimestampType(), "when (UTC)", nullable=False),
            column("note", T.StringType(), "who or what the key is for"),
        ]
    ),
    description="API key events: a key is created (its hash and role) and may later be revoked. Append-only.",
    grain="one row per key event",
    keys=("key_id", "event"),
    product=PLATFORM,
    owner="platform",
)
KEY_PREFIX = "c360"


@dataclass(frozen=True)
class ApiKey:
    key_id: str
    role: str
    created_at: datetime
    note: str
    revoked_at: datetime | None = None

    @property
    def active(self) -> bool:
        return self.revoked_at is None


@dataclass(frozen=True)
class Principal:
    """An authenticated caller: the key it used and the role that key acts as."""

    key_id: str
    role: Role


# An API key as create_key makes it, and a query parameter named like a credential: what an
# audit row must not keep in clear (a client that sends its key as ?api_key= is refused, and
# its request is still audited).
_KEY_IN_TEXT = re.compile(rf"\b{KEY_PREFIX}_([0-9a-f]{{8}})_[A-Za-z0-9_-]{{20,}}")
_CREDENTIAL_PARAMETER = re.compile(
    r"([?&][A-Za-z0-9_.-]*(?:key|token|secret|passw|auth|session|signature)[A-Za-z0-9_.-]*=)"
    rf"(?!{KEY_PREFIX}_[0-9a-f]{{8}}_\[redacted\](?:$|[&#]))[^&#\s]*",
    re.IGNORECASE,
)


def redact_secrets(text: str, *, url: bool = False) -> str:
    """``text`` with every API key's secret part replaced by ``[redacted]`` (a key keeps its id,
    which names it); with ``url`` (a request's path and query), also the value of every query
    parameter whose name holds key, token, secret, passw, auth, session or signature."""
    text = _KEY_IN_TEXT.sub(rf"{KEY_PREFIX}_\1_[redacted]", text)
    return _CREDENTIAL_PARAMETER.sub(r"\1[redacted]", text) if url else text


def key_hash(key: str) -> str:
    return hashlib.sha256(key.encode("utf-8")).hexdigest()


def _key_rows(lake_root: Path) -> list[dict[str, object]]:
    from c360.storage.catalog import LakeCatalog

    catalog = LakeCatalog(lake_root)
    if not catalog.exists(KEYS_TABLE.name):
        return []
    from deltalake import QueryBuilder

    dt = catalog.open(KEYS_TABLE.name)
    reader = QueryBuilder().register("k", dt).execute("SELECT * FROM k ORDER BY at, event")
    return pa.table(reader.read_all()).to_pylist()


def list_keys(lake_root: Path) -> list[ApiKey]:
    """Every key ever created, with its revocation time when revoked (never the hash)."""
    created: dict[str, ApiKey] = {}
    for row in _key_rows(lake_root):
        kid = str(row["key_id"])
        if row["event"] == "created":
            created[kid] = ApiKey(kid, str(row["role"]), row["at"], str(row["note"] or ""))  # type: ignore[arg-type]
        elif row["event"] == "revoked" and kid in created:
            created[kid] = replace(created[kid], revoked_at=row["at"])  # type: ignore[arg-type]
    return list(created.values())


def create_key(lake_root: Path, role: str, note: str = "") -> tuple[str, ApiKey]:
    """A new key for ``role``: returns the key (shown once, never stored) and its record."""
    from c360.storage.light import append_rows, ensure

    get_role(role)
    ensure(KEYS_TABLE, lake_root)
    key_id = secrets.token_hex(4)
    key = f"{KEY_PREFIX}_{key_id}_{secrets.token_urlsafe(24)}"
    now = datetime.now(UTC)
    row = {"key_id": key_id, "key_hash": key_hash(key), "role": role, "event": "created", "at": now, "note": note}
    append_rows(lake_root, KEYS_TABLE.name, [row], operation="create_api_key")
    return key, ApiKey(key_id, role, now, note)


def revoke_key(lake_root: Path, key_id: str) -> ApiKey:
    from c360.storage.light import append_rows

    keys = {k.key_id: k for k in list_keys(lake_root)}
    if key_id not in keys:
        raise LookupError(f"no API key {key_id!r} ({len(keys)} keys; `c360 access key list` shows them)")
    key = keys[key_id]
    if not key.active:
        return key
    now = datetime.now(UTC)
    row = {"key_id": key_id, "key_hash": None, "role": key.role, "event": "revoked", "at": now, "note": None}
    append_rows(lake_root, KEYS_TABLE.name, [row], operation="revoke_api_key")
    return replace(key, revoked_at=now)


@dataclass(frozen=True)
class KeyRing:
    """Active key hashes -> principals, read from the keys table at one version."""

    by_hash: Mapping[str, Principal]
    version: int | None

    @classmethod
    def load(cls, lake_root: Path) -> KeyRing:
        from c360.storage.catalog import LakeCatalog

        catalog = LakeCatalog(lake_root)
        version = catalog.open(KEYS_TABLE.name).version() if catalog.exists(KEYS_TABLE.name) else None
        hashes: dict[str, tuple[str, str]] = {}
        revoked: set[str] = set()
        for row in _key_rows(lake_root):
            if row["event"] == "created":
                hashes[str(row["key_hash"])] = (str(row["key_id"]), str(row["role"]))
            elif row["event"] == "revoked":
                revoked.add(str(row["key_id"]))
        active = {h: (kid, r) for h, (kid, r) in hashes.items() if kid not in revoked and r in ROLES}
        by_hash = {h: Principal(kid, get_role(r)) for h, (kid, r) in active.items()}
        return cls(by_hash, version)

    def authenticate(self, key: str | None) -> Principal:
        if not key:
            raise Unauthenticated("missing API key: send it in the X-API-Key header")
        principal = self.by_hash.get(key_hash(key))
        if principal is None:
            raise Unauthenticated("unknown or revoked API key")
        return principal
