"""Incremental dimensions (c360.publish, "Build records"): a run builds nothing when the
inputs did not change since the stored build, rebuilds only the customers delivered since
then, and rebuilds whole whenever the record cannot vouch for the stored rows. Every way
gives exactly the rows of the whole build as of the run date.

Tiny sanitized tables in a real lake, the model step restricted to dim_customer.
"""

from __future__ import annotations

import functools
from collections import Counter
from collections.abc import Callable
from dataclasses import replace
from datetime import date
from pathlib import Path
from typing import Any

import pytest
from pyspark.sql import DataFrame, SparkSession

from c360.enhanced import dim_customer
from c360.enhanced.common import as_of
from c360.enhanced.model import build_model
from c360.publish import RECORD_FILE, BuildRecord, TableWrite
from c360.registry import Incremental, Table, registry
from c360.settings import Settings
from c360.storage import DeltaStorage
from tests.enhanced.frames import D1, D2, D3, at, sanitized

DIM = dim_customer.NAME
CUSTOMERS, LOYALTY = "sanitized.customer.customers", "sanitized.customer.loyalty_program"


def customer(extract: date, cid: str, segment: str = "Standard", **values: Any) -> dict[str, Any]:
    return {"customer_id": cid, "registration_date": at(D1), "customer_segment": segment, "city": "Austin",
            "email_token": f"mail-{cid}", "_extract_date": extract, **values}  # fmt: skip


def tier(extract: date, cid: str, level: str) -> dict[str, Any]:
    return {"customer_id": cid, "loyalty_tier": level, "_extract_date": extract}


class Lake:
    """A lake holding the two sanitized inputs of dim_customer, delivered one date at a time."""

    def __init__(self, spark: SparkSession, root: Path) -> None:
        self.spark, self.storage = spark, DeltaStorage(spark, root)

    def deliver(self, day: date, customers: list[dict[str, Any]], tiers: list[dict[str, Any]] | None = None) -> None:
        """Replace ``day``'s partition of each input with these rows (as sanitize does)."""
        inputs = (("customer.customers", CUSTOMERS, customers), ("customer.loyalty_program", LOYALTY, tiers or []))
        for source, table, rows in inputs:
            df = sanitized(self.spark, source, list(rows))
            self.storage.ensure_table(table, df.schema, ["_extract_date"])
            self.storage.replace_partitions(df, table, partitions=[{"_extract_date": day}])

    def run(self, day: date, incremental: bool = True) -> TableWrite:
        report = build_model(self.spark, self.storage, [day], f"run-{day}", tables=[DIM], incremental=incremental)
        (write,) = report.tables
        return write

    def whole_build(self, day: date) -> DataFrame:
        """The rows the whole build gives as of ``day``."""
        read = self.storage.read
        return dim_customer.build(as_of(read(CUSTOMERS), day), as_of(read(LOYALTY), day))

    def assert_is_whole_build(self, day: date) -> None:
        whole = self.whole_build(day)
        rows = lambda df: Counter(tuple(r) for r in df.select(*sorted(whole.columns)).collect())  # noqa: E731
        stored, expected = rows(self.storage.read(DIM)), rows(whole)
        assert stored == expected, (
            f"stored rows not in the whole build: {stored - expected}, missing: {expected - stored}"
        )

    def record(self) -> BuildRecord:
        record = BuildRecord.read(self.storage.path(DIM) / RECORD_FILE)
        assert record is not None
        return record


@pytest.fixture
def lake(spark: SparkSession, settings: Settings) -> Lake:
    lake = Lake(spark, settings.lake_root)
    lake.deliver(D1, [customer(D1, "C1"), customer(D1, "C2"), customer(D1, "C3")], [tier(D1, "C1", "Gold")])
    return lake


@pytest.fixture
def builds(monkeypatch: pytest.MonkeyPatch) -> list[int]:
    """Counts calls of dim_customer's build (its module stays the same, so its code digest does)."""
    calls: list[int] = []
    table = registry().tables[DIM]
    assert table.build is not None
    original: Callable[..., DataFrame] = table.build

    @functools.wraps(original)
    def counted(customers: DataFrame, loyalty: DataFrame) -> DataFrame:
        calls.append(1)
        return original(customers, loyalty)

    monkeypatch.setitem(registry().tables, DIM, replace(table, build=counted))
    return calls


def test_only_the_customers_delivered_since_the_stored_build_are_rebuilt(lake: Lake, builds: list[int]) -> None:
    first = lake.run(D1)
    assert (first.build, first.committed) == ("whole", True)
    assert lake.record().as_of == D1 and lake.record().table_version == first.version
    # D2 changes C2's segment, gives C3 a tier and brings C4; C1 is not delivered.
    lake.deliver(D2, [customer(D2, "C2", "Premium"), customer(D2, "C4")], [tier(D2, "C3", "Silver")])
    second = lake.run(D2)
    assert (second.build, second.keys, second.committed, second.validated) == ("keys", 3, True, True)
    lake.assert_is_whole_build(D2)
    assert lake.storage.read(DIM).filter("customer_id = 'C2' AND is_current").first().customer_segment == "Premium"  # type: ignore[union-attr]
    assert lake.record().as_of == D2 and lake.record().table_version == second.version
    assert len(builds) == 2


def test_a_run_whose_inputs_did_not_change_builds_gates_and_commits_nothing(lake: Lake, builds: list[int]) -> None:
    built = lake.run(D1)
    again = lake.run(D1)
    assert (again.build, again.committed, again.validated, again.version) == ("none", False, False, built.version)
    # A later date with nothing delivered: still nothing to build, and the record moves on.
    lake.deliver(D2, [], [])
    later = lake.run(D2)
    assert (later.build, later.committed, later.version) == ("none", False, built.version)
    assert lake.record().as_of == D2
    assert len(builds) == 1
    lake.assert_is_whole_build(D2)
    # Asked to rebuild whole (C360_INCREMENTAL_DIMENSIONS=false), it does: the same rows.
    forced = lake.run(D2, incremental=False)
    assert (forced.build, forced.committed, forced.validated) == ("whole", False, False)
    assert len(builds) == 2


def test_the_record_that_cannot_vouch_for_the_stored_rows_means_a_whole_rebuild(lake: Lake, builds: list[int]) -> None:
    lake.run(D1)
    lake.deliver(D2, [customer(D2, "C2", "Premium")])
    lake.run(D2)
    # A past date rebuilt: whole, as of that date (C2 back to Standard).
    past = lake.run(D1)
    assert past.build == "whole"
    lake.assert_is_whole_build(D1)
    # After it, a later date again rebuilds only what was delivered after the past date.
    lake.deliver(D3, [customer(D3, "C3", "Premium")])
    forward = lake.run(D3)
    assert (forward.build, forward.keys) == ("keys", 2)  # C2 (D2) and C3 (D3)
    lake.assert_is_whole_build(D3)
    # An input changed on or before the recorded date (D1 re-sanitized): whole.
    lake.deliver(D1, [customer(D1, "C1", "Premium"), customer(D1, "C2"), customer(D1, "C3")], [tier(D1, "C1", "Gold")])
    resanitized = lake.run(D3)
    assert (resanitized.build, resanitized.committed) == ("whole", True)
    lake.assert_is_whole_build(D3)
    # Another writer changed the table (erasure, compaction): the record names an older version.
    storage = lake.storage
    storage.overwrite(storage.read(DIM).filter("customer_id <> 'C3'").localCheckpoint(), DIM)
    assert lake.record().table_version < storage.catalog.version(DIM)
    rewritten = lake.run(D3)
    assert (rewritten.build, rewritten.committed) == ("whole", True)
    lake.assert_is_whole_build(D3)
    # A record that is not one (a damaged file): whole, and then a good record again.
    (storage.path(DIM) / RECORD_FILE).write_text("{not json")
    assert lake.run(D3).build == "whole"
    assert lake.run(D3).build == "none"


def test_other_code_means_a_whole_rebuild(lake: Lake, monkeypatch: pytest.MonkeyPatch) -> None:
    lake.run(D1)
    monkeypatch.setattr("c360.publish.code_digest", lambda table: "another release")
    assert lake.run(D1).build == "whole"
    assert lake.run(D1).build == "none"


def test_only_a_pure_whole_build_can_be_declared_incremental() -> None:
    table = registry().tables[DIM]

    def by_run_date(customers: DataFrame, loyalty: DataFrame, run_dates: list[date]) -> DataFrame:
        return dim_customer.build(customers, loyalty)

    with pytest.raises(ValueError, match="reads only its inputs, not \\['run_dates'\\]"):
        replace(table, build=by_run_date)
    with pytest.raises(ValueError, match="incremental key customer is not a column"):
        replace(table, incremental=Incremental(key="customer"))
    fact = registry().tables["enhanced.sales.fct_order"]
    with pytest.raises(ValueError, match="only a built table, whole-published or with a key"):
        replace(fact, incremental=Incremental())
    with pytest.raises(ValueError, match="ids and lookups need a key"):
        replace(table, incremental=Incremental(ids={"customers": "customer_id"}))
    with pytest.raises(ValueError, match="ids or lookups of no input: dim_product"):
        replace(fact, incremental=Incremental(key="transaction_id", lookups={"dim_product": ("product_id", "x")}))
    with pytest.raises(ValueError, match="lookups name no column of the table: customer$"):
        replace(
            fact, incremental=Incremental(key="transaction_id", lookups={"dim_customer": ("customer_id", "customer")})
        )
    assert isinstance(table, Table)
