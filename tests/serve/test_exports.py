"""Exports: the file at version N is the table Spark reads at version N, byte-identical when
repeated, with version/rows/SHA-256 in headers and the manifest, and recorded in the audit."""

from __future__ import annotations

import hashlib
import io
from datetime import date
from decimal import Decimal
from pathlib import Path
from typing import Any

import pyarrow.csv as pcsv
import pyarrow.parquet as pq
import pytest
from deltalake import DeltaTable
from fastapi.testclient import TestClient

from c360.serve.exports import ExportManifest, manifest_path, write_export
from c360.sql import SqlEngine
from tests.serve.conftest import ServedLakeFixture, headers

pytestmark = pytest.mark.slow
STATIONS = "enhanced.air_quality.dim_station"
DAILY = "enhanced.air_quality.fct_aqi_daily"


def _norm(v: Any) -> Any:
    if isinstance(v, Decimal):
        return str(v.normalize())
    if isinstance(v, date):
        return v.isoformat()
    if isinstance(v, list):
        return tuple(v)
    return v


def _rows(rows: list[dict[str, Any]]) -> list[tuple]:
    return sorted((tuple((k, _norm(v)) for k, v in sorted(r.items())) for r in rows), key=repr)


@pytest.mark.parametrize("table", [STATIONS, DAILY])
def test_export_at_a_version_equals_the_spark_read_of_that_version(
    spark: Any, client: TestClient, served: ServedLakeFixture, table: str
) -> None:
    from c360.storage import DeltaStorage

    path = served.root.joinpath(*table.split("."))
    latest = DeltaTable(str(path)).version()
    assert latest >= 2  # an older version with rows exists
    version = latest - 1
    r = client.get(f"/v1/exports/{table}", params={"version": version}, headers=headers(served, "analyst"))
    assert r.status_code == 200, r.text
    assert r.headers["X-C360-Version"] == str(version)
    assert r.headers["X-C360-SHA256"] == hashlib.sha256(r.content).hexdigest()
    exported = pq.read_table(io.BytesIO(r.content))
    assert int(r.headers["X-C360-Rows"]) == exported.num_rows
    spark_rows = [
        row.asDict(recursive=True) for row in DeltaStorage(spark, served.root).read(table, version=version).collect()
    ]
    assert exported.num_rows == len(spark_rows) > 0
    assert _rows(exported.to_pylist()) == _rows(spark_rows)
    again = client.get(f"/v1/exports/{table}", params={"version": version}, headers=headers(served, "analyst"))
    assert again.content == r.content


def test_repeated_exports_are_byte_identical_and_carry_a_manifest(served: ServedLakeFixture, tmp_path: Path) -> None:
    engine = SqlEngine(served.root)
    profile = "enhanced.customer.customer360_profile"
    version = DeltaTable(str(served.root.joinpath(*profile.split(".")))).version()
    for fmt in ("parquet", "csv"):
        first = write_export(engine, profile, version, fmt, tmp_path / f"a.{fmt}", role="analyst")
        second = write_export(engine, profile, version, fmt, tmp_path / f"b.{fmt}", role="analyst")
        a, b = (tmp_path / f"a.{fmt}").read_bytes(), (tmp_path / f"b.{fmt}").read_bytes()
        assert a == b
        assert first.sha256 == second.sha256 == hashlib.sha256(a).hexdigest()
        manifest = ExportManifest.read(manifest_path(tmp_path / f"a.{fmt}"))
        assert (manifest.table, manifest.version, manifest.rows, manifest.format) == (profile, version, first.rows, fmt)
        assert "email_token" not in manifest.columns
    csv = pcsv.read_csv(tmp_path / "a.csv")
    assert csv.num_rows == pq.read_table(tmp_path / "a.parquet").num_rows


def test_an_export_of_a_name_with_no_such_tier_is_refused_with_400(
    client: TestClient, served: ServedLakeFixture
) -> None:
    """Found by the fuzz test: a name of the path's shape whose tier does not exist was a 500."""
    r = client.get("/v1/exports/a.a.a", headers=headers(served, "analyst"))
    assert r.status_code == 400 and "unknown tier 'a'" in r.json()["detail"], r.text
    # An unknown table of a known tier is named with the closest ones, never with the lake's path.
    r = client.get("/v1/exports/enhanced.customer.dim_custome", headers=headers(served, "analyst"))
    detail = r.json()["detail"]
    assert r.status_code == 400 and "did you mean enhanced.customer.dim_customer," in detail, r.text
    assert str(served.root) not in detail and "Delta log" not in detail


def test_exports_are_recorded_in_the_audit(client: TestClient, served: ServedLakeFixture) -> None:
    import pyarrow as pa
    from deltalake import QueryBuilder

    r = client.get(f"/v1/exports/{STATIONS}", params={"format": "csv"}, headers=headers(served, "analyst"))
    sha = r.headers["X-C360-SHA256"]
    client.app.state.audit.flush()  # type: ignore[attr-defined]
    dt = DeltaTable(str(served.root / "ops" / "serve" / "audit"))
    rows = pa.table(
        QueryBuilder().register("a", dt).execute(f"SELECT * FROM a WHERE export_sha256 = '{sha}'").read_all()
    ).to_pylist()
    assert rows and rows[-1]["export_table"] == STATIONS and rows[-1]["export_format"] == "csv"
    assert rows[-1]["role"] == "analyst" and rows[-1]["status"] == 200


def test_spark_views_by_name_current_or_pinned(spark: Any, served: ServedLakeFixture) -> None:
    from c360.sql import register_spark_views

    path = served.root.joinpath(*STATIONS.split("."))
    latest = DeltaTable(str(path)).version()
    read = register_spark_views(spark, served.root, versions={STATIONS: latest - 1}, role="analyst")  # type: ignore[arg-type]
    assert read[STATIONS] == latest - 1 and "enhanced.customer.customer360_profile" in read
    pinned = spark.sql(f"SELECT count(*) AS n FROM `{STATIONS}`").first()["n"]
    from c360.storage import DeltaStorage

    assert pinned == DeltaStorage(spark, served.root).read(STATIONS, version=latest - 1).count()
    columns = spark.table("`enhanced.customer.customer360_profile`").columns
    assert "email_token" not in columns and "customer_segment" in columns


def test_an_export_whose_files_an_erasure_deleted_says_retry(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The files of the version being exported deleted under the export (an erasure purges the
    files it replaced) was a 400 quoting the object store and the file's path; now the 503 of
    c360.sql.FilesGoneError, and no partial file is left."""
    import pyarrow as pa
    from deltalake import write_deltalake

    from c360.sql import FilesGoneError

    path = tmp_path / "enhanced" / "sales" / "dim_channel"
    write_deltalake(str(path), pa.table({"channel_key": list(range(100)), "channel": ["web"] * 100}))
    engine = SqlEngine(tmp_path, workers=1)
    pinned = engine._prepare

    def pin_then_purge(*args: Any, **kw: Any) -> Any:
        prepared = pinned(*args, **kw)
        for uri in DeltaTable(str(path)).file_uris():
            Path(uri.removeprefix("file://")).unlink()
        return prepared

    monkeypatch.setattr(engine, "_prepare", pin_then_purge)
    out = tmp_path / "exports" / "channels.csv"
    try:
        with pytest.raises(FilesGoneError, match="enhanced.sales.dim_channel version 0 were deleted .*retry"):
            write_export(engine, "enhanced.sales.dim_channel", 0, "csv", out)
    finally:
        engine.close()
    assert not out.parent.exists() or list(out.parent.iterdir()) == []


def test_export_to_stdout(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """`c360 export t --out -` wrote a file named '-' in the current folder; '-' is stdout now,
    with the manifest's figures on stderr (its hash is the hash of the bytes written)."""
    import pyarrow as pa
    from deltalake import write_deltalake
    from typer.testing import CliRunner

    from c360.cli import app
    from c360.cli.state import state
    from c360.settings import load_settings

    write_deltalake(str(tmp_path / "lake" / "enhanced" / "sales" / "dim_channel"),
                    pa.table({"channel_key": [1, 2], "channel": ["web", "store"]}))  # fmt: skip
    monkeypatch.chdir(tmp_path)
    state._settings = load_settings(lake_root=tmp_path / "lake")
    try:
        result = CliRunner().invoke(app, ["export", "enhanced.sales.dim_channel", "--out", "-", "--format", "csv"])
    finally:
        state._settings = None
    assert result.exit_code == 0, result.output
    assert result.stdout_bytes == b'"channel_key","channel"\n1,"web"\n2,"store"\n'
    assert f"sha256 {hashlib.sha256(result.stdout_bytes).hexdigest()} -> stdout" in result.stderr
    assert not (tmp_path / "-").exists()


def test_a_manifest_being_written_again_is_never_read_half_written(tmp_path: Path) -> None:
    """Two requests for the same export: the second finds the file and reads its manifest while
    the first writes it again. A plain write truncates first: 72% of such reads failed."""
    import threading

    from c360.serve.exports import ExportManifest

    manifest = ExportManifest("enhanced.d.t", 1, "csv", 3, 10, "ab" * 32, ["n"], [], "analyst", "t.csv")
    path = tmp_path / "t.csv.manifest.json"
    manifest.write(path)
    stop = threading.Event()

    def rewrite() -> None:
        while not stop.is_set():
            manifest.write(path)

    writer = threading.Thread(target=rewrite)
    writer.start()
    try:
        reads = [ExportManifest.read(path) for _ in range(3000)]
    finally:
        stop.set()
        writer.join()
    assert all(r == manifest for r in reads)
    assert [p.name for p in tmp_path.iterdir()] == [path.name]  # no partial file left


def test_an_export_runs_in_a_query_process_under_its_memory_bound(tmp_path: Path) -> None:
    """An export sorted the table (for a reproducible order) in the caller's process, a server's:
    3M rows of 79 MB took 393 MB more of the server's memory, kept after the export. It runs in
    a query process now: past its memory bound the export fails alone, and within it the file
    is the same."""
    import numpy as np
    import pyarrow as pa
    from deltalake import write_deltalake

    from c360.sql import SqlMemoryError

    n = 2_000_000
    rows = np.random.default_rng(7).permutation(n)
    write_deltalake(str(tmp_path / "enhanced/d/t"), pa.table({"k": rows, "x": rows * 0.5, "y": rows % 97}))
    small = SqlEngine(tmp_path, workers=1, memory_bytes=250 * 1024 * 1024)
    try:
        with pytest.raises(SqlMemoryError, match="more than the 250 MiB"):
            write_export(small, "enhanced.d.t", 0, "parquet", tmp_path / "out" / "small.parquet")
    finally:
        small.close()
    assert list((tmp_path / "out").iterdir()) == []  # no partial file
    roomy = SqlEngine(tmp_path, workers=1)
    try:
        manifest = write_export(roomy, "enhanced.d.t", 0, "parquet", tmp_path / "out" / "t.parquet")
    finally:
        roomy.close()
    import pyarrow.parquet as pq

    written = pq.read_table(tmp_path / "out" / "t.parquet")
    assert manifest.rows == n and written.column("k").to_pylist() == list(range(n))  # ordered by its key
