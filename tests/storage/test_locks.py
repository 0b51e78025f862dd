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

from c360.storage.locks import LOCK_DIR, LakeBusyError, ingest_lock, lake_locks


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


def test_ingest_and_erasure_refuse_to_start_while_an_ingest_runs(spark, settings, tmp_path: Path) -> None:  # noqa: ANN001
    """Two ingests of the same extracts at once each asked the raw tables which files they held,
    heard "none" and appended: every file twice. The second now stops before reading a file."""
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
        with pytest.raises(LakeBusyError, match="erasure of DSR-1: the lake's ingest.retail lock is held"):
            erase_customer(storage, "C1", "DSR-1", b"key")
    finally:
        proc.send_signal(signal.SIGKILL)
        proc.wait()
    assert not storage.exists("raw.customer.loyalty_program")
    assert os.listdir(settings.lake_root) == [LOCK_DIR]  # nothing else was written

    report = ingest(spark, storage, files, b"key", ingest_id="after")
    assert [f.status for f in report.files] == ["ingested"]
