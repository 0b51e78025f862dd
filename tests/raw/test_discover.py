"""Discovery without Spark: what is listed, under which date, and what is never even looked at."""

from __future__ import annotations

import os
from datetime import date
from pathlib import Path

import pytest

from c360.contracts.retail import TRANSACTIONS
from c360.pipeline import extract_dates
from c360.raw.ingest import discover, match_name
from tests.raw.hostile import transactions, write

DAY = date(2024, 1, 5)


def _listing(files: list) -> list[tuple[str, str | None, str | None, date]]:  # noqa: ANN001
    return [(f.path.name, f.contract and f.contract.name, f.verdict, f.extract_date) for f in files]


def test_a_bad_date_folder_blocks_no_date(tmp_path: Path) -> None:
    write(tmp_path / "2024-01-05" / "sales" / "transactions.csv", transactions(1))
    write(tmp_path / "2024-01-04" / "sales" / "transactions.csv", transactions(2))
    write(tmp_path / "2024-13-45" / "sales" / "transactions.csv", transactions(3))
    assert extract_dates(tmp_path) == [date(2024, 1, 4), DAY]
    assert _listing(discover(tmp_path, DAY)) == [
        ("transactions.csv", "sales.transactions", None, DAY),
        ("2024-13-45", None, "refused", DAY),
    ]
    # Without a run date (a library call over every date), the date folders' files only.
    assert [(f.path.parent.parent.name, f.verdict) for f in discover(tmp_path)] == [
        ("2024-01-04", None),
        ("2024-01-05", None),
    ]
    # The error names the dates the source holds (the folder named like a date that is not one is no date).
    with pytest.raises(
        FileNotFoundError, match=r"no extract folder .* \(its extract dates: 2, 2024-01-04\.\.2024-01-05\)"
    ):
        discover(tmp_path, date(2024, 1, 6))


def test_other_dates_folders_are_not_even_listed(tmp_path: Path) -> None:
    write(tmp_path / "2024-01-05" / "sales" / "transactions.csv", transactions(1))
    other = tmp_path / "2024-01-04"
    other.mkdir()
    os.mkfifo(other / "sales")  # listing it as a folder would fail; resolving it would refuse it
    assert _listing(discover(tmp_path, DAY)) == [("transactions.csv", "sales.transactions", None, DAY)]


def test_a_dump_folder_is_read_under_the_run_date(tmp_path: Path) -> None:
    write(tmp_path / "sales" / "transactions.csv.gz", b"")
    write(tmp_path / "sales" / "transactions.csv", transactions(1))
    write(tmp_path / "notes.txt", "hello")
    assert _listing(discover(tmp_path, DAY)) == [
        ("notes.txt", None, "no_contract", DAY),
        ("transactions.csv", "sales.transactions", None, DAY),
        ("transactions.csv.gz", "sales.transactions", None, DAY),
    ]
    with pytest.raises(ValueError, match="--run-date"):
        discover(tmp_path)


@pytest.mark.parametrize(
    ("name", "compression", "reason"),
    [
        ("transactions.csv", None, ""),
        ("transactions.csv.bz2", ".bz2", ""),
        ("transactions.csv.bak", None, "sales/transactions.csv.bak is a backup copy (.bak): not ingested"),
        ("transactions.csv.orig", None, "sales/transactions.csv.orig is a backup copy (.orig): not ingested"),
        ("transactions.csv~", None, "sales/transactions.csv~ is an editor backup (name ends in ~): not ingested"),
        ("transactions.csv.part", None, "sales/transactions.csv.part is a partial transfer (.part): not ingested"),
        (".transactions.csv", None, "hidden file sales/.transactions.csv: not ingested"),
        (
            "transactions.2024.csv",
            None,
            "no source contract for sales/transactions.2024.csv "
            "(the source sales.transactions is read from transactions.csv, optionally .gz/.bz2/.xz): not ingested",
        ),
        (
            "transactions",
            None,
            "no source contract for sales/transactions (the source sales.transactions is read "
            "from transactions.csv, optionally .gz/.bz2/.xz): not ingested",
        ),
        (
            "transactions.json",
            None,
            "sales/transactions.json: .json is not read for sales.transactions "
            "(expected transactions.csv, optionally .gz/.bz2/.xz)",
        ),
    ],
)
def test_exact_names_only(name: str, compression: str | None, reason: str) -> None:
    contract, comp, why = match_name("sales", name)
    assert (contract, comp, why) == ((TRANSACTIONS if not reason else None), compression, reason)


def test_json_sources_take_both_json_extensions() -> None:
    assert match_name("air_quality", "readings.jsonl")[0] is not None
    assert match_name("air_quality", "readings.json.xz")[1] == ".xz"
    assert match_name("air_quality", "readings.ndjson")[0] is None
