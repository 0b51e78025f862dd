"""A partitioned table is published as one file per partition value, however many tasks
built it: every later pass over the table's history opens its files, so a build of four
tasks, each holding rows of every date, must not leave four files per date."""

from __future__ import annotations

from collections import Counter
from datetime import date, timedelta

from deltalake import DeltaTable
from pyspark.sql import types as T

from c360.publish import Publisher
from c360.quality import TableSuite
from c360.registry import Table, column

DATES = [date(2024, 5, 1) + timedelta(days=i) for i in range(5)]
NAME = "enhanced.test.daily_fact"
SCHEMA = T.StructType(
    [
        column("id", T.IntegerType(), "id", False),
        column("day", T.DateType(), "day", False),
        column("amount", T.DoubleType(), "amount"),
    ]
)


def _table(build) -> Table:  # noqa: ANN001
    suite = TableSuite(NAME, key=("id",)).invariant("amount_not_negative", "amount >= 0")
    return Table(NAME, SCHEMA, "a test fact", "one row per id", ("id",), "test", "tests",
                 partition_by=("day",), publish="partitions", build=build, suite=suite)  # fmt: skip


def _files(storage) -> dict[str, date]:  # noqa: ANN001
    """Each live file of the table and its date."""
    import pyarrow as pa

    actions = pa.table(DeltaTable(str(storage.path(NAME))).get_add_actions(flatten=True))
    return dict(zip(actions.column("path").to_pylist(), actions.column("partition.day").to_pylist(), strict=True))


def _files_per_day(storage) -> Counter:  # noqa: ANN001
    return Counter(_files(storage).values())


def test_a_build_of_several_tasks_is_published_as_one_file_per_date(spark, storage) -> None:  # noqa: ANN001
    rows = [(i, DATES[i % len(DATES)], float(i)) for i in range(40)]

    def build(spark):  # noqa: ANN001, ANN202
        return spark.createDataFrame(rows, SCHEMA).repartition(4)  # every task holds rows of every day

    # The test can fail: without one file per date, some date would get a file from each task holding it.
    tasks_per_day = Counter(
        d for days in build(spark).rdd.glom().map(lambda p: {r.day for r in p}).collect() for d in days
    )
    assert max(tasks_per_day.values()) > 1
    publisher = Publisher(storage, "run", DATES)
    publisher.build_and_publish(_table(build), {}, {"spark": spark, "run_dates": DATES})
    publisher.flush()

    assert _files_per_day(storage) == Counter({d: 1 for d in DATES})
    assert sorted(tuple(r) for r in storage.read(NAME).collect()) == sorted(rows)

    # A later run that touches two days replaces only their files, again one each.
    untouched = {path for path, day in _files(storage).items() if day not in DATES[:2]}
    changed = [(i, d, a + 1.0 if d in DATES[:2] else a) for i, d, a in rows]
    later = Publisher(storage, "run-2", DATES[:2])
    later.build_and_publish(_table(lambda spark: spark.createDataFrame(changed, SCHEMA).repartition(4)), {},
                            {"spark": spark, "run_dates": DATES[:2]})  # fmt: skip
    later.flush()

    assert _files_per_day(storage) == Counter({d: 1 for d in DATES})
    assert untouched <= set(_files(storage)), "the days the run did not touch keep their files"
    assert sorted(tuple(r) for r in storage.read(NAME).collect()) == sorted(changed)
