"""Who has been erased, kept as keyed hashes so later runs can keep them out.

``ops.privacy.erased_subjects`` holds, per erasure request, HMAC(key, kind + value) of the
customer id and of the keys of rows linked to them (their order ids, shipment ids). The
hash is domain-separated from the identifier tokens (a different message prefix), so no
value in this table equals an id, a clear value or a token anywhere in the lake; with the
key, a re-sent extract's rows can be recognised and dropped at ingest.
"""

from __future__ import annotations

import hashlib
import hmac
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field

from pyspark.sql import types as T

from c360.registry import PLATFORM, Table, column

ERASED_TABLE = "ops.privacy.erased_subjects"
SUBJECT_KIND = "subject"  # the kind of the customer id itself
_DOMAIN = "c360-erased-v1"

ERASED_SCHEMA = T.StructType(
    [
        column("request_ref", T.StringType(), "the erasure request (ticket) that added this key", nullable=False),
        column(
            "kind",
            T.StringType(),
            "what the hashed value is: 'subject' (a customer id) or contract.column of a linked key",
            nullable=False,
        ),
        column(
            "key_hash", T.StringType(), "HMAC-SHA256 of kind and value, keyed; never equal to a token", nullable=False
        ),
        column("erased_at", T.TimestampType(), "when the erasure was committed (UTC)", nullable=False),
    ]
)

ERASED = Table(
    name=ERASED_TABLE,
    schema=ERASED_SCHEMA,
    description="Keyed hashes of erased customers and of their linked keys: ingest drops matching rows.",
    grain="one row per erased key",
    keys=("kind", "key_hash"),
    product=PLATFORM,
    owner="privacy-office",
)


def key_hash(key: bytes, kind: str, value: str) -> str:
    return hmac.new(key, f"{_DOMAIN}|{kind}|{value}".encode(), hashlib.sha256).hexdigest()


@dataclass(frozen=True)
class ErasedKeys:
    """The erased hashes per kind, and the key to hash candidate values with."""

    key: bytes
    hashes: Mapping[str, frozenset[str]] = field(default_factory=dict)

    def __bool__(self) -> bool:
        return any(self.hashes.values())

    def holds(self, kind: str, value: str | None) -> bool:
        if value is None or value == "" or not self.hashes.get(kind):
            return False
        return key_hash(self.key, kind, value) in self.hashes[kind]

    def row_filter(self, subject: str | None, linked: Mapping[str, str]) -> Callable[[Mapping[str, str | None]], bool]:
        """A predicate "does this source row belong to an erased subject?" for one contract.

        ``subject`` is the contract's subject column; ``linked`` maps its columns holding a
        linked key (its own key, or a foreign key to a subject's rows) to the key's kind.
        """
        checks = [(subject, SUBJECT_KIND)] if subject else []
        checks += [(c, kind) for c, kind in linked.items() if self.hashes.get(kind)]
        checks = [(c, k) for c, k in checks if self.hashes.get(k)]
        if not checks:
            return lambda _values: False
        return lambda values: any(self.holds(kind, values.get(c)) for c, kind in checks)


def load_erased(catalog: object, key: bytes) -> ErasedKeys:
    """The erased keys of the lake (empty when nothing was ever erased); delta-rs only."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    from c360.storage import LakeCatalog

    assert isinstance(catalog, LakeCatalog)
    if not catalog.exists(ERASED_TABLE):
        return ErasedKeys(key)
    files = catalog.open(ERASED_TABLE).file_uris()
    if not files:
        return ErasedKeys(key)
    rows = pa.concat_tables([pq.read_table(f, columns=["kind", "key_hash"]) for f in files]).to_pylist()
    hashes: dict[str, set[str]] = {}
    for r in rows:
        hashes.setdefault(r["kind"], set()).add(r["key_hash"])
    return ErasedKeys(key, {k: frozenset(v) for k, v in hashes.items()})


def linked_kinds(contract: object) -> dict[str, str]:
    """Columns of a contract that can hold a linked key: its own single key, and its foreign
    keys to a parent's key (not to the subject column, which is the subject itself)."""
    from c360.contracts import CONTRACTS
    from c360.contracts.model import Contract

    assert isinstance(contract, Contract)
    out: dict[str, str] = {}
    if len(contract.key) == 1 and contract.key[0] != contract.subject:
        out[contract.key[0]] = f"{contract.name}.{contract.key[0]}"
    for fk in contract.foreign_keys:
        parent = CONTRACTS.get(fk.ref)
        if parent is not None and fk.ref_column != parent.subject:
            out[fk.column] = f"{fk.ref}.{fk.ref_column}"
    return out
