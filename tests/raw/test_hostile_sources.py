"""Hostile and messy source folders: nothing outside the source is read, a bad item never stops
the run, every file and folder is accounted for in ops.pipeline.ingested_files."""

from __future__ import annotations

import csv
import io
import json
import os
import socket
from collections.abc import Iterator
from datetime import date
from pathlib import Path

import pytest
from pyspark.sql import SparkSession
from typer.testing import CliRunner

from c360.cli import app
from c360.contracts.retail import PRODUCTS
from c360.pii import VAULT_TABLE
from c360.pipeline import RUNS_TABLE
from c360.raw import ingest as ingest_module
from c360.raw.ingest import FILE_LOG_SCHEMA, FILE_LOG_TABLE, discover, ingest
from c360.settings import Settings
from c360.storage import DeltaStorage
from tests.raw.hostile import (
    DEEP,
    SECRET,
    VISIBLE,
    gz,
    lake_bytes_hold,
    outside_files,
    products,
    raw_lines,
    readings,
    stations,
    transactions,
    write,
)

DAY = date(2024, 1, 5)
KEY = b"hostile-test-key"
DEPTH = "JSON nested deeper than 100 levels (the limit, c360.jsonlimits.MAX_JSON_DEPTH)"
UNDECODABLE = "not valid UTF-8 text (undecodable bytes kept escaped as \\xNN)"


@pytest.fixture
def cli(spark: SparkSession, settings: Settings) -> Iterator[CliRunner]:
    """The c360 command line in this process, on the test's lake and the session's Spark."""
    from c360.cli.state import state

    state._settings, state._spark = settings, spark
    try:
        yield CliRunner()
    finally:
        state._settings, state._spark = None, None


def _log(storage: DeltaStorage, src: Path) -> dict[str, tuple[str, str | None]]:
    """ops.pipeline.ingested_files as {path relative to the source folder: (status, message)}."""
    rows = storage.read(FILE_LOG_TABLE).select("source_file", "status", "message").collect()
    base = os.path.realpath(src)
    return {os.path.relpath(r["source_file"], base): (r["status"], r["message"]) for r in rows}


def test_hostile_folder_is_contained_and_every_item_accounted_for(
    cli: CliRunner, spark: SparkSession, settings: Settings, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    out = outside_files(tmp_path / "outside")
    src = tmp_path / "src"
    day = src / DAY.isoformat()
    good_tx = transactions(3, tag=VISIBLE)
    write(day / "sales" / "transactions.csv", good_tx)
    write(day / "sales" / "transactions.csv.bak", transactions(4, tag="stale"))  # one extra order
    write(day / "sales" / "transactions.csv~", transactions(2, tag="editor"))
    write(day / "sales" / ".transactions.csv.swp", b"\x00swap")
    write(day / "sales" / "transactions.csv.tmp", transactions(2, tag="tmp"))
    write(day / "sales" / "Transactions.CSV", transactions(2, tag="case"))
    write(day / "sales" / "transactions.txt", transactions(2, tag="txt"))
    (day / "sales" / "transaction_items.csv").symlink_to(out / "secret.txt")  # the /etc/passwd attack
    os.mkfifo(day / "sales" / "regional_sales.csv")  # opening it would block the run for ever
    write(src / "2024-01-04" / "products" / "products.csv", products(2))
    (day / "products").mkdir()
    (day / "products" / "products.csv").symlink_to(Path("../../2024-01-04/products/products.csv"))  # inside
    (day / "products" / "inventory.csv").symlink_to(day / "products" / "missing.csv")  # broken
    (day / "products" / "suppliers.csv").symlink_to(day / "products" / "suppliers.csv")  # a loop
    (day / "logistics").symlink_to(out / "dir", target_is_directory=True)  # a whole domain folder outside
    (day / "customer").mkdir()
    (day / "customer" / "customers.csv").symlink_to(out / "secret.txt")  # a PII source: the vault must stay clean
    bad_byte = b'{"station_id": "S\xff"}\n'  # Latin-1 in a UTF-8 source
    write(
        day / "air_quality" / "readings.jsonl",
        (readings(2) + DEEP + "\n").encode() + bad_byte + readings(1, "x").encode(),
    )
    long_name = "n" * 200_000  # over csv's default 128 KiB field limit
    write(day / "air_quality" / "stations.csv", stations(1).replace("nam1", long_name))
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as sock:
        # bound by a relative name: a socket's path is limited to 107 bytes, and a test
        # worker's temporary folder can be longer than that
        with monkeypatch.context() as m:
            m.chdir(day / "air_quality")
            sock.bind("feed.csv")
        write(src / "2024-13-45" / "sales" / "transactions.csv", transactions(5, tag="baddate"))
        write(src / "2024-01-04" / "sales" / "transactions.csv", transactions(5, tag="otherday"))
        (src / "2024-01-04" / "sales" / "transaction_items.csv").symlink_to(out / "secret.txt")
        write(src / "README.md", "# delivery notes\n")

        result = cli.invoke(app, ["run", "ingest", "--source", str(src), "--run-date", DAY.isoformat()])

    assert result.exit_code == 0, result.output
    storage = DeltaStorage(spark, settings.lake_root)
    log = _log(storage, src)
    statuses = {path: status for path, (status, _) in log.items()}
    d = "2024-01-05"
    assert statuses == {
        f"{d}/sales/transactions.csv": "ingested",
        f"{d}/sales/transactions.csv.bak": "no_contract",
        f"{d}/sales/transactions.csv~": "no_contract",
        f"{d}/sales/.transactions.csv.swp": "no_contract",
        f"{d}/sales/transactions.csv.tmp": "no_contract",
        f"{d}/sales/Transactions.CSV": "no_contract",
        f"{d}/sales/transactions.txt": "no_contract",
        f"{d}/sales/transaction_items.csv": "refused",
        f"{d}/sales/regional_sales.csv": "refused",
        "2024-01-04/products/products.csv": "ingested",  # the real path of what was read
        f"{d}/products/inventory.csv": "failed",
        f"{d}/products/suppliers.csv": "failed",
        f"{d}/logistics": "refused",
        f"{d}/customer/customers.csv": "refused",
        f"{d}/air_quality/readings.jsonl": "ingested",
        f"{d}/air_quality/stations.csv": "ingested",
        f"{d}/air_quality/feed.csv": "refused",
        "2024-13-45": "refused",
        "README.md": "no_contract",
    }  # and nothing of 2024-01-04's own files: with --run-date, other dates are not read
    real_out = os.path.realpath(out)
    link = src / d / "sales" / "transaction_items.csv"
    assert log[f"{d}/sales/transaction_items.csv"][1] == (
        f"link {link} -> {out}/secret.txt leads outside the source folder (to {real_out}/secret.txt): refused, not read"
    )
    assert log[f"{d}/sales/regional_sales.csv"][1] == (
        f"{src}/{d}/sales/regional_sales.csv is a FIFO (named pipe): special files are never opened"
    )
    assert log[f"{d}/air_quality/feed.csv"][1].endswith("feed.csv is a socket: special files are never opened")
    assert log[f"{d}/logistics"][1].startswith(f"link {src}/{d}/logistics -> {out}/dir leads outside")
    assert log[f"{d}/products/inventory.csv"][1].endswith("cannot be followed (No such file or directory): not read")
    assert (
        log[f"{d}/sales/transactions.csv.bak"][1] == "sales/transactions.csv.bak is a backup copy (.bak): not ingested"
    )
    assert (
        log[f"{d}/sales/transactions.csv~"][1]
        == "sales/transactions.csv~ is an editor backup (name ends in ~): not ingested"
    )
    assert log[f"{d}/sales/.transactions.csv.swp"][1] == "hidden file sales/.transactions.csv.swp: not ingested"
    assert (
        log[f"{d}/sales/transactions.csv.tmp"][1]
        == "sales/transactions.csv.tmp is a temporary file (.tmp): not ingested"
    )
    assert log[f"{d}/sales/transactions.txt"][1] == (
        "sales/transactions.txt: .txt is not read for sales.transactions"
        " (expected transactions.csv, optionally .gz/.bz2/.xz)"
    )
    assert log["2024-13-45"] == ("refused", "folder 2024-13-45 is not a valid date: skipped")
    assert log["2024-01-04/products/products.csv"][1] == f"read through link {src}/{d}/products/products.csv"
    assert "2024-13-45" in result.output  # the console names the bad items too

    # The good files of the date, in full; the stale .bak's extra order is nowhere.
    tx = raw_lines(storage, "raw.sales.transactions")
    assert [(os.path.basename(f), n, err) for f, n, _, err in tx] == [("transactions.csv", n, None) for n in (2, 3, 4)]
    ids = sorted(r["transaction_id"] for r in storage.read("raw.sales.transactions").collect())
    assert ids == [f"tra{i}{VISIBLE}" for i in (1, 2, 3)]
    prods = raw_lines(storage, PRODUCTS.raw_table)
    assert {f for f, *_ in prods} == {os.path.realpath(src / "2024-01-04" / "products" / "products.csv")}
    assert len(prods) == 2
    aq = raw_lines(storage, "raw.air_quality.readings")
    assert [(n, raw, err) for _, n, raw, err in aq] == [
        (1, None, None),
        (2, None, None),
        (3, DEEP, DEPTH),
        (4, '{"station_id": "S\\xff"}', UNDECODABLE),
        (5, None, None),
    ]
    [station] = storage.read("raw.air_quality.stations").collect()
    assert station["name"] == long_name and station["_parse_error"] is None

    # Not one byte from outside the source folder is in the lake (data files, logs, vault).
    assert lake_bytes_hold(settings.lake_root, SECRET) == []
    assert lake_bytes_hold(settings.lake_root, VISIBLE.encode())  # the scan does see stored strings
    assert not storage.exists(VAULT_TABLE)
    [run] = storage.read(RUNS_TABLE).collect()
    assert (run["step"], run["status"]) == ("ingest", "succeeded")

    # `c360 table show` into a pipe: CSV (or JSON Lines) with whole column names and values.
    shown = cli.invoke(app, ["table", "show", FILE_LOG_TABLE, "--limit", "100"])
    assert shown.exit_code == 0, shown.output
    table = list(csv.DictReader(io.StringIO(shown.stdout)))
    assert list(table[0]) == FILE_LOG_SCHEMA.fieldNames()
    bad_date = next(r for r in table if r["source_file"].endswith("2024-13-45"))
    assert bad_date["message"] == "folder 2024-13-45 is not a valid date: skipped" and bad_date["checksum"] == ""
    as_json = cli.invoke(app, ["table", "show", "raw.air_quality.readings", "--format", "json"])
    records = [json.loads(line) for line in as_json.stdout.splitlines()]
    assert sorted(r["_line_number"] for r in records) == [1, 2, 3, 4, 5]
    assert {r["_raw_line"] for r in records} == {None, DEEP, '{"station_id": "S\\xff"}'}


def test_bad_items_never_stop_the_run_and_a_fixed_file_is_ingested_once(
    spark: SparkSession, settings: Settings, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    out = outside_files(tmp_path / "outside")
    src = tmp_path / "src"
    day = src / DAY.isoformat()
    write(day / "sales" / "transactions.csv", transactions(3))
    write(day / "sales" / "transaction_items.csv", "item_id,transaction_id\nI1,T1\nI2,T2\n")
    regional = write(day / "sales" / "regional_sales.csv", "region_id,sales_date\nR1,2024-01-05\n")
    inventory = write(day / "products" / "inventory.csv", "inventory_id\nV1\n")
    write(day / "products" / "products.csv.gz", gz(products(3))[:-12])  # a truncated transfer
    storage = DeltaStorage(spark, settings.lake_root)

    # Unreadable (the tests run as root, whom chmod does not stop: the open is made to fail as it would).
    real_open = ingest_module._open_source

    def unreadable(path: Path) -> int:
        if path.name == "transaction_items.csv":
            raise PermissionError(13, "Permission denied", str(path))
        return real_open(path)

    monkeypatch.setattr(ingest_module, "_open_source", unreadable)
    files = discover(src, DAY)
    regional.unlink()
    regional.symlink_to(out / "secret.txt")  # swapped for a link after it was listed
    inventory.unlink()  # vanished after it was listed
    first = ingest(spark, storage, files, KEY, ingest_id="run-1")

    got = {(f.path.name, f.status, f.message()) for f in first.files}
    assert got == {
        ("transactions.csv", "ingested", ""),
        ("transaction_items.csv", "failed", "cannot be opened: Permission denied"),
        ("regional_sales.csv", "refused", "became a link after it was listed: not read"),
        ("inventory.csv", "failed", "cannot be opened: No such file or directory"),
        (
            "products.csv.gz",
            "failed",
            "not a valid .gz file (Compressed file ended before the end-of-stream marker was reached): not ingested",
        ),
    }
    assert len(raw_lines(storage, "raw.sales.transactions")) == 3
    assert lake_bytes_hold(settings.lake_root, SECRET) == []

    # Fixed: readable again, the transfer re-sent whole. Each fixed file is ingested once.
    monkeypatch.setattr(ingest_module, "_open_source", real_open)
    write(day / "products" / "products.csv.gz", gz(products(3)))
    second = ingest(spark, storage, discover(src, DAY), KEY, ingest_id="run-2")
    assert {(f.path.name, f.status, f.rows) for f in second.files} == {
        ("transactions.csv", "already_ingested", 0),
        ("transaction_items.csv", "ingested", 2),
        ("regional_sales.csv", "refused", 0),
        ("products.csv.gz", "ingested", 3),
    }
    assert [n for _, n, _, _ in raw_lines(storage, "raw.sales.transaction_items")] == [2, 3]
    assert len(raw_lines(storage, PRODUCTS.raw_table)) == 3

    versions = {t: storage.catalog.describe(t).version for t in storage.catalog.list_tables()}
    third = ingest(spark, storage, discover(src, DAY), KEY, ingest_id="run-3")
    assert {f.status for f in third.files} == {"already_ingested", "refused"}
    assert {t: storage.catalog.describe(t).version for t in storage.catalog.list_tables()} == versions
    log = storage.read(FILE_LOG_TABLE).select("ingest_id", "source_file", "status").collect()
    assert sorted((r["ingest_id"], os.path.basename(r["source_file"]), r["status"]) for r in log) == [
        ("run-1", "inventory.csv", "failed"),
        ("run-1", "products.csv.gz", "failed"),
        ("run-1", "regional_sales.csv", "refused"),
        ("run-1", "transaction_items.csv", "failed"),
        ("run-1", "transactions.csv", "ingested"),
        ("run-2", "products.csv.gz", "ingested"),
        ("run-2", "regional_sales.csv", "refused"),  # a new reason: now a link out of the folder
        ("run-2", "transaction_items.csv", "ingested"),
    ]
