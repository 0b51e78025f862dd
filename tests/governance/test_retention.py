"""Retention removes exactly what the registry's policies say, and nothing else.

Checked with plain delta-rs: the live files of every table before and after, by partition.
"""

from __future__ import annotations

import os
import time
from collections import Counter
from datetime import date, timedelta
from pathlib import Path

import pyarrow as pa
import pytest
from deltalake import DeltaTable, write_deltalake
from deltalake.transaction import RemoveAction
from pyspark.sql import types as T

from c360.maintenance import apply_retention
from c360.registry import PLATFORM, Retention, Table, registry
from c360.storage import LakeCatalog
from tests.conftest import PublishedLake, copy_lake

pytestmark = pytest.mark.filterwarnings("ignore::DeprecationWarning")


def _live(path: Path) -> dict[str, dict]:
    return {a["path"]: a for a in pa.table(DeltaTable(str(path)).get_add_actions(flatten=True)).to_pylist()}


def test_rows_expire_by_policy_and_nothing_else(published_lake: PublishedLake, tmp_path: Path) -> None:
    root = copy_lake(published_lake.root, tmp_path / "lake")
    catalog = LakeCatalog(root)
    # As of the day the raw tier's 730-day window starts at the fifth extract.
    raw_policy = registry().get("raw.customer.customers").retention
    assert raw_policy.rows_days is not None
    today = published_lake.dates[4] + timedelta(days=raw_policy.rows_days)
    names = catalog.list_tables()
    before = {n: _live(catalog.path(n)) for n in names}
    versions = {n: catalog.open(n).version() for n in names}

    done = apply_retention(catalog, today)

    expired_somewhere = kept_somewhere = False
    for name in names:
        after = _live(catalog.path(name))
        table = registry().tables.get(name)
        policy = table.retention if table else Retention()
        if policy.rows_days is None:
            assert after == before[name], f"{name} has no row policy and must not change"
            assert catalog.open(name).version() == versions[name]
            continue
        cutoff = today - timedelta(days=policy.rows_days)
        expected = {
            p: a
            for p, a in before[name].items()
            if a[f"partition.{policy.row_date}"] is None or a[f"partition.{policy.row_date}"] >= cutoff
        }
        assert after == expected, name
        expired_somewhere |= len(expected) < len(before[name])
        kept_somewhere |= bool(expected)
        # The expired files stay on disk inside the versions window: the last version still reads.
        assert all((catalog.path(name) / p).exists() for p in before[name]), name
    assert expired_somewhere and kept_somewhere
    assert {t.table for t in done if t.rows_removed} <= {t.name for t in registry() if t.retention.rows_days}
    # A second run as of the same day finds nothing more to expire.
    assert all(t.rows_removed == 0 and t.version is None for t in apply_retention(catalog, today))


def test_versions_older_than_the_window_are_vacuumed_and_newer_ones_kept(tmp_path: Path) -> None:
    path = tmp_path / "ops/demo/events"
    for i in range(3):
        write_deltalake(str(path), pa.table({"n": pa.array([i], pa.int64())}), mode="append")
    dt = DeltaTable(str(path))
    files = [a["path"] for a in pa.table(dt.get_add_actions(flatten=True)).to_pylist()]
    long_ago = time.time() - 10 * 86400
    for f in files:  # written ten days ago
        os.utime(path / f, (long_ago, long_ago))
    now_ms = int(time.time() * 1000)
    dt.create_write_transaction(
        [
            RemoveAction(path=files[0], data_change=True, deletion_timestamp=now_ms - 9 * 86_400_000),
            RemoveAction(path=files[1], data_change=True, deletion_timestamp=now_ms - 2 * 86_400_000),
        ],
        mode="append",
        schema=dt.schema(),
    )
    table = Table(
        name="ops.demo.events",
        schema=T.StructType([T.StructField("n", T.LongType())]),
        description="demo",
        grain="one row per event",
        keys=("n",),
        product=PLATFORM,
        owner="test",
        retention=Retention(versions_days=7),
    )
    [done] = apply_retention(LakeCatalog(tmp_path), date(2030, 1, 1), [table])
    assert done.files_vacuumed == [files[0]]  # replaced nine days ago: past the 7-day window
    assert not (path / files[0]).exists()
    assert (path / files[1]).exists() and (path / files[2]).exists()  # replaced two days ago; live


def test_the_command_refuses_a_future_today_unless_it_only_looks(tmp_path: Path) -> None:
    """`c360 maintenance --today 2204-01-01` (a mistyped year) would expire every raw row now;
    a day after today is refused unless --dry-run, which changes nothing."""
    from typer.testing import CliRunner

    from c360.cli import app
    from c360.cli.state import state
    from c360.settings import Settings

    path = tmp_path / "raw/sales/transactions"
    rows = pa.table({"_extract_date": [date(2024, 1, 1)], "n": [1]})
    write_deltalake(str(path), rows, partition_by=["_extract_date"])
    future = (date.today() + timedelta(days=400)).isoformat()
    state._settings = Settings(lake_root=tmp_path)

    def text(result: object) -> str:  # the words of the output, without rich's panel borders
        return " ".join(result.output.replace("│", " ").split())  # type: ignore[attr-defined]

    try:
        runner = CliRunner()
        only = ["--table", "raw.sales.transactions"]
        refused = runner.invoke(app, ["maintenance", "--today", future, *only])
        assert refused.exit_code == 2 and "add --dry-run to see what would expire then" in text(refused)
        bad = runner.invoke(app, ["maintenance", "--today", "2024-02-30"])
        assert bad.exit_code == 2 and "is not a date (YYYY-MM-DD)" in text(bad)
        looked = runner.invoke(app, ["maintenance", "--today", future, *only, "--dry-run"])
        assert looked.exit_code == 0, looked.output
        assert "would expire 1 row(s)" in looked.output
    finally:
        state._settings = None
    assert DeltaTable(str(path)).version() == 0  # nothing was committed


def test_maintenance_compacts_a_partition_of_many_small_files(tmp_path: Path) -> None:
    """A server appends its audit every few seconds, a file each time: 43,200 files a busy day,
    which every erasure reads one by one. Maintenance compacts a partition of that many small
    files (rows unchanged, no statistics for the subject columns), leaves a quiet partition
    alone, and a dry run only says what it would do."""
    from datetime import UTC, datetime

    import pyarrow.parquet as pq
    from typer.testing import CliRunner

    from c360.cli import app
    from c360.cli.state import state
    from c360.serve.audit import AUDIT_TABLE, AuditRecord
    from c360.settings import Settings
    from c360.storage.light import append_rows, ensure
    from c360.storage.rewrite import COMPACT_MIN_FILES

    ensure(AUDIT_TABLE, tmp_path)
    busy, quiet = datetime(2026, 12, 5, 9, tzinfo=UTC), datetime(2026, 12, 4, 9, tzinfo=UTC)
    for i in range(COMPACT_MIN_FILES):
        rec = AuditRecord("GET", "/v1/customers/{customer_id}", f"/v1/customers/C{i}", status=200)
        rec.at = busy.replace(second=i % 60, minute=i // 60)
        append_rows(tmp_path, AUDIT_TABLE.name, [rec.row()], operation="audit")
    for _ in range(3):
        append_rows(tmp_path, AUDIT_TABLE.name, [AuditRecord("GET", "/x", "/x", at=quiet).row()], operation="audit")
    path = tmp_path / "ops/serve/audit"

    def content() -> list[dict]:
        return sorted((r for f in DeltaTable(str(path)).file_uris() for r in pq.read_table(f).to_pylist()), key=repr)

    before = content()
    state._settings = Settings(lake_root=tmp_path)
    try:
        looked = CliRunner().invoke(app, ["maintenance", "--table", AUDIT_TABLE.name, "--dry-run"])
        assert looked.exit_code == 0 and len(_live(path)) == COMPACT_MIN_FILES + 3, looked.output
        assert "would compact 1 partition(s)" in looked.output and f"{COMPACT_MIN_FILES} -> ?" in looked.output
        done = CliRunner().invoke(app, ["maintenance", "--table", AUDIT_TABLE.name, "--no-vacuum"])
    finally:
        state._settings = None
    assert done.exit_code == 0 and f"{COMPACT_MIN_FILES} -> 1" in done.output, done.output
    live = _live(path)
    by_day = Counter(str(a["partition.day"]) for a in live.values())
    assert by_day == {"2026-12-05": 1, "2026-12-04": 3}
    assert content() == before
    [compacted] = [a for a in live.values() if str(a["partition.day"]) == "2026-12-05"]
    assert compacted["num_records"] == COMPACT_MIN_FILES
    assert not [k for k, v in compacted.items() if k.split(".")[-1] in ("target", "sql", "error") and v is not None]
    assert DeltaTable(str(path)).history(1)[0]["c360.operation"] == "compact"


def test_maintenance_deletes_the_servers_exports_of_versions_the_lake_no_longer_keeps(tmp_path: Path) -> None:
    """The server writes each export once and keeps it, outside the lake: an export of a version
    a vacuum had made unreadable outlived the table's retention, rows and all, for ever."""
    from typer.testing import CliRunner

    from c360.cli import app
    from c360.cli.state import state
    from c360.settings import Settings

    lake, exports = tmp_path / "lake", tmp_path / "exports"
    path = lake / "enhanced/d/t"
    write_deltalake(str(path), pa.table({"n": [1]}))
    write_deltalake(str(path), pa.table({"n": [2]}), mode="overwrite")
    DeltaTable(str(path)).vacuum(retention_hours=0, dry_run=False, enforce_retention_duration=False)
    for folder in ("enhanced.d.t/v0", "enhanced.d.t/v1", "enhanced.d.gone/v3"):
        (exports / folder).mkdir(parents=True)
        (exports / folder / "x.parquet").write_bytes(b"rows")
    state._settings = Settings(lake_root=lake, serve_export_dir=exports)
    try:
        looked = CliRunner().invoke(app, ["maintenance", "--dry-run"])
        assert looked.exit_code == 0 and "would delete 2 export file(s)" in looked.output, looked.output
        assert (exports / "enhanced.d.t/v0/x.parquet").exists()
        done = CliRunner().invoke(app, ["maintenance"])
    finally:
        state._settings = None
    assert done.exit_code == 0 and "deleted 2 export file(s) of versions no longer kept" in done.output, done.output
    kept = sorted(p.relative_to(exports).as_posix() for p in exports.rglob("*.parquet"))
    assert kept == ["enhanced.d.t/v1/x.parquet"]
