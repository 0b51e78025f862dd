"""``c360 serve --workers 2`` as its user starts it: two processes answer on one port, each
from its own loaded generation, and every request lands in the audit table once, although
both processes append to it."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from deltalake import DeltaTable

from c360.ports import free_port
from tests.conftest import PublishedLake, copy_lake

pytestmark = pytest.mark.slow


def test_two_worker_processes_serve_and_audit_every_request(published_lake: PublishedLake, tmp_path: Path) -> None:
    from c360.access import create_key

    root = copy_lake(published_lake.root, tmp_path / "lake")
    key, _ = create_key(root, "application")
    port = free_port()
    env = {**os.environ, "C360_LAKE_ROOT": str(root), "C360_SERVE_AUDIT_FLUSH_SECONDS": "0.5"}
    cmd = [str(Path(sys.executable).with_name("c360")), "serve", "--port", str(port), "--workers", "2"]
    server = subprocess.Popen(cmd, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, start_new_session=True)
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 120
        ready: set[int] = set()
        while len(ready) < 2:  # each process loads the lake itself: wait until both said ready
            try:
                health = httpx.get(f"{base}/health", timeout=2)
                if health.status_code == 200:
                    ready.add(health.json()["process"])
            except httpx.TransportError:
                pass
            assert server.poll() is None, server.stdout.read().decode()[-3000:]  # type: ignore[union-attr]
            assert time.monotonic() < deadline, "server not ready in 120 s"
            time.sleep(0.2)
        customers = httpx.get(f"{base}/v1/customers", params={"limit": 20}, headers={"X-API-Key": key}).json()
        ids = [c["customer_id"] for c in customers["items"]]
        statuses = []
        for cid in ids * 3:  # new connections: requests spread over both processes
            r = httpx.get(f"{base}/v1/customers/{cid}", headers={"X-API-Key": key})
            statuses.append(r.status_code)
            assert r.json().get("customer_id") == cid, (r.status_code, r.text)
        assert statuses == [200] * len(ids) * 3
    finally:
        os.killpg(server.pid, signal.SIGINT)  # uvicorn's supervisor stops its workers, which flush
        out, _ = server.communicate(timeout=60)
    pids = {line.split("[")[-1].split("]")[0] for line in out.decode().splitlines() if "Started server process" in line}
    assert len(pids) == 2 and pids == {str(p) for p in ready}, out.decode()[-3000:]
    audit = DeltaTable(str(root / "ops/serve/audit"))
    rows = pa.concat_tables([pq.read_table(f) for f in audit.file_uris()])
    v1 = [t for t in rows.column("target").to_pylist() if t.startswith("/v1/")]
    assert len(v1) == 1 + len(ids) * 3, "one audit row per request, from both processes"
    assert len(set(rows.column("request_id").to_pylist())) == rows.num_rows
