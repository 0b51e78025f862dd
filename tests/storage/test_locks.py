"""The lake's locks: a held lock stops the second holder at once, naming the first; a holder's
death releases it; and an ingest or an erasure that finds its lock held does nothing."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
from datetime import date
from pathlib import Path

import pytest

from c360.lake import Lake
from c360.pipeline import RunContext
from c360.storage.locks import LOCK_DIR, PIPELINE_LOCK, LakeBusyError, ingest_lock, lake_locks


def _holder(lake: Path, names: list[str]) -> subprocess.Popen[str]:
    """Another process holding ``names`` until it is killed; returns once it holds them."""
    code = textwrap.dedent(
        f"""
        import sys, time
        from c360.storage.locks import lake_locks
        with lake_locks({str(lake)!r}, {names!r}, "a nightly backfill"):
            print("held", flush=True)
            time.sleep(300)
        """
    )
    proc = subprocess.Popen([sys.executable, "-c", code], stdout=subprocess.PIPE, text=True)
    assert proc.stdout is not None and proc.stdout.readline().strip() == "held"
    return proc


def test_a_held_lock_stops_the_next_holder_at_once_and_dies_with_its_process(tmp_path: Path) -> None:
    proc = _holder(tmp_path, ["ingest.retail"])
    try:
        with pytest.raises(LakeBusyError) as caught, lake_locks(tmp_path, ["ingest.retail"], "ingest of retail"):
            pytest.fail("the lock was taken twice")
        message = str(caught.value)
        assert message.startswith("ingest of retail: the lake's ingest.retail lock is held (a nightly backfill, ")
        assert f"process {proc.pid} on " in message and "nothing was done" in message
        # another lock of the same lake is free meanwhile, and a failed attempt holds nothing
        with pytest.raises(LakeBusyError), lake_locks(tmp_path, ["ingest.air_quality", "ingest.retail"], "all"):
            pass
        with lake_locks(tmp_path, ["ingest.air_quality"], "air quality"):
            pass
    finally:
        proc.send_signal(signal.SIGKILL)  # no clean-up runs: the kernel releases the lock
        proc.wait()
    with lake_locks(tmp_path, ["ingest.retail"], "ingest of retail"):
        assert (tmp_path / LOCK_DIR / "ingest.retail.lock").read_text().startswith('{"what": "ingest of retail"')
    assert (tmp_path / LOCK_DIR / "ingest.retail.lock").read_text() == ""  # released: no stale holder named


def test_shared_holders_run_side_by_side_and_keep_the_exclusive_one_out(tmp_path: Path) -> None:
    proc = _holder_shared(tmp_path)
    try:
        with lake_locks(tmp_path, [], "model 2024-01-02", shared=[PIPELINE_LOCK]):  # steps side by side
            pass
        with pytest.raises(LakeBusyError) as caught, lake_locks(tmp_path, [PIPELINE_LOCK], "erasure of DSR-9"):
            pass
        assert "the lake's pipeline lock is held (by running pipeline steps" in str(caught.value)
    finally:
        proc.send_signal(signal.SIGKILL)
        proc.wait()
    busy = pytest.raises(LakeBusyError, match=r"ingest 2024-01-02: .*\(erasure of DSR-9, process")
    step = lake_locks(tmp_path, [], "ingest 2024-01-02", shared=[PIPELINE_LOCK])
    with lake_locks(tmp_path, [PIPELINE_LOCK], "erasure of DSR-9"), busy, step:  # an erasure holds it alone
        pass


def _holder_shared(lake: Path) -> subprocess.Popen[str]:
    code = textwrap.dedent(
        f"""
        import time
        from c360.storage.locks import PIPELINE_LOCK, lake_locks
        with lake_locks({str(lake)!r}, [], "sanitize 2024-01-02", shared=[PIPELINE_LOCK]):
            print("held", flush=True)
            time.sleep(300)
        """
    )
    proc = subprocess.Popen([sys.executable, "-c", code], stdout=subprocess.PIPE, text=True)
    assert proc.stdout is not None and proc.stdout.readline().strip() == "held"
    return proc


def test_a_step_and_an_erasure_never_run_together(spark, settings, tmp_path: Path, monkeypatch) -> None:  # noqa: ANN001
    """A model step that read the star before an erasure and committed after it published the
    subject again (a profile partition the erasure never saw). Two ingests of the same
    extracts at once each asked the raw tables which files they held, heard "none" and
    appended: every file twice. Each now stops before it reads anything."""
    from c360.privacy.erase import erase_customer
    from c360.raw.ingest import discover, ingest
    from c360.storage import DeltaStorage

    source = tmp_path / "in" / "2024-01-02" / "customer"
    source.mkdir(parents=True)
    (source / "loyalty_program.csv").write_text("customer_id,loyalty_tier\nC1,Gold\n")
    storage = DeltaStorage(spark, settings.lake_root)
    files = discover(tmp_path / "in", date(2024, 1, 2))
    proc = _holder(settings.lake_root, [ingest_lock("retail")])
    try:
        with pytest.raises(LakeBusyError, match="ingest of retail .*the lake's ingest.retail lock is held"):
            ingest(spark, storage, files, b"key", ingest_id="second")
    finally:
        proc.send_signal(signal.SIGKILL)
        proc.wait()
    step = _holder_shared(settings.lake_root)
    monkeypatch.setattr("c360.storage.locks.ERASURE_WAIT_SECONDS", 0.5)  # it waits for brief holders only
    try:
        with pytest.raises(LakeBusyError, match="erasure of DSR-1: the lake's pipeline lock is held"):
            erase_customer(storage.catalog, "C1", "DSR-1", b"key")
    finally:
        step.send_signal(signal.SIGKILL)
        step.wait()
    assert not storage.exists("raw.customer.loyalty_program")
    assert os.listdir(settings.lake_root) == [LOCK_DIR]  # nothing else was written

    ctx = RunContext.create(settings, spark)
    busy = pytest.raises(LakeBusyError, match="model 2024-01-02: the lake's pipeline lock is held .erasure of DSR-2")
    with lake_locks(settings.lake_root, [PIPELINE_LOCK], "erasure of DSR-2"), busy:
        ctx.step("model", date(2024, 1, 2), lambda: pytest.fail("the step ran beside an erasure"))
    [logged] = Lake(settings.lake_root).frame("ops.pipeline.runs").to_dict("records")
    assert (logged["step"], logged["status"]) == ("model", "failed") and "erasure of DSR-2" in logged["summary"]

    report = ingest(spark, storage, files, b"key", ingest_id="after")
    assert [f.status for f in report.files] == ["ingested"]


def test_an_erasure_waits_for_brief_holders_and_the_audit_never_lands_beside_it(tmp_path: Path) -> None:
    """A server's audit batch appended while an erasure ran was never read by it and kept the
    subject's requests; one appended after it kept the requests in flight during it. Appends
    now hold the pipeline lock shared (an erasure waits the few milliseconds they take), a
    batch that finds an erasure running waits for the next flush, and records taken before an
    erasure ended withhold their path, SQL and error text."""
    import threading
    import time

    import pyarrow as pa
    import pyarrow.parquet as pq
    from deltalake import DeltaTable, write_deltalake

    from c360.serve.audit import WITHHELD, AuditRecord, AuditWriter

    # a shared holder that lets go after 0.3 s: an erasure that waits gets the lock, one that does not fails
    release = threading.Event()

    def brief() -> None:
        with lake_locks(tmp_path, [], "serving audit append", shared=[PIPELINE_LOCK]):
            release.set()
            time.sleep(0.3)

    t = threading.Thread(target=brief)
    t.start()
    release.wait()
    with pytest.raises(LakeBusyError), lake_locks(tmp_path, [PIPELINE_LOCK], "erasure of DSR-3"):
        pass
    with lake_locks(tmp_path, [PIPELINE_LOCK], "erasure of DSR-3", wait=5):
        pass
    t.join()

    writer = AuditWriter(tmp_path)
    writer.start()
    try:
        during = AuditRecord("POST", "/v1/sql", "/v1/sql", status=400, sql="SELECT * FROM t WHERE id = 'C9'")
        during.error = "no column near 'C9'"
        proc = _holder(tmp_path, [PIPELINE_LOCK])  # an erasure, in another process
        try:
            writer.record(during)
            assert writer.flush() == 0 and writer.deferred == 1 and writer.failures == 0  # kept, not lost
            # the erasure records its request at its end
            write_deltalake(str(tmp_path / "ops/privacy/erasure_requests"), pa.table({"request_ref": ["DSR-3"]}))
        finally:
            proc.send_signal(signal.SIGKILL)
            proc.wait()
        assert writer.flush() == 1
        after = AuditRecord("GET", "/v1/customers/{customer_id}", "/v1/customers/C8", status=200)
        writer.record(after)
        assert writer.flush() == 1
    finally:
        writer.close()
    dt = DeltaTable(str(tmp_path / "ops/serve/audit"))
    rows = sorted((r for f in dt.file_uris() for r in pq.read_table(f).to_pylist()), key=lambda r: r["at"])
    assert [(r["target"], r["sql"], r["error"], r["status"]) for r in rows] == [
        (f"/v1/sql {WITHHELD}", None, None, 400),
        ("/v1/customers/C8", None, None, 200),  # taken after the erasure: as asked
    ]


def test_an_export_does_not_run_beside_an_erasure(tmp_path: Path) -> None:
    """``c360 export`` reads a version and appends its audit row: beside an erasure, the row
    would land where the erasure's report (which lists the exports before it) never looked."""
    import pyarrow as pa
    from deltalake import write_deltalake
    from typer.testing import CliRunner

    from c360.cli import app
    from c360.cli.state import state
    from c360.settings import Settings

    write_deltalake(str(tmp_path / "enhanced/d/t"), pa.table({"n": [1, 2]}))
    state._settings = Settings(lake_root=tmp_path)
    out = tmp_path / "t.csv"
    try:
        with lake_locks(tmp_path, [PIPELINE_LOCK], "erasure of DSR-4"):
            busy = CliRunner().invoke(app, ["export", "enhanced.d.t", "--out", str(out)])
        done = CliRunner().invoke(app, ["export", "enhanced.d.t", "--out", str(out)])
    finally:
        state._settings = None
    assert busy.exit_code != 0 and isinstance(busy.exception, LakeBusyError)
    assert "export of enhanced.d.t: the lake's pipeline lock is held (erasure of DSR-4" in str(busy.exception)
    assert done.exit_code == 0, done.output
    assert out.read_text().splitlines() == ['"n"', "1", "2"]


def test_a_server_stopping_during_an_erasure_still_writes_its_audit(tmp_path: Path) -> None:
    """A server's last flush (at its shutdown) that found an erasure running kept its records
    in memory, and the process ended with them: it now waits for the lock."""
    import threading

    import pyarrow.parquet as pq
    from deltalake import DeltaTable

    from c360.serve.audit import AuditRecord, AuditWriter

    writer = AuditWriter(tmp_path)
    writer.start()
    writer.record(AuditRecord("GET", "/v1/tables", "/v1/tables", status=200))
    proc = _holder(tmp_path, [PIPELINE_LOCK])
    closing = threading.Thread(target=writer.close)
    closing.start()
    closing.join(1.0)
    assert closing.is_alive() and writer.pending == 1 and writer.deferred >= 1  # waiting, not dropped
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    closing.join(10)
    assert not closing.is_alive() and writer.pending == 0
    files = DeltaTable(str(tmp_path / "ops/serve/audit")).file_uris()
    assert [r["endpoint"] for f in files for r in pq.read_table(f).to_pylist()] == ["/v1/tables"]
