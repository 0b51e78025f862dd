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

import functools
import hashlib
import hmac
from typing import TYPE_CHECKING

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq
from pyspark.sql import DataFrame
from pyspark.sql import types as T

from c360.registry import PII, PLATFORM, SUBJECT, Table, column

if TYPE_CHECKING:
    from pyspark.sql import Column

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


def add_to_vault(storage: DeltaStorage, *additions: DataFrame | pa.Table) -> None:
    """Append, in one commit, the (token, value, customer, source, column) rows the vault lacks.

    Both the raw tier (sealing delivered values) and sanitize (standardised values) add here.
    ``additions``: frames, or Arrow tables of rows already on the driver (a day's few). When
    they all are, the vault rows they could repeat are read for their tokens alone, by
    pyarrow, and the rest written from Arrow: no Spark job runs, where frames cost a read of
    the vault, an anti-join and a write (docs/benchmarks.md). The same rows are added either way.
    """
    table = VAULT
    table.ensure(storage)
    collected = [a.select(table.schema.fieldNames()) for a in additions if isinstance(a, pa.Table)]
    if len(collected) == len(additions):
        storage.append(table.schema, VAULT_TABLE, rows=_lacking(storage, pa.concat_tables(collected)))
        return
    frames = [storage.spark.createDataFrame(a) if isinstance(a, pa.Table) else a for a in additions]
    new = functools.reduce(DataFrame.unionByName, frames).select(*table.schema.fieldNames()).distinct()
    existing = storage.read(VAULT_TABLE).select(*table.keys)
    fresh = new.join(existing, on=[new[k].eqNullSafe(existing[k]) for k in table.keys], how="left_anti")
    storage.append(fresh, VAULT_TABLE)


def vault_values(storage: DeltaStorage, tokens: pa.Array | pa.ChunkedArray, source: str, version: int) -> pa.Table:
    """The distinct (token, value, source, column) rows of the vault at ``version`` for
    ``tokens`` delivered by ``source``: what unsealing those tokens needs (c360.sanitized).

    Read by pyarrow from the vault's files, on the driver: a day's few tokens against a vault
    of a year cost one filtered read of its token column, where Spark first materialised the
    whole vault (docs/benchmarks.md, "A day's vault lookup on the driver")."""
    names = ["token", "value", "source", "column"]
    wanted = (pc.field("source") == source) & pc.field("token").isin(pc.unique(tokens))
    rows = _read_vault(storage, names, wanted, version)
    return rows.group_by(names, use_threads=False).aggregate([]).select(names)


def _read_vault(storage: DeltaStorage, columns: list[str], rows: pc.Expression, version: int | None = None) -> pa.Table:
    """``columns`` of the vault's rows that match ``rows``, at ``version`` (default latest)."""
    files = storage.catalog.open(VAULT_TABLE, version=version).file_uris()
    schema = pa.schema([(name, pa.string()) for name in columns])
    if not files:
        return schema.empty_table()
    return pq.read_table(files, columns=columns, filters=rows, partitioning=None)  # a lake path may hold "="


def _lacking(storage: DeltaStorage, rows: pa.Table) -> pa.Table:
    """The distinct rows of ``rows`` whose keys the vault does not hold (NULL customer ids
    equal, as the Spark path's ``<=>``)."""
    names, keys = VAULT.schema.fieldNames(), list(VAULT.keys)
    distinct = rows.group_by(names, use_threads=False).aggregate([]).select(names)
    if not distinct.num_rows:
        return distinct
    held = _read_vault(storage, keys, pc.field("token").isin(pc.unique(distinct["token"])))
    if not held.num_rows:
        return distinct
    left, right = _null_safe_key(distinct), _null_safe_key(held.select(keys))
    on = [k for k in keys if k != "customer_id"] + ["__customer"]
    lacking = left.join(right.select(on).group_by(on, use_threads=False).aggregate([]), on, join_type="left anti")
    return lacking.select(names)


def _null_safe_key(t: pa.Table) -> pa.Table:
    """``t`` with ``__customer``: its customer id as a join key on which NULL matches NULL."""
    cid = t["customer_id"].cast(pa.string())
    key = pc.if_else(pc.is_null(cid), pa.scalar("n"), pc.binary_join_element_wise(pa.scalar("v"), cid, ""))
    return t.append_column("__customer", key)
