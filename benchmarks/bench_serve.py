"""The serving API under load: uvicorn on 127.0.0.1, 50 concurrent clients (a bounded asyncio loop).

The lake is the published lake in ``C360_BENCH_SERVE_LAKE`` (copied), e.g. one the erasure
benchmark built from the generated 100k-customer set, or mock_data through the pipeline
(``c360 demo``). When its latest profile holds fewer than ``CUSTOMERS`` customers, the
profile's rows are repeated under new customer ids (and so are the current dim_customer
rows). Measured per request kind, closed loop (capacity) and open loop at an offered rate
(latency): lookup by id, a filtered page, one SQL aggregate; the server process's CPU per
request and RSS, and the time from a new profile version to its being served. The server
and the load generator share the machine's cores.
"""

from __future__ import annotations

import asyncio
import os
import random
import shutil
import socket
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
_SCALE = float(os.environ.get("C360_BENCH_SERVE_SECONDS", "60")) / 60  # shorter runs for trying the benchmark
SECONDS = {"lookup": 60.0 * _SCALE, "page": 30.0 * _SCALE, "sql": 30.0 * _SCALE}  # each closed-loop run
OPEN_SECONDS = 30.0 * _SCALE  # each open-loop run
WORKERS = (1, 2)
HEADERS = ["request", "workers", "closed: req/s", "closed p50 ms", "closed p99 ms", "server CPU ms/req",
           "open: offered req/s", "open p50 ms", "open p99 ms", "non-200"]  # fmt: skip
RATES = {"lookup": 2000.0, "page": 100.0, "sql": 20.0}  # offered requests/s of the open-loop runs
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


def _scale(root: Path, customers: int) -> tuple[list[str], str, str]:
    """The customer ids to ask for, the latest as-of date, and what the profile holds.

    A lake whose latest profile already has ``customers`` customers (the generated 100k set)
    is served as it is. Otherwise the profile (latest as-of date) and dim_customer are
    overwritten with ``customers`` customers: the rows repeated under new ids."""
    from deltalake import write_deltalake

    profile, schema = _read(root, PROFILE)
    day = max(profile.column("as_of_date").to_pylist())
    base = profile.filter(pc.field("as_of_date") == day)
    if base.num_rows >= customers:
        real = base.column("customer_id").to_pylist()
        return real, day.isoformat(), f"the profile of the generated data set: {len(real):,} customers on {day}"
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
    source = (f"{customers:,} profiles: the lake profile's {n:,} rows of {day} repeated under new customer ids "
              "(with their current dim_customer rows)")  # fmt: skip
    return ids.to_pylist(), day.isoformat(), source


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


class _Connection:
    """One keep-alive HTTP/1.1 connection speaking just enough of the protocol for the benchmark.

    httpx costs about as much CPU per request as the server's lookup, and the load
    generator shares the server's two cores; a bare asyncio stream sends a prepared request
    and reads the status line, headers and Content-Length body, so the cores go to the server.
    """

    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.reader, self.writer = reader, writer

    @classmethod
    async def open(cls, port: int) -> _Connection:
        return cls(*await asyncio.open_connection("127.0.0.1", port))

    async def request(self, raw: bytes) -> int:
        self.writer.write(raw)
        head = await self.reader.readuntil(b"\r\n\r\n")
        status = int(head[9:12])
        length = 0
        for line in head.split(b"\r\n"):
            if line[:15].lower() == b"content-length:":
                length = int(line[15:])
        if length:
            await self.reader.readexactly(length)
        return status

    def close(self) -> None:
        self.writer.close()


def _raw(port: int, key: str, path: str, body: dict | None) -> bytes:
    import json

    payload = json.dumps(body).encode() if body is not None else b""
    method = "POST" if body is not None else "GET"
    head = f"{method} {path} HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nX-API-Key: {key}\r\n"
    if body is not None:
        head += f"Content-Type: application/json\r\nContent-Length: {len(payload)}\r\n"
    return (head + "\r\n").encode() + payload


def _summary(latencies: list[float], errors: int, elapsed: float) -> dict[str, float]:
    q = statistics.quantiles(latencies, n=100)
    return {"n": len(latencies), "errors": errors, "p50": q[49] * 1000, "p99": q[98] * 1000,
            "rps": len(latencies) / elapsed}  # fmt: skip


async def _closed(port: int, key: str, make_path, seconds: float) -> dict[str, float]:  # noqa: ANN001
    """Capacity: CLIENTS connections, each sending its next request as soon as the last is answered."""
    latencies: list[float] = []
    errors = 0
    deadline = time.perf_counter() + seconds

    async def worker(seed: int) -> None:
        nonlocal errors
        rnd = random.Random(seed)
        conn = await _Connection.open(port)
        try:
            for _ in range(10_000_000):  # bounded; the deadline ends it
                if time.perf_counter() >= deadline:
                    return
                raw = _raw(port, key, *make_path(rnd))
                t0 = time.perf_counter()
                status = await conn.request(raw)
                latencies.append(time.perf_counter() - t0)
                errors += status != 200
        finally:
            conn.close()

    started = time.perf_counter()
    await asyncio.gather(*(worker(i) for i in range(CLIENTS)))
    return _summary(latencies, errors, time.perf_counter() - started)


async def _open_loop(port: int, key: str, make_path, seconds: float, rate: float) -> dict[str, float]:  # noqa: ANN001
    """Latency at an offered rate: requests are due at fixed times (``rate`` per second spread over
    CLIENTS connections) and each latency counts from when the request was due, not from when it
    could be sent, so a stalled server is not hidden by the clients waiting for it."""
    latencies: list[float] = []
    errors = 0
    interval = CLIENTS / rate
    start = time.perf_counter() + 0.05
    count = int(seconds * rate / CLIENTS)

    async def worker(seed: int) -> None:
        nonlocal errors
        rnd = random.Random(seed)
        conn = await _Connection.open(port)
        try:
            for k in range(count):
                due = start + (k + seed / CLIENTS) * interval
                wait = due - time.perf_counter()
                if wait > 0:
                    await asyncio.sleep(wait)
                status = await conn.request(_raw(port, key, *make_path(rnd)))
                latencies.append(time.perf_counter() - due)
                errors += status != 200
        finally:
            conn.close()

    await asyncio.gather(*(worker(i) for i in range(CLIENTS)))
    return _summary(latencies, errors, time.perf_counter() - start)


def _tree(proc) -> list:  # noqa: ANN001 - psutil.Process
    return [proc, *proc.children(recursive=True)]


def _cpu(proc) -> float:  # noqa: ANN001
    return sum(sum(p.cpu_times()[:2]) for p in _tree(proc))


def _rss(proc) -> int:  # noqa: ANN001
    return sum(p.memory_info().rss for p in _tree(proc))


def _measure(root: Path, work: Path, ids: list[str], day: str, key: str, workers: int) -> dict:
    """Start ``c360 serve --workers N``, run every scenario closed then open loop, and (one worker)
    time a reload; stops the server."""
    import psutil

    with socket.socket() as sock:  # a free port: another process may hold any fixed one
        sock.bind(("127.0.0.1", 0))
        port = int(sock.getsockname()[1])
    env = {**os.environ, "C360_LAKE_ROOT": str(root), "C360_SERVE_RELOAD_SECONDS": "2"}
    cmd = [str(Path(sys.executable).with_name("c360")), "serve", "--port", str(port), "--workers", str(workers)]
    started = time.perf_counter()
    log = (work / f"server-{workers}.log").open("w")
    server = subprocess.Popen(cmd, env=env, stdout=log, stderr=subprocess.STDOUT)
    base = f"http://127.0.0.1:{port}"
    try:
        for _ in range(1200):  # up to 120 s; every worker answers /health 200 only once loaded
            try:
                if all(httpx.get(f"{base}/health", timeout=2).status_code == 200 for _ in range(4 * workers)):
                    break
            except httpx.TransportError:
                pass
            time.sleep(0.1)
        else:
            raise RuntimeError("server not ready in 120 s")
        out: dict = {"ready": time.perf_counter() - started}
        proc = psutil.Process(server.pid)
        out["rss_loaded"] = _rss(proc)
        segments = ["Premium", "Standard", "Basic"]
        sql_body = {"sql": SQL.format(day=day)}
        scenarios = [  # name, request maker, offered rate of the open-loop run (requests/s)
            ("lookup by id", lambda r: (f"/v1/customers/{r.choice(ids)}", None), "lookup"),
            (
                "filtered page (segment + churn risk, 50 rows)",
                lambda r: (f"/v1/customers?segment={r.choice(segments)}&churn_risk=high&limit=50", None),
                "page",
            ),
            ("SQL aggregate (POST /v1/sql, group by segment)", lambda r: ("/v1/sql", sql_body), "sql"),
        ]
        results: dict[str, dict[str, float]] = {}
        for name, make, kind in scenarios:
            cpu0 = _cpu(proc)
            closed = asyncio.run(_closed(port, key, make, SECONDS[kind]))
            cpu1 = _cpu(proc)
            opened = asyncio.run(_open_loop(port, key, make, OPEN_SECONDS, RATES[kind]))
            results[name] = {**closed, "cpu_ms": (cpu1 - cpu0) * 1000 / max(closed["n"], 1), "rate": RATES[kind],
                             "open_p50": opened["p50"], "open_p99": opened["p99"], "open_errors": opened["errors"],
                             "open_n": opened["n"]}  # fmt: skip
            print(f"{workers} worker(s):", name, results[name], flush=True)
        out["results"] = results
        out["rss_after"] = _rss(proc)
        if workers == 1:
            # Reload: a new profile version (one row updated), then poll /health until it is served.
            from deltalake import DeltaTable

            path = str(root.joinpath(*PROFILE.split(".")))
            DeltaTable(path).update(
                predicate=f"customer_id = '{ids[0]}' AND as_of_date = DATE '{day}'", updates={"tenure_days": "1"}
            )
            new_version = DeltaTable(path).version()
            committed = time.perf_counter()
            health: dict = {}
            for _ in range(1200):
                health = httpx.get(f"{base}/health", timeout=5).json()
                if health["versions"].get(PROFILE) == new_version:
                    break
                time.sleep(0.05)
            out["seen_after"] = time.perf_counter() - committed
            out["reload_seconds"] = health.get("last_reload_seconds") or 0.0
        return out
    except Exception:
        log.flush()
        print("server log:\n" + (work / f"server-{workers}.log").read_text()[-4000:])
        raise
    finally:
        server.terminate()
        try:
            server.wait(timeout=30)
        except subprocess.TimeoutExpired:
            server.kill()


def main() -> None:
    from c360.access import create_key

    work = Path(tempfile.mkdtemp(prefix="c360-bench-serve-"))
    try:
        root = _lake(work)
        ids, day, source = _scale(root, CUSTOMERS)
        key, _ = create_key(root, "analyst")
        runs = {workers: _measure(root, work, ids, day, key, workers) for workers in WORKERS}
    finally:
        shutil.rmtree(work, ignore_errors=True)
    rows = [
        [name, workers, f"{r['rps']:,.0f}", f"{r['p50']:.1f}", f"{r['p99']:.1f}", f"{r['cpu_ms']:.2f}",
         f"{r['rate']:,.0f}", f"{r['open_p50']:.1f}", f"{r['open_p99']:.1f}",
         f"{int(r['errors'] + r['open_errors'])} of {int(r['n'] + r['open_n']):,}"]
        for workers, run in runs.items()
        for name, r in run["results"].items()
    ]  # fmt: skip
    one = runs[WORKERS[0]]
    memory = "; ".join(
        f"{w} worker(s): {run['rss_loaded'] / 2**20:,.0f} MiB loaded, {run['rss_after'] / 2**20:,.0f} MiB after"
        for w, run in runs.items()
    )
    load = ", ".join(f"{x:.1f}" for x in os.getloadavg())
    body = f"""
{source}. `c360 serve --workers N` on 127.0.0.1 (uvicorn, uvloop, httptools); analyst key. The
load generator is one asyncio process on the same 2 cores with {CLIENTS} keep-alive connections
(bare HTTP/1.1 over asyncio streams: httpx spent as much CPU per request as the server's lookup).
Load average at the end: {load}.

- *closed loop* ({SECONDS["lookup"]:.0f} s for lookups, {SECONDS["page"]:.0f} s for the others): each connection
  sends its next request as soon as the last is answered; this measures capacity. Its latency is
  queueing: by Little's law {CLIENTS} clients at R req/s wait {CLIENTS}/R s on average, so "p99 <= 10 ms
  at >= 2,000 req/s" cannot both hold for {CLIENTS} saturating clients.
- *open loop* ({OPEN_SECONDS:.0f} s): requests are due at a fixed offered rate spread over the {CLIENTS}
  connections, and latency counts from when a request was due (no coordinated omission): the
  latency a caller sees at that rate.
- *server CPU*: CPU time of the server's processes per request, in the closed-loop run.

{markdown_table(HEADERS, rows)}

- Server ready (tables loaded, indexes built): {", ".join(f"{run['ready']:.1f} s" for run in runs.values())} after start
  ({", ".join(str(w) for w in runs)} worker(s)).
- Server memory (RSS of all its processes): {memory}.
- Reload (1 worker): a new profile version was served {one["seen_after"]:.1f} s after its commit (poll
  interval 2 s; the reload itself, re-pinning tables and rebuilding the profile index, took
  {one["reload_seconds"]:.2f} s in the server).
- Goals from issue 13: lookup p99 <= 10 ms at >= 2,000 req/s, page p99 <= 50 ms, SQL p99 <= 500 ms.
"""
    print(body)
    write_section("serve", "Serving API under load", body)


if __name__ == "__main__":
    main()
