"""Property: whatever mixture of good files, damaged copies, odd names, links and special files a
source folder holds, ingest finishes, accounts for every line of what it ingested, and reads
nothing outside the folder."""

from __future__ import annotations

import gzip
import os
import tempfile
from dataclasses import dataclass
from datetime import date
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from pyspark.sql import SparkSession

from c360.raw.ingest import EMPTY, INGESTED, STATUSES, discover, ingest
from c360.storage import DeltaStorage
from tests.raw.hostile import (
    DEEP,
    SECRET,
    content_lines,
    gz,
    lake_bytes_hold,
    outside_files,
    products,
    raw_lines,
    readings,
    transactions,
    write,
)

DAY = date(2024, 1, 5)
KEY = b"property-test-key"
# The sources a folder is built from: two CSV contracts and one JSON Lines contract.
SLOTS = {
    "sales/transactions.csv": transactions,
    "products/products.csv": products,
    "air_quality/readings.jsonl": readings,
}
# "\udcff" is the file name byte 0xff, not UTF-8: stored escaped as \xff.
ODD_NAMES = ("{}.bak", "{}~", "{}.tmp", ".{}.swp", ".{}", "{}.old", "{}.part", "UPPER", "{}.txt", "\udcff{}")
KINDS = ("good", "damaged", "odd_name", "gz", "link_inside", "link_outside", "broken_link", "loop", "fifo", "dir_out")
DAMAGES = ("truncate", "insert", "deep", "drop_header", "blank_lines", "crlf")
NOISE = (b"\xff", b"\x00", b"\xe9", b"\n", b",", b"\r\n", b" ", b"{", b"\xc3", b"\x1c")


@dataclass(frozen=True)
class Item:
    kind: str
    slot: str
    rows: int
    damage: str
    at: int
    noise: bytes
    odd: str


items = st.builds(
    Item,
    kind=st.sampled_from(KINDS),
    slot=st.sampled_from(list(SLOTS)),
    rows=st.integers(0, 5),
    damage=st.sampled_from(DAMAGES),
    at=st.integers(0, 10_000),
    noise=st.sampled_from(NOISE),
    odd=st.sampled_from(ODD_NAMES),
)


def _damaged(data: bytes, item: Item) -> bytes:
    at = item.at % (len(data) + 1)
    if item.damage == "truncate":
        return data[:at]
    if item.damage == "insert":
        return data[:at] + item.noise * (1 + item.at % 3) + data[at:]
    if item.damage == "deep":
        return data + DEEP.encode() + b"\n"
    if item.damage == "drop_header":
        return data.split(b"\n", 1)[-1]
    if item.damage == "blank_lines":
        return data.replace(b"\n", b"\n\n  \n", 1 + item.at % 3)
    return data.replace(b"\n", b"\r\n")


def _odd_name(item: Item) -> str:
    name = item.slot.rsplit("/", 1)[1]
    return name.upper() if item.odd == "UPPER" else item.odd.format(name)


def _build(src: Path, outside: Path, mixture: list[Item], bad_date: bool) -> list[Path]:
    """Lay the mixture out under ``src``; return the paths created where ingest will look."""
    day = src / DAY.isoformat()
    created: list[Path] = []
    for n, item in enumerate(mixture):
        domain, name = item.slot.split("/")
        good = SLOTS[item.slot](item.rows, tag=f"i{n}")
        path = day / domain / (_odd_name(item) if item.kind == "odd_name" else name)
        if item.kind == "gz":
            path = path.with_name(name + ".gz")
        if item.kind == "dir_out":
            path = day / domain
        if os.path.lexists(path) or (
            item.kind != "dir_out" and os.path.lexists(path.parent) and path.parent.is_symlink()
        ):
            continue
        if item.kind != "dir_out":
            path.parent.mkdir(parents=True, exist_ok=True)
        match item.kind:
            case "good" | "odd_name":
                write(path, good)
            case "damaged":
                write(path, _damaged(good.encode(), item))
            case "gz":
                write(path, gz(good))
            case "link_inside":
                target = write(src / "2024-01-04" / domain / f"{n}-{name}", good)
                path.symlink_to(os.path.relpath(target, path.parent))
            case "link_outside":
                path.symlink_to(outside / ("secret.jsonl" if name.endswith(".jsonl") else "dir/transactions.csv"))
            case "broken_link":
                path.symlink_to(path.with_name("nothing-here"))
            case "loop":
                path.symlink_to(path.name)
            case "fifo":
                os.mkfifo(path)
            case "dir_out":
                path.parent.mkdir(parents=True, exist_ok=True)
                path.symlink_to(outside / "dir", target_is_directory=True)
        created.append(path)
    if bad_date:
        created.append(write(src / "2024-02-30" / "sales" / "transactions.csv", transactions(2)).parents[1])
    if not day.exists():
        day.mkdir(parents=True)
    return created


@pytest.fixture(scope="module")
def outside(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return outside_files(tmp_path_factory.mktemp("outside"))


@pytest.fixture(scope="module")
def examples(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Where each example lays out its source and lake: under pytest's own temporary folder
    (removed with the run's others), as Hypothesis runs many examples per function call."""
    return tmp_path_factory.mktemp("examples")


@pytest.mark.slow
@settings(
    max_examples=15,
    deadline=None,
    database=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow, HealthCheck.data_too_large],
)
@given(mixture=st.lists(items, min_size=1, max_size=8), bad_date=st.booleans())
def test_ingest_accounts_for_every_line_and_reads_nothing_outside(
    spark: SparkSession, outside: Path, examples: Path, mixture: list[Item], bad_date: bool
) -> None:
    work = Path(tempfile.mkdtemp(dir=examples))
    src, lake = work / "src", work / "lake"
    created = _build(src, outside, mixture, bad_date)
    storage = DeltaStorage(spark, lake)

    report = ingest(spark, storage, discover(src, DAY), KEY, ingest_id="prop")  # never raises

    root = os.path.realpath(src) + os.sep
    seen = {str(o.path) for o in report.files}
    for path in created:  # every file and folder laid out is accounted for, by the path seen or read
        assert str(path) in seen or os.path.realpath(path) in seen, f"{path} not in the report"
    assert all(o.status in STATUSES and (o.status in (INGESTED, EMPTY) or o.problems) for o in report.files)

    expected: dict[str, set[int]] = {}
    for o in report.files:
        if o.status not in (INGESTED, EMPTY):
            continue
        assert str(o.path).startswith(root)  # only files inside the folder were read
        data = o.path.read_bytes()
        lines = set(content_lines(gzip.decompress(data) if o.path.suffix == ".gz" else data))
        expected[str(o.path)] = lines
    got: dict[str, set[int]] = {}
    for table in {o.table for o in report.files if o.table}:
        for source_file, line, _, _ in raw_lines(storage, table):
            assert source_file.startswith(root)
            got.setdefault(source_file, set()).add(line)
    for path, lines in expected.items():
        rows = got.get(path, set())
        header = min(lines) if lines and not path.endswith(".jsonl") else None
        # raw rows = lines: every non-blank line is a row, except a CSV header that was accepted
        assert rows in (lines, lines - {header}), f"{path}: lines {sorted(lines)}, rows {sorted(rows)}"
    assert set(got) <= set(expected)  # no rows from any file that was not ingested
    assert sum(len(r) for r in got.values()) == report.rows
    assert lake_bytes_hold(lake, SECRET) == []
