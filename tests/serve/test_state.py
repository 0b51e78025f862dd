"""Generations: a reload builds a new generation beside the old one; a request holding the
old one keeps reading the versions it pinned (tiny delta-rs lake, no Spark)."""

from __future__ import annotations

from pathlib import Path

import pyarrow as pa
from deltalake import DeltaTable, write_deltalake

from c360.serve.state import ServedLake
from c360.sql import SqlEngine


def test_reload_swaps_generations_and_old_ones_stay_pinned(tmp_path: Path) -> None:
    path = tmp_path / "enhanced" / "d" / "t"
    write_deltalake(str(path), pa.table({"n": [1, 2]}))
    lake = ServedLake(tmp_path, poll_seconds=60)
    first = lake.load()
    assert first.snapshot.versions == {"enhanced.d.t": 0}
    assert not lake.changed()
    assert lake.load() is first  # nothing new: the same generation
    write_deltalake(str(path), pa.table({"n": [3]}), mode="append")
    assert lake.changed()
    second = lake.load()
    assert second is not first and second.number == first.number + 1
    assert lake.current is second and second.snapshot.versions == {"enhanced.d.t": 1}
    engine = SqlEngine(tmp_path)
    try:
        old = engine.query("SELECT sum(n) AS s FROM enhanced.d.t", snapshot=first.snapshot)
        new = engine.query("SELECT sum(n) AS s FROM enhanced.d.t", snapshot=second.snapshot)
    finally:
        engine.close()
    assert (old.table.to_pylist(), old.versions) == ([{"s": 3}], {"enhanced.d.t": 0})
    assert (new.table.to_pylist(), new.versions) == ([{"s": 6}], {"enhanced.d.t": 1})
    write_deltalake(str(tmp_path / "enhanced" / "d" / "u"), pa.table({"x": ["a"]}))
    assert lake.changed()  # a newly published table is picked up too
    assert "enhanced.d.u" in lake.load().snapshot.tables


def test_a_server_on_a_partial_lake_starts_its_query_processes_and_404s_unpublished_tables(tmp_path: Path) -> None:
    """A lake whose air-quality (or retail) pipeline has not run: its endpoints say which table
    is missing, rather than a 400 about an unknown table in a query the caller never wrote."""
    from fastapi.testclient import TestClient

    from c360.access import create_key
    from c360.serve import create_app
    from c360.settings import Settings

    write_deltalake(str(tmp_path / "enhanced" / "d" / "t"), pa.table({"n": [1, 2]}))
    key, _ = create_key(tmp_path, "analyst")
    settings = Settings(lake_root=tmp_path, serve_export_dir=tmp_path / "exports", serve_sql_processes=2)
    app = create_app(settings, block_until_loaded=True)
    with TestClient(app) as client:
        # C360_SERVE_SQL_PROCESSES: the server started that many query processes with the lake
        assert len(app.state.engine._processes.processes()) == 2
        assert client.get("/health").json()["sql_processes"] == 2  # what an operator sees
        h = {"X-API-Key": key}
        r = client.get("/v1/air-quality/stations", headers=h)
        assert (r.status_code, r.json()) == (404, {"detail": "enhanced.air_quality.dim_station is not in the lake yet"})
        r = client.get("/v1/air-quality/stations/S1/daily", headers=h)
        assert r.status_code == 404 and "enhanced.air_quality.fct_aqi_daily" in r.json()["detail"]
        assert client.get("/v1/finance/clv-by-segment", headers=h).status_code == 404
        r = client.post("/v1/sql", json={"sql": "SELECT * FROM enhanced.air_quality.dim_station"}, headers=h)
        assert r.status_code == 400 and "unknown table" in r.json()["detail"]  # the caller's own query


def test_health_tells_a_caller_without_a_key_only_whether_it_serves(tmp_path: Path) -> None:
    """/health listed every table it served and its last reload's error to anyone: the vault's
    name, tables an application's role may not see, and paths in the error's text."""
    import time

    from fastapi.testclient import TestClient

    from c360.access import create_key
    from c360.serve import create_app
    from c360.settings import Settings

    for name in ("enhanced/air_quality/probe", "enhanced/sales/probe", "vault/pii/values"):
        write_deltalake(str(tmp_path / name), pa.table({"n": [1]}))
    keys = {role: create_key(tmp_path, role)[0] for role in ("analyst", "application", "steward")}
    app = create_app(Settings(lake_root=tmp_path, serve_sql_processes=1), block_until_loaded=True)
    with TestClient(app) as client:
        anyone = client.get("/health").json()
        assert anyone["ready"] is True and anyone["versions"] is None and anyone["last_error"] is None
        seen = {r: set(client.get("/health", headers={"X-API-Key": k}).json()["versions"]) for r, k in keys.items()}
        assert seen["analyst"] == {"enhanced.air_quality.probe", "enhanced.sales.probe"}
        assert seen["application"] == {"enhanced.air_quality.probe"}
        assert seen["steward"] == {"enhanced.air_quality.probe", "enhanced.sales.probe", "vault.pii.values"}
        assert client.get("/health", headers={"X-API-Key": "wrong"}).status_code == 401
        # a reload that fails: the unreadable log entry of a new version
        (tmp_path / "enhanced/sales/probe/_delta_log/00000000000000000001.json").write_text("not json\n")
        lake = app.state.lake
        lake.request_reload()
        for _ in range(100):
            if lake.last_error is not None:
                break
            time.sleep(0.1)
        anyone = client.get("/health").json()
        assert anyone["reload_failed"] is True and anyone["last_error"] is None and anyone["ready"] is True
        told = client.get("/health", headers={"X-API-Key": keys["analyst"]}).json()
        assert told["reload_failed"] is True and told["last_error"] == lake.last_error


def test_an_export_of_a_version_the_lake_no_longer_keeps_is_a_clear_400(tmp_path: Path) -> None:
    """After an erasure restarts a table's history, the versions before it cannot be read: the
    export names the version and why (it was a 500 from delta kernel's "No files in log
    segment"), and the table's kept version still exports."""
    from fastapi.testclient import TestClient

    from c360.access import create_key
    from c360.serve import create_app
    from c360.settings import Settings
    from c360.storage import LakeCatalog
    from c360.storage.rewrite import purge_log

    path = tmp_path / "enhanced" / "d" / "t"
    write_deltalake(str(path), pa.table({"n": [1, 2]}))
    write_deltalake(str(path), pa.table({"n": [3]}), mode="append")
    purge_log(LakeCatalog(tmp_path), "enhanced.d.t")  # the erasure's last step on a table
    key, _ = create_key(tmp_path, "analyst")
    settings = Settings(lake_root=tmp_path, serve_export_dir=tmp_path / "exports", serve_sql_processes=1)
    with TestClient(create_app(settings, block_until_loaded=True)) as client:
        h = {"X-API-Key": key}
        r = client.get("/v1/exports/enhanced.d.t", params={"version": 0, "format": "csv"}, headers=h)
        assert r.status_code == 400, r.text
        assert r.json()["detail"].startswith(
            "table enhanced.d.t no longer keeps version 0: its history starts at version 1"
        )
        r = client.get("/v1/exports/enhanced.d.t", params={"version": 1, "format": "csv"}, headers=h)
        assert r.status_code == 200 and r.headers["X-C360-Rows"] == "3"


def test_a_body_past_the_limit_is_a_413_before_it_is_read_and_is_audited(tmp_path: Path) -> None:
    """Nothing bounded a request body: a 200 MB POST /v1/aqi was read and parsed whole (1 GB
    of server memory) before its record limit was checked. Declared or chunked, a body past
    C360_SERVE_MAX_BODY_BYTES is now refused, with the API's JSON error and an audit row."""
    from fastapi.testclient import TestClient

    from c360.access import create_key
    from c360.serve import create_app
    from c360.settings import Settings

    write_deltalake(str(tmp_path / "enhanced" / "d" / "t"), pa.table({"n": [1, 2]}))
    key, _ = create_key(tmp_path, "analyst")
    settings = Settings(lake_root=tmp_path, serve_export_dir=tmp_path / "exports", serve_sql_processes=1,
                        serve_max_body_bytes=2048)  # fmt: skip
    app = create_app(settings, block_until_loaded=True)
    h = {"X-API-Key": key, "Content-Type": "application/json"}
    big = b'{"sql": "SELECT 1 AS x' + b" " * 3000 + b'"}'
    with TestClient(app) as client:
        r = client.post("/v1/sql", content=big, headers=h)
        assert (r.status_code, r.json()) == (
            413,
            {"detail": f"the request body ({len(big)} bytes) is larger than this server takes (2048 bytes)"},
        )
        chunks = (big[i : i + 500] for i in range(0, len(big), 500))  # no Content-Length: sent chunked
        r = client.post("/v1/sql", content=chunks, headers=h)
        assert (r.status_code, r.json()["detail"]) == (
            413,
            "the request body (more than 2048 bytes) is larger than this server takes (2048 bytes)",
        )
        small = client.post("/v1/sql", json={"sql": "SELECT sum(n) AS s FROM enhanced.d.t"}, headers=h)
        assert small.status_code == 200 and small.json()["rows"] == [{"s": 3}]
        app.state.audit.flush()
    import pyarrow.parquet as pq

    files = DeltaTable(str(tmp_path / "ops" / "serve" / "audit")).file_uris()
    rows = [r for f in files for r in pq.read_table(f, columns=["endpoint", "status", "at"]).to_pylist()]
    assert [(r["endpoint"], r["status"]) for r in sorted(rows, key=lambda r: r["at"])] == [
        ("/v1/sql", 413),
        ("/v1/sql", 413),
        ("/v1/sql", 200),
    ]


def test_the_export_command_names_a_file_in_a_folder_and_takes_the_format_from_the_extension(
    tmp_path: Path,
) -> None:
    """`c360 export --out <folder>` wrote the whole export, then failed renaming it onto the
    folder (IsADirectoryError); `--out x.parquet -f csv` wrote CSV into a .parquet file."""
    import pyarrow.parquet as pq
    from typer.testing import CliRunner

    from c360.cli import app
    from c360.cli.state import state
    from c360.settings import Settings

    lake, folder = tmp_path / "lake", tmp_path / "out"
    write_deltalake(str(lake / "enhanced" / "d" / "t"), pa.table({"n": [1, 2]}))
    folder.mkdir()
    state._settings = Settings(lake_root=lake)
    try:
        runner = CliRunner()
        into = runner.invoke(app, ["export", "enhanced.d.t", "--out", str(folder)])
        assert into.exit_code == 0, into.output
        assert pq.read_table(folder / "enhanced.d.t.v0.analyst.parquet").to_pylist() == [{"n": 1}, {"n": 2}]
        assert (folder / "enhanced.d.t.v0.analyst.parquet.manifest.json").is_file()
        as_csv = runner.invoke(app, ["export", "enhanced.d.t", "--out", str(tmp_path / "t.csv")])
        assert as_csv.exit_code == 0 and (tmp_path / "t.csv").read_text() == '"n"\n1\n2\n'
        clash = runner.invoke(app, ["export", "enhanced.d.t", "--out", str(tmp_path / "t.parquet"), "-f", "csv"])
        assert clash.exit_code == 2 and "names a parquet file, but --format is csv" in clash.output
        assert not (tmp_path / "t.parquet").exists()
    finally:
        state._settings = None


def test_the_sql_command_writes_what_out_names_and_never_ignores_it(tmp_path: Path) -> None:
    """`c360 sql q -o result.csv` printed a table on screen and wrote nothing: --format's
    default, table, ignored --out. --out now decides the format unless --format is given."""
    import json

    import pyarrow.parquet as pq
    from typer.testing import CliRunner

    from c360.cli import app
    from c360.cli.state import state
    from c360.settings import Settings

    write_deltalake(str(tmp_path / "enhanced" / "d" / "t"), pa.table({"n": [1, 2]}))
    state._settings = Settings(lake_root=tmp_path)
    query = "SELECT sum(n) AS s FROM enhanced.d.t"
    try:
        runner = CliRunner()
        for name, read in [
            ("r.csv", lambda p: p.read_text()),
            ("r.json", lambda p: json.loads(p.read_text())),
            ("r.parquet", lambda p: pq.read_table(p).to_pylist()),
            ("r.out", lambda p: p.read_text()),  # no known extension: CSV
        ]:
            done = runner.invoke(app, ["sql", query, "-o", str(tmp_path / name)])
            assert done.exit_code == 0, done.output
            assert read(tmp_path / name) in ('"s"\n3\n', [{"s": 3}]), name
        screen = runner.invoke(app, ["sql", query, "-o", str(tmp_path / "s.csv"), "-f", "table"])
        assert screen.exit_code == 2 and "--format table is for the screen" in screen.output
        clash = runner.invoke(app, ["sql", query, "-o", str(tmp_path / "c.parquet"), "-f", "csv"])
        assert clash.exit_code == 2 and "names a parquet file, but --format is csv" in clash.output
        assert not (tmp_path / "s.csv").exists() and not (tmp_path / "c.parquet").exists()
        # '-' is stdout (it wrote a file named '-'): CSV unless --format says otherwise
        dash = runner.invoke(app, ["sql", query, "-o", "-"])
        assert dash.exit_code == 0 and dash.stdout == '"s"\n3\n' and not Path("-").exists()
        piped = runner.invoke(app, ["sql", query, "-o", "-", "-f", "parquet"])
        assert piped.exit_code == 0 and piped.stdout_bytes[:4] == b"PAR1"
    finally:
        state._settings = None


def test_serving_a_lake_without_published_tables_warns_at_start(tmp_path: Path, monkeypatch: object) -> None:
    """A mistyped C360_LAKE_ROOT served nothing, yet /health said ready: the start now says so."""
    import uvicorn
    from typer.testing import CliRunner

    from c360.cli import app
    from c360.cli.state import state
    from c360.settings import Settings

    started: list[object] = []
    monkeypatch.setattr(uvicorn, "run", lambda *a, **k: started.append(a))  # type: ignore[attr-defined]
    state._settings = Settings(lake_root=tmp_path / "mistyped")
    try:
        empty = CliRunner().invoke(app, ["serve", "--port", "8999"])
        state._settings = Settings(lake_root=tmp_path / "lake")
        write_deltalake(str(tmp_path / "lake" / "enhanced" / "d" / "t"), pa.table({"n": [1]}))
        published = CliRunner().invoke(app, ["serve", "--port", "8999"])
    finally:
        state._settings = None
    assert empty.exit_code == 0 and published.exit_code == 0 and len(started) == 2
    assert f"warning: no published table under {tmp_path / 'mistyped'}" in empty.output
    assert "warning" not in published.output
