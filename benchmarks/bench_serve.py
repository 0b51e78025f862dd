"""The serving API under load: uvicorn on 127.0.0.1, 50 concurrent clients (a bounded asyncio httpx loop).

The lake is mock_data through the pipeline (``c360 demo``: profile of the last day), or the
published lake in ``C360_BENCH_SERVE_LAKE``. The profile is then scaled to ``CUSTOMERS``
customers for its latest as-of date: the mock's profile rows are repeated with new customer
ids (and so are the current dim_customer rows), so the server holds 100k real-shaped
profiles. Measured: lookup by id (p50, p99, req/s), a filtered page, one SQL aggregate,
the server process's RSS, and the time from a new profile version to its being served.
The server and the load generator share the machine's cores.
"""

from __future__ import annotations

import asyncio
import os
import random
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import httpx
import pyarrow as pa
import pyarrow.compute as pc

from benchmarks.report import markdown_table, write_section

CUSTOMERS = 100_000
CLIENTS = 50
SECONDS = {"lookup": 60.0, "page": 30.0, "sql": 30.0}
PROFILE = "enhanced.customer.customer360_profile"
DIM = "enhanced.customer.dim_customer"
SQL = (
    "SELECT customer_segment, count(*) AS customers, avg(predicted_clv_12m) AS clv "
    f"FROM {PROFILE} WHERE as_of_date = DATE '{{day}}' GROUP BY 1 ORDER BY 1"
)


def _read(root: Path, name: str) -> tuple[pa.Table, pa.Schema]:
    from deltalake import DeltaTable, QueryBuilder

    dt = DeltaTable(str(root.joinpath(*name.split("."))))
    schema = pa.schema(dt.schema().to_arrow())
    return pa.table(QueryBuilder().register("t", dt).execute("SELECT * FROM t").read_all()).cast(schema), schema


def _scale(root: Path, customers: int) -> tuple[int, str]:
    """Overwrite the profile (latest as-of date) and dim_customer with ``customers`` customers."""
    from deltalake import write_deltalake

    profile, schema = _read(root, PROFILE)
    day = max(profile.column("as_of_date").to_pylist())
    base = profile.filter(pc.field("as_of_date") == day)
    dim, dim_schema = _read(root, DIM)
    current = dim.filter(pc.field("is_current"))
    by_id = {cid: i for i, cid in enumerate(current.column("customer_id").to_pylist())}
    n = base.num_rows
    take = pa.array([i % n for i in range(customers)])
    ids = pa.array([f"BENCH{i:07d}" for i in range(customers)])
    scaled = base.take(take).set_column(base.schema.get_field_index("customer_id"), schema.field("customer_id"), ids)
    base_ids = base.column("customer_id").to_pylist()
    dim_take = pa.array([by_id.get(base_ids[i % n], 0) for i in range(customers)])
    dim_scaled = current.take(dim_take).set_column(
        current.schema.get_field_index("customer_id"), dim_schema.field("customer_id"), ids
    )
    write_deltalake(str(root.joinpath(*PROFILE.split("."))), scaled.cast(schema), mode="overwrite")
    write_deltalake(str(root.joinpath(*DIM.split("."))), dim_scaled.cast(dim_schema), mode="overwrite")
    return customers, day.isoformat()


def _lake(work: Path) -> Path:
    given = os.environ.get("C360_BENCH_SERVE_LAKE")
    root = work / "lake"
    if given:
        shutil.copytree(given, root)
        return root
    env = {**os.environ, "C360_LAKE_ROOT": str(root), "C360_SPARK_UI": "false", "C360_SPARK_LOG_LEVEL": "ERROR"}
    mock = Path(__file__).resolve().parent.parent / "mock_data"
    subprocess.run([str(Path(sys.executable).with_name("c360")), "demo", "--source", str(mock)], check=True, env=env,
                   stdout=subprocess.DEVNULL)  # fmt: skip
    return root


async def _load(base: str, key: str, make_path, seconds: float, method: str = "GET") -> dict[str, float]:  # noqa: ANN001
    """CLIENTS workers, each sending one request at a time until the time is up (bounded)."""
    latencies: list[float] = []
    errors = 0
    deadline = time.perf_counter() + seconds
    limits = httpx.Limits(max_connections=CLIENTS, max_keepalive_connections=CLIENTS)
    async with httpx.AsyncClient(base_url=base, headers={"X-API-Key": key}, limits=limits, timeout=30) as client:

        async def worker(seed: int) -> None:
            nonlocal errors
            rnd = random.Random(seed)
            for _ in range(10_000_000):  # bounded; the deadline ends it
                if time.perf_counter() >= deadline:
                    return
                path, body = make_path(rnd)
                t0 = time.perf_counter()
                r = await (client.post(path, json=body) if method == "POST" else client.get(path))
                latencies.append(time.perf_counter() - t0)
                if r.status_code != 200:
                    errors += 1

        started = time.perf_counter()
        await asyncio.gather(*(worker(i) for i in range(CLIENTS)))
        elapsed = time.perf_counter() - started
    q = statistics.quantiles(latencies, n=100)
    return {
        "n": len(latencies),
        "errors": errors,
        "p50": q[49] * 1000,
        "p99": q[98] * 1000,
        "rps": len(latencies) / elapsed,
    }


def main() -> None:
    import psutil

    from c360.access import create_key

    work = Path(tempfile.mkdtemp(prefix="c360-bench-serve-"))
    server = None
    try:
        root = _lake(work)
        customers, day = _scale(root, CUSTOMERS)
        key, _ = create_key(root, "analyst")
        port = 8765
        env = {**os.environ, "C360_LAKE_ROOT": str(root), "C360_SERVE_RELOAD_SECONDS": "2"}
        cmd = [str(Path(sys.executable).with_name("c360")), "serve", "--port", str(port)]
        started = time.perf_counter()
        server = subprocess.Popen(cmd, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        base = f"http://127.0.0.1:{port}"
        for _ in range(1200):  # up to 120 s
            try:
                if httpx.get(f"{base}/health", timeout=2).status_code == 200:
                    break
            except httpx.TransportError:
                pass
            time.sleep(0.1)
        else:
            raise RuntimeError("server not ready in 120 s")
        ready = time.perf_counter() - started
        proc = psutil.Process(server.pid)
        rss_loaded = proc.memory_info().rss
        ids = [f"BENCH{i:07d}" for i in range(customers)]
        segments = ["Premium", "Standard", "Basic"]
        results = {
            "lookup by id": asyncio.run(
                _load(base, key, lambda r: (f"/v1/customers/{r.choice(ids)}", None), SECONDS["lookup"])
            ),
            "filtered page (segment + churn risk, 50 rows)": asyncio.run(
                _load(
                    base, key,
                    lambda r: (f"/v1/customers?segment={r.choice(segments)}&churn_risk=high&limit=50", None),
                    SECONDS["page"],
                )
            ),
            "SQL aggregate (POST /v1/sql, group by segment)": asyncio.run(
                _load(base, key, lambda r: ("/v1/sql", {"sql": SQL.format(day=day)}), SECONDS["sql"], "POST")
            ),
        }  # fmt: skip
        rss_after = proc.memory_info().rss
        # Reload: a new profile version (one row updated), then poll /health until it is served.
        from deltalake import DeltaTable

        dt = DeltaTable(str(root.joinpath(*PROFILE.split("."))))
        dt.update(predicate=f"customer_id = '{ids[0]}'", updates={"tenure_days": "1"})
        new_version = DeltaTable(str(root.joinpath(*PROFILE.split(".")))).version()
        committed = time.perf_counter()
        health: dict = {}
        for _ in range(1200):
            health = httpx.get(f"{base}/health", timeout=5).json()
            if health["versions"].get(PROFILE) == new_version:
                break
            time.sleep(0.05)
        seen_after = time.perf_counter() - committed
        rows = [
            [name, r["n"], r["errors"], f"{r['p50']:.1f}", f"{r['p99']:.1f}", f"{r['rps']:.0f}"]
            for name, r in results.items()
        ]
        load = ", ".join(f"{x:.1f}" for x in os.getloadavg())
        body = f"""
{customers:,} profiles (the mock profile's rows of its latest as-of date repeated under new customer
ids, and their current dim_customer rows), one uvicorn worker (`c360 serve`) on 127.0.0.1, {CLIENTS}
concurrent clients in one asyncio httpx process on the same 2 cores; analyst key; each scenario
runs for {SECONDS["lookup"]:.0f} / {SECONDS["page"]:.0f} / {SECONDS["sql"]:.0f} s. Load average at the end: {load}.

{markdown_table(["request", "requests", "non-200", "p50 ms", "p99 ms", "req/s"], rows)}

- Server ready (tables loaded, indexes built) {ready:.1f} s after start.
- Server RSS: {rss_loaded / 2**20:.0f} MiB with the tables loaded, {rss_after / 2**20:.0f} MiB after the load.
- Reload: a new profile version was served {seen_after:.1f} s after its commit (poll interval 2 s;
  the reload itself, re-pinning tables and rebuilding the profile index, took
  {health.get("last_reload_seconds") or 0:.2f} s in the server).
- Goals from issue 13: lookup p99 <= 10 ms at >= 2,000 req/s, page p99 <= 50 ms, SQL p99 <= 500 ms.
  Latencies include the load generator's own time on the same cores.
"""
        print(body)
        write_section("serve", "Serving API under load", body)
    finally:
        if server is not None:
            server.terminate()
            try:
                server.wait(timeout=20)
            except subprocess.TimeoutExpired:
                server.kill()
        shutil.rmtree(work, ignore_errors=True)
