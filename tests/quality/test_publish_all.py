"""Publishing a step's tables several at a time (``Publisher.build_and_publish_all``) keeps what
publishing them one by one guarantees: a table is built after the tables it reads, tables
commit in order, and a failing table stops every table after it, however far along that one
got (built and gated beside it): it commits nothing and its gate is not recorded."""

from __future__ import annotations

import time
from datetime import date

import pytest
from pyspark.sql import functions as F
from pyspark.sql import types as T

from c360.publish import Publisher
from c360.quality import QualityGateError, TableSuite
from c360.registry import Table, column

D = date(2024, 5, 6)
SCHEMA = T.StructType([column("id", T.IntegerType(), "id", False), column("amount", T.DoubleType(), "amount")])
A, B, C = "enhanced.test.first", "enhanced.test.second", "enhanced.test.third"


def _table(name: str, build, sources: dict[str, str] | None = None) -> Table:  # noqa: ANN001
    suite = TableSuite(name, key=("id",)).invariant("amount_not_negative", "amount >= 0")
    return Table(name, SCHEMA, "a test table", "one row per id", ("id",), "test", "tests",
                 inputs=sources or {}, build=build, suite=suite)  # fmt: skip


def _rows(spark, values: list[tuple[int, float]]):  # noqa: ANN001, ANN202
    return spark.createDataFrame(values, SCHEMA)


def _slow(spark, values: list[tuple[int, float]], seconds: float, started: list[str], name: str):  # noqa: ANN001, ANN202
    """A build that takes ``seconds`` (long enough for the tables after it to run meanwhile)."""
    started.append(name)
    time.sleep(seconds)
    return _rows(spark, values)


@pytest.mark.parametrize("workers", [1, 3])
def test_a_failing_table_stops_every_later_one_even_one_built_beside_it(spark, storage, workers: int) -> None:  # noqa: ANN001
    started: list[str] = []
    tables = [
        _table(A, lambda spark: _rows(spark, [(1, 1.0)])),
        _table(B, lambda spark: _slow(spark, [(1, -5.0)], 3.0, started, B)),  # breaks amount_not_negative
        _table(C, lambda spark: _slow(spark, [(7, 2.0)], 0.0, started, C)),
    ]
    publisher = Publisher(storage, "run", [D])
    with pytest.raises(QualityGateError, match="amount_not_negative"):
        publisher.build_and_publish_all(tables, {}, {"spark": spark}, workers)
    publisher.flush()

    # With several workers the third table was built while the second was still building.
    assert set(started) == ({B, C} if workers > 1 else {B})
    assert [w.table for w in publisher.writes] == [A]  # the failed one and every later one: no write
    assert [r.id for r in storage.read(A).collect()] == [1]
    assert storage.read(B).count() == 0 and (not storage.exists(C) or storage.read(C).count() == 0)
    recorded = {r.table_name for r in storage.read("ops.quality.expectation_results").collect()}
    assert recorded == {A, B}  # the third's gate, run or not, is not on record


def test_tables_wait_for_what_they_read_and_commit_in_order(spark, storage) -> None:  # noqa: ANN001
    def third(spark, first):  # noqa: ANN001, ANN202
        return first.select((F.col("id") + 10).alias("id"), "amount")

    tables = [
        _table(A, lambda spark: _slow(spark, [(1, 1.0), (2, 3.0)], 2.0, [], A)),
        _table(B, lambda spark: _rows(spark, [(5, 1.0)])),
        _table(C, third, {"first": A}),
    ]
    frames: dict = {}
    publisher = Publisher(storage, "run", [D])
    publisher.build_and_publish_all(tables, frames, {"spark": spark}, workers=3)
    publisher.flush()

    assert [w.table for w in publisher.writes] == [A, B, C]
    assert [w.committed for w in publisher.writes] == [True, True, True]
    versions = {n: storage.catalog.describe(n).version for n in (A, B, C)}
    assert sorted(r.id for r in storage.read(C).collect()) == [11, 12]  # built from the first's frame
    assert set(frames) == {A, B, C}
    results = storage.read("ops.quality.expectation_results").collect()
    assert {r.table_name for r in results} == {A, B, C}
    # The commit times follow the table order although the second was built first.
    committed = [storage.catalog.open(n).history(1)[0]["timestamp"] for n in (A, B, C)]
    assert committed == sorted(committed), (committed, versions)
