"""A partitioned table keeps the digest of each partition it holds, so that a later run finds
the partitions its build changed without reading the published rows back; and digests of
another table version are never trusted."""

from __future__ import annotations

from datetime import date, timedelta

from pyspark.sql import types as T

from c360.publish import DIGESTS_FILE, HeldDigests, Publisher
from c360.quality import TableSuite
from c360.registry import Table, column

DATES = [date(2024, 6, 1) + timedelta(days=i) for i in range(5)]
NAME = "enhanced.test.moving_fact"
SCHEMA = T.StructType(
    [
        column("id", T.IntegerType(), "id", False),
        column("day", T.DateType(), "day; the partition", False),
        column("amount", T.DoubleType(), "amount"),
    ]
)


def _table(rows: list[tuple[int, date, float]]) -> Table:
    suite = TableSuite(NAME, key=("id",)).invariant("amount_not_negative", "amount >= 0")

    def build(spark):  # noqa: ANN001, ANN202
        return spark.createDataFrame(rows, SCHEMA)

    return Table(NAME, SCHEMA, "a test fact", "one row per id", ("id",), "test", "tests", partition_by=("day",),
                 publish="partitions", build=build, suite=suite)  # fmt: skip


def _publish(spark, storage, rows, run_dates, reads: list[str]):  # noqa: ANN001, ANN202
    """Publish ``rows`` for ``run_dates``, noting each table the publisher reads whole."""
    read = storage.read

    def noted(name, *args, **kwargs):  # noqa: ANN001, ANN002, ANN003, ANN202
        reads.append(str(name))
        return read(name, *args, **kwargs)

    storage.read = noted
    try:
        publisher = Publisher(storage, "run", run_dates)
        publisher.build_and_publish(_table(rows), {}, {"spark": spark, "run_dates": run_dates})
        publisher.flush()
        return publisher.writes[-1]
    finally:
        storage.read = read


def _held(storage):  # noqa: ANN001, ANN202
    return sorted(tuple(r) for r in storage.read(NAME).collect())


def test_a_later_run_finds_a_moved_row_from_the_kept_digests_without_reading_the_table(spark, storage) -> None:  # noqa: ANN001
    first = [(i, DATES[i % 4], float(i)) for i in range(12)]
    _publish(spark, storage, first, DATES[:4], [])
    kept = HeldDigests.read(storage.path(NAME) / DIGESTS_FILE)
    assert kept is not None and kept.table_version == storage.catalog.version(NAME)
    assert {d: n for d, (n, _) in kept.partitions.items()} == {d: 3 for d in DATES[:4]}

    # Run of DATES[4]: id 1 moves from DATES[1] to DATES[3]. Nothing dates its arrival, so only
    # the digests tell that DATES[1] and DATES[3] changed.
    moved = [(i, DATES[3] if i == 1 else d, a) for i, d, a in first] + [(20, DATES[4], 1.0)]
    reads: list[str] = []
    write = _publish(spark, storage, moved, [DATES[4]], reads)

    assert NAME not in reads, "the kept digests answered, not the published rows"
    assert sorted(write.partitions) == [f"day={d}" for d in (DATES[1], DATES[3], DATES[4])]
    assert _held(storage) == sorted(moved), "the key is published once, in its new partition"


def test_digests_of_another_table_version_are_not_trusted(spark, storage) -> None:  # noqa: ANN001
    rows = [(i, DATES[i % 3], float(i)) for i in range(9)]
    _publish(spark, storage, rows, DATES[:3], [])
    # Another commit (an erasure, say) removes id 4 from DATES[1]: the kept digests no longer
    # describe the table.
    rest = storage.read(NAME).filter("day = DATE'2024-06-02' AND id <> 4")
    storage.replace_partitions(rest, NAME, partitions=[{"day": DATES[1]}])

    reads: list[str] = []
    write = _publish(spark, storage, rows, [DATES[2]], reads)

    assert NAME in reads, "the table itself was read: its digests were of an older version"
    assert sorted(write.partitions) == [f"day={d}" for d in (DATES[1], DATES[2])]
    assert _held(storage) == sorted(rows), "the partition the other commit changed is the build's again"
