"""The Spark HMAC expression is HMAC-SHA256, byte for byte (RFC 2104), for any key length."""

from __future__ import annotations

import hashlib
import hmac

import pytest
from pyspark.sql import SparkSession
from pyspark.sql import functions as F

from c360.pii import token, token_expr

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
