"""Ingesting a folder with bad files: each named with why, the others ingested, nothing lost."""

from __future__ import annotations

from datetime import date
from pathlib import Path

import pyarrow.parquet as pq
import pytest
from chispa import assert_df_equality
from pyspark.sql import SparkSession
from pyspark.sql import functions as F

from c360.contracts.retail import CUSTOMERS
from c360.lake import Lake
from c360.pii import VAULT_TABLE, token
from c360.raw.ingest import FILE_LOG_TABLE, discover, ingest
from c360.settings import Settings
from c360.storage import DeltaStorage
from tests.enhanced.star_checks import arrow_hash

KEY = b"ingest-test-key"
DAY = date(2024, 1, 2)
CUSTOMER_HEADER = ",".join(CUSTOMERS.raw_columns)
ADA = (
    "C1,Ada,Byron,ada@example.com,+1-206-555-0101,1985-03-15,F,2023-05-01 10:00:00,"
    "Premium,online,1 Main St,Seattle,WA,98101,USA"
)
FILES = {
    "customer/customers.csv": f"{CUSTOMER_HEADER}\n{ADA}\nC2,Bob,Smith,bob@x.org,+1-2\n".encode(),
    "customer/support_tickets.csv": b"",
    "customer/app_usage.csv": b"usage_id,customer_id,session_date,session_start,session_duration_minutes,"
    b"pages_viewed,actions_taken,device_type,app_version\n",
    "sales/transactions.csv": b"transaction_id;customer_id;transaction_date\nT1;C1;2024-01-02\n",
    "sales/transaction_items.csv": b"\x00\xff\xfebinary\n\x01junk",
    "logistics/tracking_events.csv": b"event_id,shipment_id,event_timestamp,event_type,location,description,"
    b"carrier_status\nE1,S1,2024-01-02 10:00:00,picked_up,Seattle,Picked up,IP\nE2,S1,2024-01-0",
    "logistics/notes.txt": b"not a source\n",
}


def _lake(tmp_path: Path) -> Path:
    src = tmp_path / "in" / DAY.isoformat()
    for rel, data in FILES.items():
        (src / rel).parent.mkdir(parents=True, exist_ok=True)
        (src / rel).write_bytes(data)
    return tmp_path / "in"


@pytest.mark.parametrize("read_by", ["driver", "tasks"])
def test_bad_files_are_named_the_rest_is_ingested_and_every_line_kept(
    spark: SparkSession, settings: Settings, tmp_path: Path, read_by: str
) -> None:
    """The same outcomes whether a batch's files are read by the driver (a day's few bytes)
    or in Spark tasks (more than ``driver_read_max_bytes``)."""
    source = _lake(tmp_path)
    storage = DeltaStorage(spark, settings.lake_root)
    limit = 0 if read_by == "tasks" else None
    report = ingest(spark, storage, discover(source, DAY), KEY, ingest_id="ing-1", driver_read_max_bytes=limit)

    outcomes = sorted((f.path.name, f.status, f.rows, f.malformed, f.message()) for f in report.files)
    assert outcomes == [
        ("app_usage.csv", "empty", 0, 0, "header only: no data rows"),
        ("customers.csv", "ingested", 2, 1, "1 malformed line(s) kept with their raw text"),
        ("notes.txt", "no_contract", 0, 0, "no source contract for logistics/notes.txt: not ingested"),
        ("support_tickets.csv", "empty", 0, 0, "empty file (0 bytes): nothing to ingest"),
        ("tracking_events.csv", "ingested", 2, 1, "1 malformed line(s) kept with their raw text"),
        (
            "transaction_items.csv",
            "ingested",
            2,
            2,
            "not valid UTF-8 at byte 1 (binary or wrong encoding): every line flagged",
        ),
        (
            "transactions.csv",
            "ingested",
            2,
            2,
            "header lacks key column(s) transaction_id (the file seems to use ';' as delimiter): "
            "every line kept as malformed",
        ),
    ]

    def lines(table: str) -> list[tuple]:
        df = storage.read(table).orderBy("_line_number")
        return [(r["_line_number"], r["_raw_line"], r["_parse_error"]) for r in df.collect()]

    assert lines("raw.sales.transactions") == [
        (
            1,
            "transaction_id;customer_id;transaction_date",
            "header lacks key column(s) transaction_id (the file seems to use ';' as delimiter)",
        ),
        (2, "T1;C1;2024-01-02", "header lacks key column(s) transaction_id (the file seems to use ';' as delimiter)"),
    ]
    assert lines("raw.sales.transaction_items") == [
        (1, "\x00\\xff\\xfebinary", "file is not UTF-8 text"),
        (2, "\x01junk", "file is not UTF-8 text"),
    ]
    assert lines("raw.logistics.tracking_events") == [
        (2, None, None),
        (3, "E2,S1,2024-01-0", "3 fields where the header has 7"),
    ]

    # PII is sealed on the way in: tokens in raw, clear values only in the vault (malformed text too).
    raw_customers = storage.read("raw.customer.customers").orderBy("_line_number")
    got = raw_customers.select("customer_id", "first_name", "email", "city", "_raw_line")
    bad = "C2,Bob,Smith,bob@x.org,+1-2"
    want = spark.createDataFrame(
        [
            ("C1", token(KEY, "Ada"), token(KEY, "ada@example.com"), "Seattle", None),
            (None, None, None, None, token(KEY, bad)),
        ],
        got.schema,
    )
    assert_df_equality(got, want)
    vault = storage.read(VAULT_TABLE).filter(F.col("value").isin("Ada", bad)).select("token", "value", "column")
    want_vault = spark.createDataFrame(
        [(token(KEY, "Ada"), "Ada", "first_name"), (token(KEY, bad), bad, "_raw_line")], vault.schema
    )
    assert_df_equality(vault, want_vault, ignore_row_order=True)

    # Every file is in the file log with its outcome, for people and the catalog (files without a contract too).
    log = storage.read(FILE_LOG_TABLE).select(F.element_at(F.split("source_file", "/"), -1).alias("f"), "status")
    want_log = spark.createDataFrame([(n, s) for n, s, *_ in outcomes], log.schema)
    assert_df_equality(log, want_log, ignore_row_order=True)

    # The same files again add nothing: no table gets a new version.
    tables = storage.catalog.list_tables()
    versions = {t: storage.catalog.describe(t).version for t in tables}
    again = ingest(spark, storage, discover(source, DAY), KEY, ingest_id="ing-2")
    assert {f.status for f in again.files} == {"already_ingested", "no_contract"}
    assert {t: storage.catalog.describe(t).version for t in storage.catalog.list_tables()} == versions


def test_the_same_bytes_twice_in_one_batch_are_ingested_once_and_the_staging_folder_goes(
    spark: SparkSession, settings: Settings, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    source = tmp_path / "in"
    for day in ("2024-01-01", "2024-01-02"):  # two folders, the same bytes, one batch
        (source / day / "customer").mkdir(parents=True)
        (source / day / "customer" / "customers.csv").write_text(f"{CUSTOMER_HEADER}\n{ADA}\n")
    storage = DeltaStorage(spark, settings.lake_root)
    report = ingest(spark, storage, discover(source), KEY, ingest_id="twice")

    got = sorted((str(f.extract_date), f.status, f.rows, f.message()) for f in report.files)
    assert got == [
        ("2024-01-01", "ingested", 1, ""),
        ("2024-01-02", "already_ingested", 0, "same bytes already ingested; skipped"),
    ]
    raw = storage.read("raw.customer.customers").select("customer_id", "first_name", "_extract_date").collect()
    assert [(r[0], r[1], str(r[2])) for r in raw] == [("C1", token(KEY, "Ada"), "2024-01-01")]
    vault = storage.read(VAULT_TABLE).filter(F.col("value") == "Ada").select("token", "customer_id", "column")
    assert [tuple(r) for r in vault.collect()] == [(token(KEY, "Ada"), "C1", "first_name")]
    assert list(settings.lake_root.rglob("ingest-*")) == []  # the tasks' staging folder is gone

    # A commit that fails removes the staging folder too: no clear value stays behind in it.
    (source / "2024-01-03" / "customer").mkdir(parents=True)
    (source / "2024-01-03" / "customer" / "customers.csv").write_text(
        f"{CUSTOMER_HEADER}\n{ADA.replace('Ada', 'Zq7Marker')}\n"
    )

    def disk_full(*_args: object, **_kw: object) -> None:
        raise OSError("disk full")

    monkeypatch.setattr(DeltaStorage, "append", disk_full)
    with pytest.raises(OSError, match="disk full"):
        ingest(spark, storage, discover(source), KEY, ingest_id="fails")
    assert list(settings.lake_root.rglob("ingest-*")) == []
    assert [p for p in settings.lake_root.rglob("*") if p.is_file() and b"Zq7Marker" in p.read_bytes()] == []


def test_the_tasks_files_become_the_raw_tables_and_the_vault_is_the_same_either_way(
    spark: SparkSession, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The files the tasks write are committed into the raw tables as they are: one file per
    source file, in its extract date's partition, without the partition column, and read back
    the same by Spark and by delta-rs. The vault's values are added from the driver for a day
    (at most ``COLLECT_MAX_ROWS``) and through Spark for more: the same vault either way.
    Lines that did not parse, an extra column and two dates included."""
    from c360.raw import ingest as ingest_module

    source = _lake(tmp_path)
    later = source / "2024-01-03" / "customer" / "customers.csv"
    later.parent.mkdir(parents=True)
    later.write_text(f"{CUSTOMER_HEADER},nickname\n{ADA.replace('C1', 'C3')},Countess\n")
    lakes = {}
    # Read in Spark tasks, the vault's values added through Spark, then from the driver; and
    # the files read by the driver itself (a batch of at most DRIVER_READ_MAX_BYTES).
    for way, most, read in (("spark", 0, 0), ("driver", ingest_module.COLLECT_MAX_ROWS, 0), ("read", 0, None)):
        monkeypatch.setattr(ingest_module, "COLLECT_MAX_ROWS", most)
        storage = DeltaStorage(spark, tmp_path / way)
        report = ingest(spark, storage, discover(source), KEY, ingest_id=way, driver_read_max_bytes=read)
        lakes[way] = storage

    ingested = {f.path for f in report.files if f.status == "ingested" and f.rows}
    raw = sorted(n for n in Lake(tmp_path / "driver").names() if n.startswith("raw."))
    files = [
        Path(uri).relative_to(lakes["driver"].path(n))
        for n in raw
        for uri in lakes["driver"].catalog.open(n).file_uris()
    ]
    assert len(files) == len(ingested) == 5  # customers on two dates, three more sources on one
    assert {f.parent.name for f in files} == {"_extract_date=2024-01-02", "_extract_date=2024-01-03"}
    for n in raw:
        for uri in lakes["driver"].catalog.open(n).file_uris():
            assert "_extract_date" not in pq.read_schema(uri).names  # the folder holds it
        by_spark, by_delta_rs = lakes["driver"].read(n).toArrow(), Lake(tmp_path / "driver").arrow(n)
        assert arrow_hash(by_spark.select(by_delta_rs.column_names)) == arrow_hash(by_delta_rs), n

    clock = ["_ingest_id", "_ingest_time"]
    for name in [*raw, VAULT_TABLE]:
        spark_rows, driver_rows, read_rows = (Lake(tmp_path / w).arrow(name) for w in ("spark", "driver", "read"))
        assert spark_rows.schema == driver_rows.schema == read_rows.schema, name
        ours = [c for c in spark_rows.column_names if c not in clock]
        assert arrow_hash(spark_rows.select(ours)) == arrow_hash(driver_rows.select(ours)), name
        assert arrow_hash(spark_rows.select(ours)) == arrow_hash(read_rows.select(ours)), name
    extra = lakes["driver"].read("raw.customer.customers").filter(F.col("_extract_date") == "2024-01-03")
    assert [r["_extra"] for r in extra.collect()] == [{"nickname": token(KEY, "Countess")}]  # sealed: it may hold PII


def test_rows_missing_from_the_staging_folder_stop_the_ingest_before_any_commit(
    spark: SparkSession, settings: Settings, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A task's file that is not where the driver looks (an executor running another c360, a
    lost write) stops the ingest: no raw or vault commit, no file logged as ingested, so the
    next run ingests the files."""
    from c360.raw import ingest as ingest_module

    source = _lake(tmp_path)
    storage = DeltaStorage(spark, settings.lake_root)
    real_discard = ingest_module._discard

    def discard_and_lose_one(staging: Path, contract: object, files: list, kept: set[int]) -> None:
        real_discard(staging, contract, files, kept)  # type: ignore[arg-type]
        if getattr(contract, "name", "") == "customer.customers":
            for f in ingest_module._raw_folder(staging, contract).rglob("*.parquet"):  # type: ignore[arg-type]
                f.unlink()

    monkeypatch.setattr(ingest_module, "_discard", discard_and_lose_one)
    with pytest.raises(ingest_module.StagingError, match="customer.customers: the tasks read 2 rows to commit"):
        ingest(spark, storage, discover(source, DAY), KEY, ingest_id="lost")
    assert storage.catalog.list_tables() == []  # neither the vault, nor a raw table, nor the file log
    assert list(settings.lake_root.rglob("ingest-*")) == []  # the staging folder went too

    monkeypatch.undo()
    again = ingest(spark, storage, discover(source, DAY), KEY, ingest_id="again")
    assert {f.path.name for f in again.files if f.status == "ingested"} >= {"customers.csv"}
    assert storage.read("raw.customer.customers").count() == 2
