"""The Spark HMAC expression is HMAC-SHA256, byte for byte (RFC 2104), for any key length; and
the vault gains the same rows whichever way its additions come."""

from __future__ import annotations

import hashlib
import hmac
from pathlib import Path

import pytest
from pyspark.sql import SparkSession
from pyspark.sql import functions as F

from c360.pii import VAULT_TABLE, add_to_vault, token, token_expr, vault_schema
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
