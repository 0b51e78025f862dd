"""The storage layer on real Delta tables in tmp_path: rows *and* commit history."""

from __future__ import annotations

import datetime as dt
import time
from collections.abc import Callable
from decimal import Decimal
from pathlib import Path

import pyarrow as pa
import pytest
from chispa import assert_df_equality
from deltalake import DeltaTable, QueryBuilder
from pyspark.sql import SparkSession
from pyspark.sql import functions as F
from pyspark.sql import types as T

from c360.settings import Settings
from c360.storage import (
    CommitConflictError,
    DeltaStorage,
    LakeCatalog,
    SchemaMismatchError,
    TableNameError,
    TableNotFoundError,
)
from tests.conftest import spark_job_ids

NAME = "raw.test.events"
SCHEMA = T.StructType(
    [
        T.StructField("id", T.LongType(), False),
        T.StructField("amount", T.DecimalType(12, 2), True),
        T.StructField("at", T.TimestampType(), True),
        T.StructField("email", T.StringType(), True, {"comment": "contact address", "c360.tags": "pii"}),
        T.StructField("day", T.DateType(), True),
    ]
)
D1, D2, D3 = dt.date(2024, 1, 1), dt.date(2024, 1, 2), dt.date(2024, 1, 3)


def rows(*specs: tuple[int, dt.date]) -> list[tuple]:
    return [
        (i, Decimal(f"{i}.25"), dt.datetime(2024, 1, 1, 10, 30, 0, 123456, tzinfo=dt.UTC), f"u{i}@x.org", d)
        for i, d in specs
    ]


@pytest.fixture
def storage(spark: SparkSession, settings: Settings) -> DeltaStorage:
    s = DeltaStorage(spark, settings.lake_root)
    s.ensure_table(NAME, SCHEMA, ["day"], description="test events")
    return s


def frame(spark: SparkSession, data: list[tuple]) -> object:
    return spark.createDataFrame(data, SCHEMA)


def read_sorted(storage: DeltaStorage, **kw: object) -> object:
    return storage.read(NAME, **kw).orderBy("day", "id")


def ops(storage: DeltaStorage) -> list[tuple[int, str, str | None]]:
    return [(h.version, h.operation, h.c360_operation) for h in storage.catalog.history(NAME)][::-1]


def test_every_write_mode_rows_and_history(spark: SparkSession, storage: DeltaStorage) -> None:
    r1 = storage.append(frame(spark, rows((1, D1), (2, D2))), NAME)
    r2 = storage.replace_partitions(frame(spark, rows((3, D2))), NAME)
    r3 = storage.append_idempotent(frame(spark, rows((4, D3))), NAME, app_id="job-a", app_version=7)
    assert (r1.version, r2.version, r3.version) == (1, 2, 3)
    assert_df_equality(read_sorted(storage), frame(spark, rows((1, D1), (3, D2), (4, D3))), ignore_nullable=True)

    r4 = storage.overwrite(frame(spark, rows((9, D1))), NAME)
    assert (r4.version, r4.files_removed) == (4, 3)
    assert_df_equality(read_sorted(storage), frame(spark, rows((9, D1))), ignore_nullable=True)
    assert ops(storage) == [
        (0, "CREATE TABLE", None),
        (1, "WRITE", "append"),
        (2, "WRITE", "replace_partitions"),
        (3, "WRITE", "append"),
        (4, "WRITE", "overwrite"),
    ]
    # Time travel: every earlier version still reads as it was.
    assert_df_equality(read_sorted(storage, version=2), frame(spark, rows((1, D1), (3, D2))), ignore_nullable=True)


def test_idempotent_append_repeated_changes_nothing(spark: SparkSession, storage: DeltaStorage) -> None:
    first = storage.append_idempotent(frame(spark, rows((1, D1))), NAME, app_id="ingest", app_version=1)
    again = storage.append_idempotent(frame(spark, rows((1, D1))), NAME, app_id="ingest", app_version=1)
    assert first.committed and not again.committed
    assert again.version == first.version == DeltaTable(str(storage.path(NAME))).version()
    assert_df_equality(read_sorted(storage), frame(spark, rows((1, D1))), ignore_nullable=True)
    # A later version of the same application does commit.
    nxt = storage.append_idempotent(frame(spark, rows((2, D1))), NAME, app_id="ingest", app_version=2)
    assert nxt.committed and nxt.version == first.version + 1


def test_replace_partitions_leaves_other_dates_and_is_repeatable(spark: SparkSession, storage: DeltaStorage) -> None:
    storage.append(frame(spark, rows((1, D1), (2, D2), (3, D3))), NAME)
    first = storage.replace_partitions(frame(spark, rows((20, D2), (21, D2))), NAME)
    once = read_sorted(storage).collect()
    again = storage.replace_partitions(frame(spark, rows((21, D2), (20, D2))), NAME)
    assert_df_equality(read_sorted(storage), spark.createDataFrame(once, SCHEMA), ignore_nullable=True)
    assert [r.id for r in once] == [1, 20, 21, 3]
    # The same rows again commit nothing: the table stays at its version, no stray files.
    assert (again.committed, again.version, again.operation) == (
        False,
        first.version,
        "replace_partitions: content unchanged",
    )
    assert _data_files(storage.path(NAME)) == _referenced(storage.path(NAME)) | _referenced(
        storage.path(NAME), version=1
    )
    changed = storage.replace_partitions(frame(spark, rows((22, D2))), NAME)
    assert changed.committed and changed.version == first.version + 1


def test_overwrite_with_same_rows_commits_nothing(spark: SparkSession, storage: DeltaStorage) -> None:
    first = storage.overwrite(frame(spark, rows((1, D1), (2, D2))), NAME)
    again = storage.overwrite(frame(spark, rows((2, D2), (1, D1))), NAME)
    assert first.committed and not again.committed and again.version == first.version


def test_a_write_told_the_rows_changed_skips_its_own_check(spark: SparkSession, storage: DeltaStorage) -> None:
    """``unchanged_check=False`` is for a caller that has just asked ``holds()``: the write
    commits without reading the files again, so the same rows then make a version."""
    storage.append(frame(spark, rows((1, D1), (2, D2))), NAME)
    same = frame(spark, rows((2, D2)))
    assert storage.holds(same, NAME, [{"day": D2}])
    checked = storage.replace_partitions(same, NAME, partitions=[{"day": D2}])
    unchecked = storage.replace_partitions(same, NAME, partitions=[{"day": D2}], unchanged_check=False)
    assert not checked.committed
    assert unchecked.committed and unchecked.version == checked.version + 1
    assert [r.id for r in read_sorted(storage).collect()] == [1, 2]


def test_an_empty_result_over_an_empty_table_commits_nothing(spark: SparkSession, storage: DeltaStorage) -> None:
    """A dimension whose source has not been delivered yet is empty on every run: no new versions."""
    first = storage.overwrite(frame(spark, []), NAME)
    again = storage.overwrite(frame(spark, []), NAME)
    assert not again.committed and again.version == first.version
    none = storage.replace_partitions(frame(spark, []), NAME, partitions=[{"day": D2}])
    assert not none.committed and none.version == first.version
    # Rows, then cleared, then empty again: the clearing commits, the repeat does not.
    filled = storage.overwrite(frame(spark, rows((1, D1))), NAME)
    cleared = storage.overwrite(frame(spark, []), NAME)
    repeat = storage.overwrite(frame(spark, []), NAME)
    assert filled.committed and cleared.committed and cleared.version == filled.version + 1
    assert not repeat.committed and repeat.version == cleared.version
    assert storage.read(NAME).count() == 0


def test_holds_answers_whether_a_write_would_change_nothing(spark: SparkSession, storage: DeltaStorage) -> None:
    """The question a publisher asks before gating: same rows (any order) held, per partition or whole."""
    storage.replace_partitions(frame(spark, rows((1, D1), (2, D1), (3, D2))), NAME)
    version = storage.catalog.describe(NAME).version
    day1 = [{"day": D1}]
    assert storage.holds(frame(spark, rows((2, D1), (1, D1))), NAME, day1)
    assert not storage.holds(frame(spark, rows((1, D1))), NAME, day1)  # a row fewer
    assert not storage.holds(frame(spark, rows((1, D1), (2, D1), (4, D1))), NAME, day1)  # a row more
    changed = [(1, Decimal("9.99"), *rest) for _, _, *rest in rows((1, D1))] + rows((2, D1))
    assert not storage.holds(frame(spark, changed), NAME, day1)  # a value changed
    # An empty result over a partition that holds nothing (decided from the log), or holds rows.
    assert storage.holds(frame(spark, []), NAME, [{"day": D3}])
    assert not storage.holds(frame(spark, []), NAME, day1)
    # Whole table: all partitions at once.
    assert storage.holds(frame(spark, rows((3, D2), (1, D1), (2, D1))), NAME)
    assert not storage.holds(frame(spark, rows((1, D1), (2, D1))), NAME)
    assert not storage.holds(frame(spark, []), "raw.test.missing")
    assert storage.catalog.describe(NAME).version == version  # asking commits nothing


def _jobs_of(spark: SparkSession, group: str, call: Callable[[], object]) -> tuple[object, list[int]]:
    """What ``call`` returned, and the Spark jobs it ran."""
    sc = spark.sparkContext
    sc.setJobGroup(group, group)
    try:
        result = call()
        return result, spark_job_ids(spark, group)
    finally:
        for key in ("spark.jobGroup.id", "spark.job.description", "spark.job.interruptOnCancel"):
            sc.setLocalProperty(key, None)  # type: ignore[arg-type]  # None removes it


def test_holds_with_the_frames_row_count_asks_spark_only_when_the_counts_agree(
    spark: SparkSession, storage: DeltaStorage
) -> None:
    storage.replace_partitions(frame(spark, rows((1, D1), (2, D1), (3, D2))), NAME)
    day1, day3 = [{"day": D1}], [{"day": D3}]
    one = frame(spark, rows((1, D1)))
    assert _jobs_of(spark, "fewer", lambda: storage.holds(one, NAME, day1, row_count=1)) == (False, [])
    assert _jobs_of(spark, "none held", lambda: storage.holds(one, NAME, day3, row_count=1)) == (False, [])
    empty = frame(spark, [])
    assert _jobs_of(spark, "empty", lambda: storage.holds(empty, NAME, day3, row_count=0)) == (True, [])
    # Equal counts: the rows decide, in one job.
    same, jobs = _jobs_of(
        spark, "same", lambda: storage.holds(frame(spark, rows((2, D1), (1, D1))), NAME, day1, row_count=2)
    )
    assert same and len(jobs) >= 1
    changed = [(1, Decimal("9.99"), *rest) for _, _, *rest in rows((1, D1))] + rows((2, D1))
    assert not storage.holds(frame(spark, changed), NAME, day1, row_count=2)
    assert storage.holds(frame(spark, rows((3, D2), (1, D1), (2, D1))), NAME, row_count=3)


def test_replace_named_partition_with_empty_result_clears_it(spark: SparkSession, storage: DeltaStorage) -> None:
    storage.append(frame(spark, rows((1, D1), (2, D2))), NAME)
    result = storage.replace_partitions(frame(spark, []), NAME, partitions=[{"day": D2}])
    assert result.committed and result.files_removed == 1
    assert_df_equality(read_sorted(storage), frame(spark, rows((1, D1))), ignore_nullable=True)


def test_schema_mismatch_is_clear_and_commits_nothing(spark: SparkSession, storage: DeltaStorage) -> None:
    storage.append(frame(spark, rows((1, D1))), NAME)
    before = DeltaTable(str(storage.path(NAME))).version()
    wrong_type = frame(spark, rows((2, D1))).withColumn("amount", F.col("amount").cast("double"))
    with pytest.raises(SchemaMismatchError, match=r"amount: table decimal\(12,2\), frame double"):
        storage.append(wrong_type, NAME)
    with pytest.raises(SchemaMismatchError, match="missing columns: email"):
        storage.append(frame(spark, rows((2, D1))).drop("email"), NAME)
    extra = frame(spark, rows((2, D1))).selectExpr("*", "'x' as note")
    with pytest.raises(SchemaMismatchError, match="unexpected columns: note.*allow_evolution"):
        storage.append(extra, NAME)
    nullable = T.StructType([T.StructField(f.name, f.dataType, True) for f in SCHEMA.fields])
    with pytest.raises(SchemaMismatchError, match=r"NOT NULL columns: id \(1 null rows\)"):
        storage.append(spark.createDataFrame([(None, None, None, None, D1)], nullable), NAME)
    assert DeltaTable(str(storage.path(NAME))).version() == before
    assert_df_equality(read_sorted(storage), frame(spark, rows((1, D1))), ignore_nullable=True)
    # No stray data files either: every Parquet file on disk is referenced.
    assert _data_files(storage.path(NAME)) == _referenced(storage.path(NAME))


def test_explicit_schema_evolution_adds_nullable_column(spark: SparkSession, storage: DeltaStorage) -> None:
    storage.append(frame(spark, rows((1, D1))), NAME)
    extra = frame(spark, rows((2, D1))).selectExpr("*", "'hello' as note")
    storage.append(extra, NAME, allow_evolution=True)
    got = storage.read(NAME).orderBy("id").select("id", "note").collect()
    assert [(r.id, r.note) for r in got] == [(1, None), (2, "hello")]
    assert [h.c360_operation for h in storage.catalog.history(NAME)][:2] == ["append", "evolve_schema"]


def test_spark_and_delta_rs_read_the_same_rows(spark: SparkSession, storage: DeltaStorage) -> None:
    data = rows((1, D1), (2, D2)) + [(3, None, None, None, None)]
    storage.append(frame(spark, data), NAME)
    dt_table = DeltaTable(str(storage.path(NAME)))
    arrow = pa.table(QueryBuilder().register("t", dt_table).execute("SELECT * FROM t ORDER BY id").read_all())
    by_delta_rs = [tuple(r.values()) for r in arrow.to_pylist()]
    by_spark = [tuple(r) for r in storage.read(NAME).orderBy("id").collect()]
    # Spark returns naive datetimes in the session zone (UTC); delta-rs returns aware UTC ones.
    by_spark = [tuple(v.replace(tzinfo=dt.UTC) if isinstance(v, dt.datetime) else v for v in r) for r in by_spark]
    assert by_spark == by_delta_rs == [tuple(r) for r in data]


def test_pii_columns_get_no_statistics(spark: SparkSession, storage: DeltaStorage) -> None:
    storage.append(frame(spark, rows((1, D1))), NAME)
    log = "".join(p.read_text() for p in sorted((storage.path(NAME) / "_delta_log").glob("*.json")))
    assert "u1@x.org" not in log
    assert '\\"id\\": 1' in log  # non-PII columns do get bounds


def test_time_travel_by_timestamp(spark: SparkSession, storage: DeltaStorage) -> None:
    storage.append(frame(spark, rows((1, D1))), NAME)
    time.sleep(0.5)  # the two commits at least this far apart, however fast the machine
    storage.append(frame(spark, rows((2, D1))), NAME)
    history = {h.version: h.timestamp for h in storage.catalog.history(NAME)}
    # Halfway between the two appends: delta-rs dates a version by its log file's modification
    # time, a few milliseconds after the commit's own timestamp, so "just after" is not enough.
    as_of = history[1] + (history[2] - history[1]) / 2
    assert [r.id for r in storage.read(NAME, as_of=as_of).collect()] == [1]
    with pytest.raises(TableNotFoundError, match="did not exist"):
        storage.read(NAME, as_of=dt.datetime(2000, 1, 1, tzinfo=dt.UTC))


def test_vacuum_respects_retention_then_really_deletes(spark: SparkSession, storage: DeltaStorage) -> None:
    storage.append(frame(spark, rows((1, D1))), NAME)
    storage.overwrite(frame(spark, rows((2, D1))), NAME)
    path = storage.path(NAME)
    assert len(_data_files(path)) == 2
    assert storage.catalog.vacuum(NAME, retention_hours=168) == []
    deleted = storage.catalog.vacuum(NAME, retention_hours=0)
    assert len(deleted) == 1
    assert _data_files(path) == _referenced(path)
    assert [r.id for r in storage.read(NAME).collect()] == [2]


def test_compaction_keeps_rows_in_fewer_files(spark: SparkSession, storage: DeltaStorage) -> None:
    for i in range(4):
        storage.append(frame(spark, rows((i, D1))), NAME)
    before = read_sorted(storage).collect()
    result = storage.compact(NAME)
    assert result == {"numFilesAdded": 1, "numFilesRemoved": 4}
    assert read_sorted(storage).collect() == before
    assert storage.catalog.history(NAME)[0].c360_operation == "compact"


def test_concurrent_replace_of_same_partition_is_a_clear_conflict(
    spark: SparkSession, settings: Settings, storage: DeltaStorage
) -> None:
    storage.append(frame(spark, rows((1, D1))), NAME)

    class RacingStorage(DeltaStorage):
        """Lets another writer replace the partition between this write's read and commit."""

        def _write_files(self, *args: object, **kwargs: object) -> object:
            written = super()._write_files(*args, **kwargs)  # type: ignore[arg-type]
            storage.replace_partitions(frame(spark, rows((5, D1))), NAME)
            return written

    with pytest.raises(CommitConflictError, match="concurrent commit conflicts.*nothing was committed"):
        RacingStorage(spark, settings.lake_root).replace_partitions(frame(spark, rows((6, D1))), NAME)
    assert [r.id for r in storage.read(NAME).collect()] == [5]
    # The losing write's files are gone; what remains is the winner's plus version 1's (kept for time travel).
    path = storage.path(NAME)
    assert _data_files(path) == _referenced(path) | _referenced(path, version=1)


def test_bad_names_and_missing_tables(storage: DeltaStorage) -> None:
    with pytest.raises(TableNameError, match="tier.domain.table"):
        storage.read("events")
    with pytest.raises(TableNameError, match="unknown tier 'bronze'"):
        storage.read("bronze.x.y")
    with pytest.raises(TableNotFoundError, match="raw.test.nothing does not exist"):
        storage.read("raw.test.nothing")
    assert LakeCatalog(storage.catalog.lake_root).list_tables() == [NAME]


def test_version_from_the_log_names_is_the_version_delta_rs_opens(spark: SparkSession, storage: DeltaStorage) -> None:
    catalog = storage.catalog
    assert catalog.version(NAME) == 0 and catalog.versions() == {NAME: 0}
    for i in range(1, 4):
        storage.append(frame(spark, rows((i, D1))), NAME)
    assert catalog.version(NAME) == DeltaTable(str(storage.path(NAME))).version() == 3
    # A checkpoint at version 3, then the entries before it gone, as log cleanup leaves them
    # once they expire: the largest name is still the latest version.
    DeltaTable(str(storage.path(NAME))).create_checkpoint()
    log = storage.path(NAME) / "_delta_log"
    for entry in log.glob("*.json"):
        if int(entry.stem) < 3:
            entry.unlink()
    assert sorted(e.name for e in log.glob("*.json")) == [f"{3:020d}.json"]
    storage.append(frame(spark, rows((9, D2))), NAME)
    assert catalog.version(NAME) == DeltaTable(str(storage.path(NAME))).version() == 4
    assert catalog.versions() == {NAME: 4}
    with pytest.raises(TableNotFoundError, match="raw.test.nothing does not exist"):
        catalog.version("raw.test.nothing")


def _data_files(path: Path) -> set[str]:
    return {p.relative_to(path).as_posix() for p in path.rglob("*.parquet") if "_delta_log" not in p.parts}


def _referenced(path: Path, version: int | None = None) -> set[str]:
    from urllib.parse import unquote

    table = DeltaTable(str(path), version=version)
    return {unquote(a) for a in pa.table(table.get_add_actions()).column("path").to_pylist()}


def test_read_prunes_partitions_and_records_transactions(spark: SparkSession, storage: DeltaStorage) -> None:
    result = storage.append(
        frame(spark, rows((1, D1), (2, D2), (3, D3))), NAME, record_transactions=[("file:a", 1), ("file:b", 1)]
    )
    assert result.committed
    assert storage.transaction_version(NAME, "file:a") == 1
    assert storage.transaction_version(NAME, "file:zzz") is None
    got = storage.read(NAME, partitions={"day": [D1, D3]}).orderBy("id")
    assert_df_equality(got, frame(spark, rows((1, D1), (3, D3))), ignore_nullable=True)
    with pytest.raises(ValueError, match="not partition columns: id"):
        storage.read(NAME, partitions={"id": 1})


def test_read_holding_values_skips_only_files_whose_bounds_rule_them_out(
    spark: SparkSession, storage: DeltaStorage
) -> None:
    """Data skipping: a file is left out only when its statistics prove it holds none of the
    values. Columns without bounds (PII, strings past 32 characters) skip nothing."""
    for batch in (rows((1, D1), (3, D1)), rows((10, D1), (12, D1)), rows((20, D2), (22, D2))):
        storage.append(frame(spark, batch).coalesce(1), NAME)  # a file per append

    def read(**holding: list) -> tuple[list[int], int]:
        df = storage.read(NAME, holding=holding)
        return sorted(r.id for r in df.collect()), len(df.inputFiles())

    assert read(id=[2]) == ([1, 3], 1)  # inside a file's bounds, not in it: the file is read
    assert read(id=[11, 21, None]) == ([10, 12, 20, 22], 2)
    assert read(id=[5, 15, 30]) == ([], 0)  # between and past every file's bounds
    assert read(id=[]) == ([], 0)
    assert read(email=["u1@x.org"]) == ([1, 3, 10, 12, 20, 22], 3)  # PII: no statistics
    got = storage.read(NAME, partitions={"day": [D2]}, holding={"id": [1, 21]})
    assert sorted(r.id for r in got.collect()) == [20, 22]
    with pytest.raises(ValueError, match="not columns of the table: nope"):
        storage.read(NAME, holding={"nope": [1]})

    name, long = "raw.test.notes", "n" * 33
    schema = T.StructType([T.StructField("note", T.StringType()), T.StructField("day", T.DateType())])
    storage.ensure_table(name, schema, ["day"], description="notes")
    storage.append(spark.createDataFrame([("a", D1), ("c", D1)], schema).coalesce(1), name)
    storage.append(spark.createDataFrame([("m", D1), (long, D1)], schema).coalesce(1), name)  # > 32 chars: no bounds
    assert len(storage.read(name, holding={"note": ["b"]}).inputFiles()) == 2
    assert len(storage.read(name, holding={"note": ["z"]}).inputFiles()) == 1
    assert len(storage.read(name, holding={"note": ["c"]}).inputFiles()) == 2


def test_scratch_is_private_removed_on_exit_and_on_failure_and_swept_by_vacuum(storage: DeltaStorage) -> None:
    with storage.scratch(NAME, "work") as folder:
        assert folder.is_dir() and folder.stat().st_mode & 0o777 == 0o700
        (folder / "part.parquet").write_bytes(b"rows")
    assert not folder.exists()
    with pytest.raises(RuntimeError, match="boom"), storage.scratch(NAME, "work") as failed:
        (failed / "part.parquet").write_bytes(b"rows")
        raise RuntimeError("boom")
    assert not failed.exists()
    # A process killed inside the block leaves its folder; vacuum removes it after the retention.
    left = storage.path(NAME) / "_staging" / "work-killed"
    left.mkdir(parents=True)
    (left / "part.parquet").write_bytes(b"rows")
    deleted = storage.catalog.vacuum(NAME, retention_hours=0)
    assert [Path(p).name for p in deleted] == ["part.parquet"] and not left.exists()


def test_sweep_staging_removes_every_tables_staging_folders_whatever_their_age(tmp_path: Path) -> None:
    from c360.storage import LakeCatalog

    left = {
        tmp_path / "vault/pii/values/_staging/ingest-1/part-0.parquet": b"clear values",
        tmp_path / "raw/sales/transactions/_staging/9f2c/day=2024-01-01/part-0.parquet": b"sealed rows",
    }
    for path, data in left.items():
        path.parent.mkdir(parents=True)
        path.write_bytes(data)
    kept = tmp_path / "raw/sales/transactions/day=2024-01-01/part-0.parquet"
    kept.parent.mkdir(parents=True)
    kept.write_bytes(b"a committed file")
    removed = LakeCatalog(tmp_path).sweep_staging()
    assert removed == sorted(p.relative_to(tmp_path).as_posix() for p in left)
    assert not any(p.exists() for p in left) and kept.exists()
    assert not (tmp_path / "vault/pii/values/_staging").exists()
    assert LakeCatalog(tmp_path).sweep_staging() == []


def test_what_the_catalog_reads_of_a_version_is_kept_and_a_new_commit_or_table_is_read_anew(tmp_path: Path) -> None:
    """Row counts, descriptions and schemas are read once per table version (the commit file's
    identity); a new commit, or the table dropped and written again at the same path, is read
    anew, as is a past version asked for by number."""
    import shutil

    from deltalake import write_deltalake

    from c360.storage import LakeCatalog
    from c360.storage import catalog as catalog_module

    path = tmp_path / "sanitized/sales/orders"
    write_deltalake(str(path), pa.table({"d": ["2024-01-01"] * 2, "x": [1, 2]}), partition_by=["d"])
    catalog = LakeCatalog(tmp_path)
    reads = []
    real = catalog_module._LogState.of
    catalog_module._LogState.of = classmethod(lambda cls, dt: reads.append(dt.version()) or real(dt))  # type: ignore[method-assign]
    try:
        assert catalog.row_counts("sanitized.sales.orders", "d") == {"2024-01-01": 2}
        assert catalog.describe("sanitized.sales.orders").files == 1
        assert LakeCatalog(tmp_path).row_counts("sanitized.sales.orders") == {None: 2}  # another catalog, same lake
        assert reads == [0]
        write_deltalake(str(path), pa.table({"d": ["2024-01-02"], "x": [3]}), partition_by=["d"], mode="append")
        assert catalog.row_counts("sanitized.sales.orders", "d") == {"2024-01-01": 2, "2024-01-02": 1}
        assert catalog.schema("sanitized.sales.orders", 0).names == ["d", "x"]
        assert reads == [0, 1, 0]  # version 0 again: one state per table is kept
        shutil.rmtree(path)
        write_deltalake(str(path), pa.table({"d": ["2024-02-01"], "y": [9]}), partition_by=["d"])
        assert catalog.row_counts("sanitized.sales.orders", "d") == {"2024-02-01": 1}
        assert catalog.schema("sanitized.sales.orders").names == ["d", "y"]
        assert reads == [0, 1, 0, 0]
    finally:
        catalog_module._LogState.of = real  # type: ignore[method-assign]
    with pytest.raises(TableNotFoundError, match="has no version 1 \\(latest is 0\\)"):
        catalog.open("sanitized.sales.orders", version=1)


def test_a_version_the_lake_no_longer_keeps_is_refused_by_name(tmp_path: Path) -> None:
    """Time travel to a version whose files a vacuum deleted, or whose log entries an erasure
    removed, names the table, the version and why, instead of the object store's or delta
    kernel's error ("No files in log segment") halfway through a read."""
    from deltalake import write_deltalake

    from c360.storage import LakeCatalog
    from c360.storage.catalog import VersionNotKeptError
    from c360.storage.rewrite import purge_log

    name = "enhanced.sales.orders"
    path = tmp_path / "enhanced/sales/orders"
    write_deltalake(str(path), pa.table({"x": [1, 2]}))
    first_written = dt.datetime.now(dt.UTC)
    time.sleep(0.05)
    write_deltalake(str(path), pa.table({"x": [3]}), mode="overwrite")  # version 1 replaces version 0's file
    write_deltalake(str(path), pa.table({"x": [4]}), mode="append")  # version 2 keeps version 1's file
    catalog = LakeCatalog(tmp_path)
    assert catalog.earliest_version(name) == 0
    assert catalog.open(name, version=0).to_pyarrow_table()["x"].to_pylist() == [1, 2]
    catalog.vacuum(name, retention_hours=0)  # deletes version 0's file; commits VACUUM START/END
    with pytest.raises(VersionNotKeptError, match="no longer keeps version 0: 1 of its 1 files were deleted"):
        catalog.open(name, version=0)
    assert catalog.open(name, version=1).to_pyarrow_table()["x"].to_pylist() == [3]  # its file is still live
    latest = catalog.version(name)
    purge_log(catalog, name)  # what an erasure does: the history restarts at a checkpoint of the latest
    assert catalog.earliest_version(name) == latest
    with pytest.raises(VersionNotKeptError, match=f"no longer keeps version 1: its history starts at version {latest}"):
        catalog.open(name, version=1)
    with pytest.raises(VersionNotKeptError, match="no longer keeps its versions before"):
        catalog.open(name, as_of=first_written)
    with pytest.raises(TableNotFoundError, match=f"has no version {latest + 1}"):
        catalog.open(name, version=latest + 1)
    assert sorted(catalog.open(name, version=latest).to_pyarrow_table()["x"].to_pylist()) == [3, 4]


def test_opening_a_table_of_many_files_runs_no_spark_job(spark: SparkSession, storage: DeltaStorage) -> None:
    """Spark lists more than 32 paths with a job of one task per path, each deserializing the
    whole Hadoop configuration; c360's session lists a table's files on the driver instead."""
    days = [D1 + dt.timedelta(days=i) for i in range(40)]
    storage.append(frame(spark, rows(*enumerate(days))), NAME)
    assert len(storage.catalog.open(NAME).file_uris()) >= 40  # past Spark's default of 32
    df, jobs = _jobs_of(spark, "c360-open-table", lambda: storage.read(NAME))
    assert jobs == [], f"opening the table ran Spark jobs {jobs}"
    assert_df_equality(df.orderBy("day", "id"), frame(spark, rows(*enumerate(days))), ignore_nullable=True)


WIDE = T.StructType(
    [
        T.StructField("id", T.LongType(), False),
        T.StructField("amount", T.DecimalType(12, 2), True),
        T.StructField("big", T.DecimalType(30, 4), True),
        T.StructField("at", T.TimestampType(), True),
        T.StructField("ok", T.BooleanType(), True),
        T.StructField("score", T.DoubleType(), True),
        T.StructField("tags", T.ArrayType(T.StringType()), True),
        T.StructField("attrs", T.MapType(T.StringType(), T.LongType()), True),
        T.StructField("where", T.StructType([T.StructField("city", T.StringType())]), True),
        T.StructField("segment", T.StringType(), True),
        T.StructField("day", T.DateType(), True),
    ]
)


def wide_rows() -> list[tuple]:
    at = dt.datetime(2024, 1, 1, 10, 30, 0, 123456, tzinfo=dt.UTC)
    segments = ["retail", "a/b=c d%e", "ünï #?", None]
    return [
        (
            i,
            Decimal(f"{i}.25") if i % 5 else None,
            Decimal(f"123456789012345678901234.{i:04d}"),
            at + dt.timedelta(hours=i) if i % 7 else None,
            i % 2 == 0 if i % 3 else None,
            i / 3,
            [f"t{i}", None] if i % 4 else None,
            {"k": i} if i % 6 else None,
            {"city": f"c{i}"} if i % 8 else None,
            segments[i % len(segments)],
            [D1, D2, None][i % 3],
        )
        for i in range(40)
    ]


def test_rows_collected_on_the_driver_are_written_as_spark_writes_them(
    spark: SparkSession, storage: DeltaStorage
) -> None:
    """The same frame through Spark's writer and through pyarrow (``rows=``): the same rows
    for Spark and delta-rs, the same partition values, statistics and fingerprint in the log,
    and partitions a later Spark write replaces as its own."""
    df = spark.createDataFrame(wide_rows(), WIDE)
    by = {"spark": "raw.test.by_spark", "arrow": "raw.test.by_arrow"}
    for t in by.values():
        storage.ensure_table(t, WIDE, ["segment", "day"])
    storage.append(df.repartition("segment", "day"), by["spark"])  # one file per partition, as publish writes
    storage.append(df, by["arrow"], rows=df.toArrow())

    def with_spark(t: str) -> list[dict]:
        return [r.asDict(recursive=True) for r in storage.read(t).orderBy("id").collect()]

    assert with_spark(by["arrow"]) == with_spark(by["spark"])

    def with_delta_rs(t: str) -> list[dict]:
        query = QueryBuilder().register("t", DeltaTable(str(storage.path(t))))
        return pa.table(query.execute("SELECT * FROM t ORDER BY id").read_all()).to_pylist()

    assert with_delta_rs(by["arrow"]) == with_delta_rs(by["spark"])

    def logged(t: str) -> list[tuple]:
        actions = pa.table(DeltaTable(str(storage.path(t))).get_add_actions(flatten=True)).to_pylist()
        skip = ("path", "size_bytes", "modification_time")
        # pyarrow writes a double column's minimum 0 as -0.0, as the Parquet format asks: equal.
        same = [{k: v + 0.0 if isinstance(v, float) else v for k, v in a.items() if k not in skip} for a in actions]
        return sorted((tuple(sorted((k, str(v)) for k, v in a.items())) for a in same), key=str)

    assert logged(by["arrow"]) == logged(by["spark"])
    assert len(logged(by["arrow"])) == 12  # one file per (segment, day), nulls included
    assert storage.holds(df, by["arrow"]) and storage.holds(df, by["spark"])

    # A Spark write replaces the Arrow-written partitions it names, nulls and escapes included.
    odd = {"segment": "a/b=c d%e", "day": D2}
    for spec in (odd, {"segment": None, "day": None}):
        storage.replace_partitions(df.limit(0), by["arrow"], partitions=[spec])
        storage.replace_partitions(df.limit(0), by["spark"], partitions=[spec])
    assert with_spark(by["arrow"]) == with_spark(by["spark"])
    assert len(with_spark(by["arrow"])) == 40 - sum(
        1 for r in wide_rows() if (r[-2], r[-1]) in {("a/b=c d%e", D2), (None, None)}
    )


def test_rows_collected_on_the_driver_keep_the_tables_rules(spark: SparkSession, storage: DeltaStorage) -> None:
    """NOT NULL is checked, nothing is committed on failure, and an unpartitioned table
    gets one file."""
    nullable = T.StructType([T.StructField(f.name, f.dataType, True, f.metadata) for f in SCHEMA.fields])
    bad = spark.createDataFrame([(None, None, None, None, D1)], nullable)
    before = storage.catalog.version(NAME)
    with pytest.raises(SchemaMismatchError, match="nulls in NOT NULL columns: id"):
        storage.append(bad, NAME, rows=bad.toArrow())
    assert storage.catalog.version(NAME) == before
    assert not list(storage.path(NAME).rglob("*.parquet"))

    flat = "raw.test.flat"
    df = frame(spark, rows((1, D1), (2, D2), (3, D3)))
    storage.ensure_table(flat, SCHEMA)
    result = storage.overwrite(df, flat, rows=df.toArrow())
    assert (result.rows_added, result.files_added) == (3, 1)
    assert_df_equality(storage.read(flat), df, ignore_row_order=True, ignore_nullable=True)

    # The schema alone stands for the frame only with its rows (or files): no rows, no write.
    with pytest.raises(ValueError, match="a schema alone can only be written with rows= or files="):
        storage.append(SCHEMA, flat)
    storage.append(SCHEMA, flat, rows=df.toArrow())
    assert storage.read(flat).count() == 6


def test_rows_of_a_table_partitioned_by_a_timestamp_are_written_by_spark(
    spark: SparkSession, storage: DeltaStorage
) -> None:
    """Python spells a timestamp partition value differently from Spark: such a table's rows
    are written by Spark even when collected, so both writes leave the same partition values."""
    schema = T.StructType([T.StructField("id", T.LongType()), T.StructField("hour", T.TimestampType())])
    df = spark.createDataFrame([(1, dt.datetime(2024, 1, 1, 10, tzinfo=dt.UTC))], schema)
    values = {}
    # The third write gives only the schema with the rows (as ingest and the vault do): Spark
    # still writes them, from the rows.
    ways = (("raw.test.hours_spark", df, None), ("raw.test.hours_arrow", df, df.toArrow()),
            ("raw.test.hours_schema", schema, df.toArrow()))  # fmt: skip
    for name, given, rows in ways:
        storage.ensure_table(name, schema, ["hour"])
        storage.append(given, name, rows=rows)
        actions = pa.table(DeltaTable(str(storage.path(name))).get_add_actions(flatten=True)).to_pylist()
        values[name] = [(a["partition.hour"], a["path"].split("/")[0]) for a in actions]
    assert values["raw.test.hours_arrow"] == values["raw.test.hours_spark"] == values["raw.test.hours_schema"]
    assert storage.read("raw.test.hours_arrow").collect() == df.collect()
    assert storage.read("raw.test.hours_schema").collect() == df.collect()


def test_files_written_as_the_tables_are_committed_as_they_are_and_others_refused(
    spark: SparkSession, storage: DeltaStorage, tmp_path: Path
) -> None:
    """``files=``: Parquet files laid out as the table's (``table_file``, ``data_file_schema``)
    are moved in and committed with their statistics, no Spark job; a file of another schema,
    one whose name the table already holds, or a table whose partition values Python does not
    spell as Spark does, is refused and nothing is committed."""
    import pyarrow.compute as pc
    import pyarrow.parquet as pq

    from c360.storage.delta import data_file_schema, table_file

    data = data_file_schema(SCHEMA, ["day"])
    df = frame(spark, rows((1, D1), (2, D1), (3, D2)))
    arrow = df.toArrow()
    folder = tmp_path / "files"
    for day in (D1, D2):
        path = folder / table_file({"day": day}, f"part-{day}.parquet")
        path.parent.mkdir(parents=True)
        chosen = arrow.filter(pc.equal(arrow.column("day"), pa.scalar(day)))
        pq.write_table(chosen.select(data.names).cast(data), path)
    result = storage.append(spark.createDataFrame([], SCHEMA), NAME, files=folder)
    assert (result.rows_added, result.files_added) == (3, 2)
    assert not folder.exists()  # used up
    assert_df_equality(read_sorted(storage), df.orderBy("day", "id"), ignore_nullable=True)
    # Statistics as a Spark write leaves them: a read holding an id skips the other file.
    assert len(storage.read(NAME, holding={"id": [3]}).inputFiles()) == 1

    before = storage.catalog.version(NAME)
    wrong = tmp_path / "wrong"
    (wrong / "day=2024-01-03").mkdir(parents=True)
    pq.write_table(pa.table({"id": [4]}), wrong / "day=2024-01-03" / "part-x.parquet")
    with pytest.raises(SchemaMismatchError, match="does not have the table's data schema"):
        storage.append(spark.createDataFrame([], SCHEMA), NAME, files=wrong)
    again = tmp_path / "again"
    path = again / table_file({"day": D1}, f"part-{D1}.parquet")  # the name the table holds
    path.parent.mkdir(parents=True)
    pq.write_table(arrow.slice(0, 1).select(data.names).cast(data), path)
    pq.write_table(arrow.slice(0, 1).select(data.names).cast(data), again / table_file({"day": D1}, "a-new.parquet"))
    with pytest.raises(FileExistsError, match="exists already"):
        storage.append(spark.createDataFrame([], SCHEMA), NAME, files=again)
    assert storage.catalog.version(NAME) == before
    assert not list(storage.path(NAME).rglob("a-new.parquet"))  # nothing was moved in either
    assert_df_equality(read_sorted(storage), df.orderBy("day", "id"), ignore_nullable=True)
    # A timestamp partition's folder name is Spark's to spell: such a table takes no files.
    hours = T.StructType([T.StructField("id", T.LongType()), T.StructField("hour", T.TimestampType())])
    storage.ensure_table("raw.test.hours", hours, ["hour"])
    with pytest.raises(SchemaMismatchError, match="partition values Python spells as Spark does"):
        storage.append(spark.createDataFrame([], hours), "raw.test.hours", files=tmp_path / "hours")
