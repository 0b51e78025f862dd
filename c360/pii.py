"""Pseudonymisation: HMAC-SHA256 tokens of direct identifiers, and the PII vault.

The same value always gives the same token (joins across sources still work), and
without the key nobody can recompute a token from a guessed value (a dictionary
attack over known e-mails matches nothing). The clear values live only in
``vault.pii.values`` keyed by token (and customer id where the row has one), so
erasure starts there and the other tiers only ever hold tokens.

The Spark expression builds HMAC from ``sha2`` over binary concatenation (RFC 2104),
so no Python UDF runs per row; :func:`token` is the same function in Python.
"""

from __future__ import annotations

import hashlib
import hmac
from typing import TYPE_CHECKING

from pyspark.sql import types as T

from c360.registry import PII, PLATFORM, SUBJECT, Table, column

if TYPE_CHECKING:
    from pyspark.sql import Column, DataFrame

    from c360.storage import DeltaStorage

VAULT_TABLE = "vault.pii.values"
_BLOCK = 64  # SHA-256 block size in bytes


def token(key: bytes, value: str) -> str:
    return hmac.new(key, value.encode("utf-8"), hashlib.sha256).hexdigest()


def _pads(key: bytes) -> tuple[bytes, bytes]:
    if len(key) > _BLOCK:
        key = hashlib.sha256(key).digest()
    key = key.ljust(_BLOCK, b"\0")
    return bytes(b ^ 0x36 for b in key), bytes(b ^ 0x5C for b in key)


def token_expr(key: bytes, col: Column) -> Column:
    """HMAC-SHA256 hex of a string column as a native Spark expression (NULL stays NULL)."""
    from pyspark.sql import functions as F

    ipad, opad = _pads(key)
    inner = F.unhex(F.sha2(F.concat(F.lit(ipad), F.encode(col, "UTF-8")), 256))
    return F.when(col.isNull(), F.lit(None)).otherwise(F.sha2(F.concat(F.lit(opad), inner), 256))


VAULT = Table(
    name=VAULT_TABLE,
    schema=T.StructType(
        [
            column("token", T.StringType(), "HMAC-SHA256 of value", False, tags=(PII,)),
            column("value", T.StringType(), "the clear value", False, tags=(PII,)),
            column("customer_id", T.StringType(), "whose identifier it is, when known", tags=(SUBJECT,)),
            column("source", T.StringType(), "domain.source it came from", False),
            column("column", T.StringType(), "source column", False),
        ]
    ),
    description="Clear values of direct identifiers, keyed by their tokens. Restricted: never served.",
    grain="one row per token, customer, source and column",
    keys=("token", "customer_id", "source", "column"),
    product=PLATFORM,
    owner="data-platform",
)


def vault_schema() -> T.StructType:
    return VAULT.schema


def add_to_vault(storage: DeltaStorage, additions: DataFrame) -> None:
    """Append, in one commit, the (token, value, customer, source, column) rows the vault lacks.

    Both the raw tier (sealing delivered values) and sanitize (standardised values) add here.
    """
    table = VAULT
    table.ensure(storage)
    existing = storage.read(VAULT_TABLE).select(*table.keys)
    new = additions.select(*table.schema.fieldNames()).distinct()
    fresh = new.join(existing, on=[new[k].eqNullSafe(existing[k]) for k in table.keys], how="left_anti")
    storage.append(fresh, VAULT_TABLE)
