"""The session's JVM view remembers the packages, classes and static methods Py4J resolved
(c360.spark.remember_jvm_lookups): each is asked of the JVM once, not on every use."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

from pyspark import SparkContext
from pyspark.sql import SparkSession
from pyspark.sql import functions as F

from c360.spark import remember_jvm_lookups


@contextmanager
def _commands(spark: SparkSession) -> Iterator[list[str]]:
    """The Py4J commands this thread sends inside the block."""
    client = spark.sparkContext._gateway._gateway_client  # type: ignore[union-attr]
    sent: list[str] = []
    original = client.send_command

    def send(command: str, *args: object, **kwargs: object) -> object:
        sent.append(command)
        return original(command, *args, **kwargs)

    client.send_command = send
    try:
        yield sent
    finally:
        del client.send_command  # the class's method again


def _lookups(sent: list[str]) -> list[str]:
    return [c for c in sent if c.startswith("r\n")]  # Py4J's reflection commands


def test_a_name_is_resolved_once_and_a_field_read_every_time(spark: SparkSession) -> None:
    jvm = SparkContext._jvm
    assert jvm is not None

    def use() -> None:
        jvm.org.apache.spark.sql.functions.lit(2)
        getattr(jvm, "org.apache.spark.sql.functions").lit(3)  # how PySpark's functions ask
        F.col("a") + F.lit(1)

    use()  # resolved (and remembered) here at the latest
    with _commands(spark) as sent:
        use()
    assert _lookups(sent) == [] and sent, sent

    integer = jvm.java.lang.Integer
    assert integer.MAX_VALUE == 2**31 - 1
    with _commands(spark) as sent:
        assert integer.MAX_VALUE == 2**31 - 1  # a static field's value is asked for again
    assert len(_lookups(sent)) == 1

    remember_jvm_lookups()  # a second call (a session built again) changes nothing
    assert SparkContext._jvm is jvm
