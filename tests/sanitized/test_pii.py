"""The Spark HMAC expression is HMAC-SHA256, byte for byte (RFC 2104), for any key length; the
vault gains the same rows whichever way its additions come; and a day's tokens read their
clear values from the vault's files on the driver."""

from __future__ import annotations

import hashlib
import hmac
from pathlib import Path

import pyarrow as pa
import pytest
from pyspark.sql import SparkSession
from pyspark.sql import functions as F

from c360.pii import VAULT_TABLE, add_to_vault, token, token_expr, vault_schema, vault_values
from c360.storage import DeltaStorage

VALUES = ["ada@example.com", "+12065550101", "Zoë Ångström", "", "x" * 200, None]


@pytest.mark.parametrize("key", [b"k", b"c360-local-development-key-not-secret", b"\x00\xff" * 40])
def test_spark_expression_equals_python_hmac(spark: SparkSession, key: bytes) -> None:
    df = spark.createDataFrame([(v,) for v in VALUES], "v string")
    got = [r["t"] for r in df.select(token_expr(key, F.col("v")).alias("t")).collect()]
    want = [None if v is None else hmac.new(key, v.encode(), hashlib.sha256).hexdigest() for v in VALUES]
    assert got == want
    assert [token(key, v) for v in VALUES if v is not None] == want[:-1]


def test_a_different_key_gives_a_different_token() -> None:
    assert token(b"key-a", "ada@example.com") != token(b"key-b", "ada@example.com")
    assert token(b"key-a", "ada@example.com") != hashlib.sha256(b"ada@example.com").hexdigest()


HELD = [("t1", "a", "C1", "s", "email"), ("t2", "b", None, "s", "_raw_line"), ("t3", "c", "C2", "s", "phone")]
ADDITIONS = [
    ("t1", "a", "C1", "s", "email"),  # held: not added again
    ("t2", "b", None, "s", "_raw_line"),  # held without a customer: NULL matches NULL
    ("t2", "b", "C9", "s", "_raw_line"),  # the same token for a customer: new
    ("t3", "c", "C2", "s", "first_name"),  # a held token in another column: new
    ("t4", "d", "C3", "s", "email"),
    ("t4", "d", "C3", "s", "email"),  # new, twice: added once
    ("t5", "e", None, "s", "_raw_line"),
    ("t5", "e", None, "s", "_raw_line"),  # new without a customer, twice: added once
    ("t2", "b", "C9", "s", "_raw_line"),  # new, again in the other part
]


def test_additions_from_the_driver_give_the_vault_the_rows_spark_gives(spark: SparkSession, tmp_path: Path) -> None:
    """Frames, Arrow tables on the driver, or some of each: the same vault rows."""
    vaults = {}
    for side in ("spark", "driver", "mixed"):
        storage = DeltaStorage(spark, tmp_path / side)
        for rows in (HELD, ADDITIONS):  # the first call finds no vault yet
            as_arrow = {"spark": (), "driver": (0, 1), "mixed": (1,)}[side]  # the parts collected first
            parts = [spark.createDataFrame(part, vault_schema()) for part in (rows[:3], rows[3:])]
            add_to_vault(storage, *(p.toArrow() if i in as_arrow else p for i, p in enumerate(parts)))
        vaults[side] = sorted((tuple(r) for r in storage.read(VAULT_TABLE).collect()), key=str)
    assert vaults["driver"] == vaults["spark"] == vaults["mixed"]
    assert len(vaults["driver"]) == len(HELD) + 4


def test_vault_values_of_tokens_are_the_sources_rows_at_the_version(spark: SparkSession, tmp_path: Path) -> None:
    """What unsealing a day's tokens reads: one row per token, value and column of the source,
    whoever the customers, from the vault as it was at the version asked for."""
    storage = DeltaStorage(spark, tmp_path / "lake")
    held = [
        ("t1", "Ada", "C1", "customer.customers", "first_name"),
        ("t1", "Ada", "C2", "customer.customers", "first_name"),  # a name two customers share: one row
        ("t2", "ada@example.com", "C1", "customer.customers", "email"),
        ("t3", "1 Main St", None, "logistics.shipments", "destination_address"),  # another source
        ("t3", "1 Main St", "C1", "customer.customers", "address_line1"),  # the same value elsewhere
        ("t9", "Bob", "C3", "customer.customers", "first_name"),  # a token the day does not hold
    ]
    add_to_vault(storage, spark.createDataFrame(held, vault_schema()))
    version = storage.catalog.version(VAULT_TABLE)
    later = [("t2", "ada@example.com", "C4", "customer.customers", "phone")]
    add_to_vault(storage, spark.createDataFrame(later, vault_schema()))

    tokens = pa.array(["t1", "t2", "t3", "t1", None, "t404"])
    got = vault_values(storage, tokens, "customer.customers", version)
    assert got.column_names == ["token", "value", "source", "column"]
    assert sorted(got.to_pylist(), key=str) == sorted(
        [
            {"token": "t1", "value": "Ada", "source": "customer.customers", "column": "first_name"},
            {"token": "t2", "value": "ada@example.com", "source": "customer.customers", "column": "email"},
            {"token": "t3", "value": "1 Main St", "source": "customer.customers", "column": "address_line1"},
        ],
        key=str,
    )
    latest = vault_values(storage, tokens, "customer.customers", storage.catalog.version(VAULT_TABLE))
    assert {(r["token"], r["column"]) for r in latest.to_pylist()} == {
        ("t1", "first_name"), ("t2", "email"), ("t2", "phone"), ("t3", "address_line1")
    }  # fmt: skip
    assert vault_values(storage, pa.array([], pa.string()), "customer.customers", version).num_rows == 0
