"""The SQL engine: read-only, one SELECT, names resolved, access first, limits; unit tests on a
tiny delta-rs lake (no Spark) and the 400s of POST /v1/sql on the published lake."""

from __future__ import annotations

import itertools
import os
import re
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import pyarrow as pa
import pytest
from deltalake import write_deltalake
from fastapi.testclient import TestClient

from c360.access import AccessDenied
from c360.settings import Settings
from c360.sql import SqlEngine, SqlError, SqlMemoryError, SqlTimeoutError, check_sql
from tests.serve.conftest import ServedLakeFixture, headers

PROFILE = "enhanced.customer.customer360_profile"
FORBIDDEN = [
    "INSERT INTO enhanced.customer.customer360_profile SELECT * FROM enhanced.customer.customer360_profile",
    "UPDATE enhanced.customer.dim_customer SET city = 'x'",
    "DELETE FROM enhanced.customer.dim_customer",
    "DROP TABLE enhanced.customer.dim_customer",
    "CREATE TABLE t AS SELECT 1",
    "CREATE VIEW v AS SELECT 1",
    "CREATE EXTERNAL TABLE e STORED AS CSV LOCATION '/etc/passwd'",
    "ALTER TABLE enhanced.customer.dim_customer ADD COLUMN x INT",
    "TRUNCATE TABLE enhanced.customer.dim_customer",
    "COPY (SELECT 1) TO '/tmp/c360-copy.csv'",
    "SET datafusion.execution.batch_size = 1",
    "SELECT 1; SELECT 2",
    "SELECT 1; DROP TABLE enhanced.customer.dim_customer",
    "EXPLAIN SELECT 1",
    "SHOW TABLES",
    "DESCRIBE enhanced.customer.dim_customer",
    "SELECT * FROM read_csv('/etc/passwd')",
    "SELECT * FROM read_parquet('https://example.com/x.parquet')",
    "SELECT * FROM '/etc/passwd'",
    "WITH x AS (SELECT 1) INSERT INTO enhanced.customer.dim_customer SELECT * FROM x",
    "MERGE INTO enhanced.customer.dim_customer USING x ON TRUE WHEN MATCHED THEN DELETE",
    "PREPARE p AS SELECT 1",
    "",
]


@pytest.fixture
def lake(tmp_path: Path) -> Path:
    schema = pa.schema(
        [
            pa.field("id", pa.string(), metadata={"comment": "id", "c360.tags": "subject"}),
            pa.field("email_token", pa.string(), metadata={"comment": "token", "c360.tags": "pii"}),
            pa.field("n", pa.int64(), metadata={"comment": "a number"}),
        ]
    )
    path = tmp_path / "enhanced" / "d" / "t"
    write_deltalake(
        str(path), pa.table({"id": ["a", "b", "c"], "email_token": ["t1", "t2", None], "n": [1, 2, 3]}, schema=schema)
    )
    write_deltalake(str(path), pa.table({"id": ["d"], "email_token": ["t4"], "n": [4]}, schema=schema), mode="append")
    write_deltalake(
        str(tmp_path / "vault" / "pii" / "values"),
        pa.table({"token": ["t1", "t2", "t4"], "value": ["a@x.org", "b@x.org", "d@x.org"]}),
    )
    return tmp_path


@pytest.mark.parametrize("sql", FORBIDDEN)
def test_forbidden_statements_are_refused_before_datafusion(sql: str) -> None:
    with pytest.raises(SqlError):
        check_sql(sql)


def test_names_views_order_limit_and_versions(lake: Path) -> None:
    engine = SqlEngine(lake)
    r = engine.query("SELECT id, n FROM enhanced.d.t ORDER BY n DESC", limit=3)
    assert r.table.to_pylist() == [{"id": "d", "n": 4}, {"id": "c", "n": 3}, {"id": "b", "n": 2}]
    assert r.truncated and r.versions == {"enhanced.d.t": 1}
    old = engine.query(
        'WITH q AS (SELECT n FROM "enhanced.d.t") SELECT sum(n) AS s FROM q', versions={"enhanced.d.t": 0}
    )
    assert old.table.to_pylist() == [{"s": 6}] and old.versions == {"enhanced.d.t": 0} and not old.truncated
    joined = engine.query("SELECT a.id FROM enhanced.d.t a JOIN enhanced.d.t b ON a.id = b.id WHERE a.n = 1")
    assert joined.table.to_pylist() == [{"id": "a"}]


def test_access_is_applied_before_the_query(lake: Path) -> None:
    engine = SqlEngine(lake)
    assert engine.query("SELECT * FROM enhanced.d.t", role="analyst").table.column_names == ["id", "n"]
    with pytest.raises(AccessDenied, match="email_token"):
        engine.query("SELECT email_token FROM enhanced.d.t", role="analyst")
    with pytest.raises(AccessDenied, match="email_token"):
        engine.query("SELECT count(*) FROM enhanced.d.t WHERE email_token = 't1'", role="analyst")
    clear = engine.query("SELECT id, email FROM enhanced.d.t ORDER BY id", role="steward")
    assert clear.table.to_pylist() == [
        {"id": "a", "email": "a@x.org"}, {"id": "b", "email": "b@x.org"},
        {"id": "c", "email": None}, {"id": "d", "email": "d@x.org"},
    ]  # fmt: skip
    assert clear.versions == {"enhanced.d.t": 1, "vault.pii.values": 0}
    with pytest.raises(AccessDenied, match="never served"):
        engine.query("SELECT * FROM vault.pii.values", role="steward")
    with pytest.raises(AccessDenied):
        engine.query("SELECT * FROM enhanced.d.t", role="application")


def test_unknown_names_and_bad_values_are_user_errors(lake: Path) -> None:
    engine = SqlEngine(lake)
    with pytest.raises(SqlError, match="did you mean enhanced.d.t"):
        engine.query("SELECT * FROM enhanced.d.tt")
    with pytest.raises(SqlError, match="nope"):
        engine.query("SELECT nope FROM enhanced.d.t")
    with pytest.raises(SqlError, match=r"unknown table 'somewhere' \(1 tables.*\)\. Name a published table as"):
        engine.query("SELECT * FROM somewhere")
    # A table's last part alone is not its name: the answer names the table.
    with pytest.raises(SqlError, match=r"unknown table 't'; did you mean enhanced\.d\.t\? Name a published"):
        engine.query("SELECT count(*) FROM t")
    with pytest.raises(SqlError):
        engine.query("SELECT n / 0 FROM enhanced.d.t")
    with pytest.raises(SqlError, match="reserved"):
        engine.query("SELECT * FROM __c360_abc_0")
    # Two columns of one name: JSON rows and `c360 sql`'s table lost or shifted one of them.
    for twice in ("SELECT a.id, b.id, a.n FROM enhanced.d.t a JOIN enhanced.d.t b ON a.n = b.n",
                  "SELECT * FROM enhanced.d.t a JOIN enhanced.d.t b ON a.n = b.n"):  # fmt: skip
        with pytest.raises(SqlError, match=r"more than one column named id \(2 times\).*give each a name"):
            engine.query(twice)
    apart = engine.query("SELECT a.id, b.id AS other_id FROM enhanced.d.t a JOIN enhanced.d.t b ON a.n = b.n")
    assert apart.table.column_names == ["id", "other_id"]


# A nested-loop join of 10^12 pairs (no equality to hash on): hours of work on any machine.
ENDLESS = (
    "SELECT count(*) AS n FROM generate_series(1, 10000000) a, generate_series(1, 100000) b "
    "WHERE (a.value * b.value) % 1000003 = 1"
)


def test_a_query_past_its_timeout_is_stopped_and_the_engine_answers_the_next(lake: Path) -> None:
    engine = SqlEngine(lake, workers=1)
    try:
        assert engine.query("SELECT count(*) AS n FROM enhanced.d.t").table.to_pylist() == [{"n": 4}]
        (process,) = engine._processes.processes()  # the one query process, kept for the next query
        with pytest.raises(SqlTimeoutError, match="longer than its timeout of 1 s, and was stopped"):
            engine.query(ENDLESS, timeout=1)
        assert process.process.poll() is not None, "the timed-out query's process still runs"
        assert engine.query("SELECT n FROM enhanced.d.t ORDER BY n").table.column("n").to_pylist() == [1, 2, 3, 4]
        (after,) = engine._processes.processes()
        assert after.process.pid != process.process.pid
    finally:
        engine.close()


def test_a_query_past_its_memory_is_stopped_and_the_engine_answers_the_next(lake: Path) -> None:
    """A query's memory had no bound but the machine's: the kernel's out-of-memory killer then
    chose the process to end, and the largest is the server's or a Spark JVM. This one sorts
    1.5 GB of rows; its process is stopped past 400 MiB, and only the query fails."""
    engine = SqlEngine(lake, workers=1, memory_bytes=400 * 1024 * 1024)
    try:
        assert engine.query("SELECT count(*) AS n FROM enhanced.d.t").table.to_pylist() == [{"n": 4}]
        (process,) = engine._processes.processes()
        hungry = (
            "SELECT value, repeat(CAST(value AS VARCHAR), 10000) AS pad FROM generate_series(1, 150000) ORDER BY pad"
        )
        with pytest.raises(SqlMemoryError, match="more than the 400 MiB of memory a query may use .C360_SQL_MEMORY_MB"):
            engine.query(hungry, timeout=120)
        assert process.process.poll() is not None, "the query's process still runs"
        assert engine.query("SELECT n FROM enhanced.d.t ORDER BY n").table.column("n").to_pylist() == [1, 2, 3, 4]
    finally:
        engine.close()


def test_a_query_process_that_ended_between_queries_is_replaced(lake: Path) -> None:
    engine = SqlEngine(lake, workers=1)
    try:
        engine.query("SELECT 1 AS one")
        (process,) = engine._processes.processes()
        process.process.kill()
        process.process.wait()
        assert engine.query("SELECT 1 AS one").table.to_pylist() == [{"one": 1}]
        (after,) = engine._processes.processes()
        assert after.process.pid != process.process.pid
    finally:
        engine.close()


def test_an_interrupt_ends_a_query_process_quietly(lake: Path, capfd: pytest.CaptureFixture[str]) -> None:
    """A notebook's kernel shutting down (or interrupted, or Ctrl-C) signals its process group;
    the idle query process printed a KeyboardInterrupt traceback into the notebook's output."""
    engine = SqlEngine(lake, workers=1)
    try:
        engine.query("SELECT 1 AS one")
        (process,) = engine._processes.processes()
        os.kill(process.process.pid, signal.SIGINT)
        assert process.process.wait(timeout=30) == -signal.SIGINT
        assert "Traceback" not in capfd.readouterr().err
        assert engine.query("SELECT 1 AS one").table.to_pylist() == [{"one": 1}]
        (process,) = engine._processes.processes()
        threading.Timer(1.0, os.kill, (process.process.pid, signal.SIGINT)).start()
        with pytest.raises(SqlError, match=r"^the query was interrupted \(SIGINT\), and stopped$"):
            engine.query(ENDLESS, timeout=60)  # interrupted while it runs
        assert "Traceback" not in capfd.readouterr().err
    finally:
        engine.close()


def test_query_processes_interrupted_as_they_start_say_so(
    lake: Path, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    """A Ctrl-C as `c360 serve` started (its query processes share its process group) logged
    "did not start ... its error is above" with a traceback, and no error above."""
    import c360.sql
    from c360.serve.app import create_app

    real = subprocess.Popen
    dies = "import os, signal; signal.signal(signal.SIGINT, signal.SIG_DFL); os.kill(os.getpid(), signal.SIGINT)"

    def interrupted(args: list[str], **kwargs: object) -> subprocess.Popen:
        return real([args[0], "-c", dies], **kwargs)  # type: ignore[call-overload]

    monkeypatch.setattr(c360.sql.subprocess, "Popen", interrupted)
    engine = SqlEngine(lake, workers=2)
    try:
        with pytest.raises(c360.sql.SqlInterruptedError, match=r"interrupted \(SIGINT\) as it started"):
            engine.start_processes()
    finally:
        engine.close()
    with caplog.at_level("WARNING"), TestClient(create_app(Settings(lake_root=lake), block_until_loaded=True)):
        pass
    started = [r for r in caplog.records if "query process" in r.getMessage()]
    assert [(r.levelname, r.exc_info) for r in started] == [("WARNING", None)]
    assert "interrupted (SIGINT) as it started" in started[0].getMessage()


def test_a_query_process_whose_engine_is_gone_ends_quietly() -> None:
    """`c360 serve --workers 2` and a Ctrl-C as it started: the worker ended before its query
    processes said they were ready, and each printed a BrokenPipeError traceback."""
    import socket

    ours, theirs = socket.socketpair()
    ours.close()  # the engine's end, gone before the process is ready
    main = "import sys; from c360.sql import serve_queries; serve_queries(int(sys.argv[1]))"
    process = subprocess.Popen(
        [sys.executable, "-c", main, str(theirs.fileno())],
        pass_fds=[theirs.fileno()],
        stderr=subprocess.PIPE,
        text=True,
    )
    theirs.close()
    _, err = process.communicate(timeout=60)
    assert process.returncode == 0 and "Traceback" not in err, err


def test_a_query_that_aborts_datafusion_does_not_end_the_callers_process(lake: Path) -> None:
    """2.5 GB of one string column overflows Arrow's 32-bit offsets, and DataFusion aborts its
    process: once the caller's (a server's), now the query's own."""
    engine = SqlEngine(lake, workers=1, memory_bytes=1 << 40)  # the abort, not the memory bound, stops it
    try:
        with pytest.raises(SqlError, match="ended before it answered \\(killed by SIGABRT\\)"):
            engine.query("SELECT repeat('x', 100000000) AS big FROM generate_series(1, 25)")
        assert engine.query("SELECT 1 AS one").table.to_pylist() == [{"one": 1}]
    finally:
        engine.close()


def test_processes_started_ahead_answer_the_first_queries(lake: Path) -> None:
    engine = SqlEngine(lake, workers=2)
    try:
        engine.start_processes()
        ahead = sorted(p.process.pid for p in engine._processes.processes())
        assert len(ahead) == 2
        engine.query("SELECT 1 AS one")
        assert sorted(p.process.pid for p in engine._processes.processes()) == ahead
    finally:
        engine.close()


def test_a_process_that_cannot_start_is_the_start_s_error_and_the_others_stop_waiting(
    lake: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import c360.sql

    real = c360.sql._QueryProcess
    calls = itertools.count()

    def second_fails(memory_bytes: int) -> object:
        if next(calls) > 0:  # the count is atomic: exactly one start succeeds
            raise SqlError("the SQL engine's query process did not start (exit code 1; its error is above)")
        return real(memory_bytes)

    monkeypatch.setattr(c360.sql, "_QueryProcess", second_fails)
    engine = SqlEngine(lake, workers=2)
    try:
        with pytest.raises(SqlError, match="did not all start: the SQL engine's query process did not start"):
            engine.start_processes()  # the started one's thread stops waiting for the other's
        assert engine.processes_running() == 1  # the one that started runs; the other thread retries at its query
    finally:
        engine.close()


def test_a_c360_folder_in_the_working_directory_is_not_the_query_processes_c360(
    lake: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """``python -c`` puts the working directory first on ``sys.path``: started from another
    checkout (or any folder holding a ``c360`` package), the query processes imported that code."""
    other = tmp_path / "elsewhere"
    (other / "c360").mkdir(parents=True)
    (other / "c360" / "__init__.py").write_text("raise ImportError('the c360 of the working directory')\n")
    monkeypatch.chdir(other)
    engine = SqlEngine(lake)
    try:
        assert engine.query("SELECT count(*) AS n FROM enhanced.d.t").table.to_pylist() == [{"n": 4}]
    finally:
        engine.close()


def test_closing_the_engine_ends_its_query_processes(lake: Path) -> None:
    engine = SqlEngine(lake, workers=2)
    engine.query("SELECT 1 AS one")
    (process,) = engine._processes.processes()
    engine.close()
    assert process.process.poll() is not None
    with pytest.raises(SqlError, match="closed"):
        engine.query("SELECT 1 AS one")


def test_c360_sql_ends_at_its_timeout(lake: Path) -> None:
    """The CLI used to print the timeout, then wait for the query's thread before it could exit."""
    env = {**os.environ, "C360_LAKE_ROOT": str(lake)}
    try:
        done = subprocess.run(
            [str(Path(sys.executable).with_name("c360")), "sql", "--timeout", "1", ENDLESS],
            capture_output=True,
            text=True,
            env=env,
            timeout=120,
        )
    except subprocess.TimeoutExpired:
        pytest.fail("c360 sql was still running 120 s after a query with a timeout of 1 s")
    assert done.returncode != 0
    assert "longer than its timeout of 1 s" in done.stderr + done.stdout


def test_ctrl_c_stops_c360_sql_and_says_so(lake: Path) -> None:
    """Ctrl-C signals the terminal's process group: the CLI and its query process. Typer turns
    the KeyboardInterrupt into exit code 130 without a word; the CLI now says it was interrupted."""
    env = {**os.environ, "C360_LAKE_ROOT": str(lake)}
    cli = subprocess.Popen(
        [str(Path(sys.executable).with_name("c360")), "sql", "--timeout", "120", ENDLESS],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=env,
        start_new_session=True,
    )
    try:
        deadline = time.monotonic() + 60
        while not subprocess.run(["pgrep", "-P", str(cli.pid), "-f", "serve_queries"], capture_output=True).stdout:
            assert time.monotonic() < deadline and cli.poll() is None, "the query never started"
            time.sleep(0.1)
        time.sleep(1.0)  # past the interpreter's own start, where SIGINT is Python's to answer
        os.killpg(cli.pid, signal.SIGINT)
        out, err = cli.communicate(timeout=60)
    finally:
        if cli.poll() is None:
            os.killpg(cli.pid, signal.SIGKILL)
            cli.wait()
    assert cli.returncode == 130
    assert "interrupted" in err and "Traceback" not in err + out


@pytest.mark.slow
def test_api_refuses_forbidden_sql_with_400(client: TestClient, served: ServedLakeFixture) -> None:
    h = headers(served, "analyst")
    statements = [s for s in FORBIDDEN if s]
    assert len(statements) >= 20
    for sql in statements:
        r = client.post("/v1/sql", json={"sql": sql}, headers=h)
        assert r.status_code == 400, (sql, r.status_code, r.text)
        assert r.json()["detail"]
    assert not Path("/tmp/c360-copy.csv").exists()
    # Within the 20,000-character limit but past sqlparse's own bounds (10,000 tokens in a
    # group, groups 100 deep): refused as unchecked, where the parser's error was a 500.
    for sql, reason in [
        ("SELECT " + "+".join(["1"] * 9000) + " AS x", "Maximum number of tokens exceeded (10000)"),
        ("SELECT " + "(" * 101 + "1" + ")" * 101 + " AS x", "Maximum grouping depth exceeded (100)"),
    ]:
        r = client.post("/v1/sql", json={"sql": sql}, headers=h)
        assert (r.status_code, r.json()) == (
            400,
            {"detail": f"the query is too large or too deeply nested to check ({reason}): simplify it"},
        )
    r = client.post("/v1/sql", json={"sql": "SELECT " + "(" * 40 + "1" + ")" * 40 + " AS x"}, headers=h)
    assert r.status_code == 200 and r.json()["rows"] == [{"x": 1}]  # nesting within the bounds still runs
    r = client.post("/v1/sql", json={"sql": "SELECT " + "(" * 99 + "1" + ")" * 99 + " AS x"}, headers=h)
    assert (r.status_code, r.json()) == (400, {"detail": "SQL error: RecursionLimitExceeded (current limit: 50)"})


@pytest.mark.slow
def test_api_unknown_table_or_column_is_400(client: TestClient, served: ServedLakeFixture) -> None:
    h = headers(served, "analyst")
    r = client.post("/v1/sql", json={"sql": "SELECT * FROM enhanced.customer.customer360_profil"}, headers=h)
    assert r.status_code == 400 and "customer360_profile" in r.json()["detail"]
    r = client.post("/v1/sql", json={"sql": "SELECT no_such FROM enhanced.customer.customer360_profile"}, headers=h)
    assert r.status_code == 400 and "no_such" in r.json()["detail"]
    r = client.post("/v1/sql", json={"sql": "SELECT * FROM no_table"}, headers=h)
    assert r.status_code == 400
    ok = client.post(
        "/v1/sql",
        json={"sql": f"SELECT customer_segment, avg(predicted_clv_12m) AS clv FROM {PROFILE} GROUP BY 1 ORDER BY 1",
              "limit": 2},
        headers=h,
    ).json()  # fmt: skip
    assert ok["row_count"] == 2 and ok["truncated"] is True
    assert list(ok["versions"]) == ["enhanced.customer.customer360_profile"]


def test_csv_of_lists_maps_and_structs_is_written_the_way_exports_write_it(tmp_path: Path) -> None:
    """`c360 sql -f csv` over a table with a list column (fct_aqi_daily's dominant_pollutant)
    failed with Arrow's "Unsupported Type: list<string_view>"; CSV has no nested values, so
    every CSV c360 writes renders them one way: list items joined by '|', other values as JSON
    (a map as an object). `c360 table show` printed lists as JSON arrays: now the same."""
    import io

    import pyarrow.csv as pcsv
    from typer.testing import CliRunner

    from c360.cli import app
    from c360.cli.state import state
    from c360.settings import load_settings
    from c360.sql import write_result

    rows = pa.table(
        {
            "k": [1, 2],
            "tags": [["a", "b"], []],
            "s": [{"x": 1}, {"x": 2}],
            "m": pa.array([[("m", 1)], [("m", 2)]], pa.map_(pa.string(), pa.int64())),
            "nothing": pa.array([None, None], pa.list_(pa.int32())),
        }
    )
    write_deltalake(str(tmp_path / "enhanced" / "d" / "t"), rows)
    engine = SqlEngine(tmp_path, workers=1)
    try:
        result = engine.query(
            "SELECT k, tags, named_struct('x', k) AS s, map(['m'], [k]) AS m, "
            "CAST(NULL AS INT[]) AS nothing FROM enhanced.d.t ORDER BY k"
        )
    finally:
        engine.close()
    sink = io.BytesIO()
    write_result(result.table, "csv", sink)
    expected = [
        {"k": 1, "tags": "a|b", "s": '{"x": 1}', "m": '{"m": 1}', "nothing": None},
        {"k": 2, "tags": None, "s": '{"x": 2}', "m": '{"m": 2}', "nothing": None},
    ]
    as_nulls = pcsv.ConvertOptions(strings_can_be_null=True)
    assert pcsv.read_csv(io.BytesIO(sink.getvalue()), convert_options=as_nulls).to_pylist() == expected

    state._settings = load_settings(lake_root=tmp_path)
    try:
        shown = CliRunner().invoke(app, ["table", "show", "enhanced.d.t", "--format", "csv"])
    finally:
        state._settings = None
    assert shown.exit_code == 0, shown.output
    shown_rows = pcsv.read_csv(io.BytesIO(shown.stdout_bytes), convert_options=as_nulls).to_pylist()
    assert sorted(shown_rows, key=lambda r: r["k"]) == expected
    shown_lines, sql_lines = shown.stdout_bytes.splitlines(), sink.getvalue().splitlines()
    assert shown_lines[0] == sql_lines[0] and sorted(shown_lines) == sorted(sql_lines), "one CSV for both doors"

    # a list of structs, lists or maps is JSON text (casting its items to text failed in Arrow)
    deep = pa.table({"l": [[{"a": 1}]], "ll": [[[1, 2], [3]]]})
    sink = io.BytesIO()
    write_result(deep, "csv", sink)
    assert sink.getvalue().decode().splitlines()[1] == '"[{""a"": 1}]","[[1, 2], [3]]"'

    # a map that repeats a key keeps every value, as [key, value] pairs
    repeated = pa.table({"m": pa.array([[("a", 1), ("a", 2)]], pa.map_(pa.string(), pa.int64()))})
    sink = io.BytesIO()
    write_result(repeated, "csv", sink)
    assert sink.getvalue().decode().splitlines()[1] == '"[[""a"", 1], [""a"", 2]]"'


def test_json_rows_are_encoded_the_same_by_every_door(client: TestClient, served: ServedLakeFixture) -> None:
    """`c360 sql -f json` wrote times as Python's str ('2019-11-27 20:38:17+00:00'), `c360 table
    show -f json` as isoformat ('...+00:00'), the API as pydantic does ('...Z'), and maps as
    lists of pairs: one encoding now (c360.sql.json_records)."""
    import io
    import json

    from typer.testing import CliRunner

    from c360.cli import app
    from c360.cli.state import state
    from c360.sql import write_result

    sql = (
        "SELECT p.customer_id, p.as_of_date, p.total_spent, c.registration_date, "
        "map(['n'], [p.orders_count]) AS m, CAST('NaN' AS DOUBLE) AS nan, [p.rfm_segment] AS l "
        "FROM enhanced.customer.customer360_profile p JOIN enhanced.customer.dim_customer c "
        "ON p.customer_id = c.customer_id AND c.is_current ORDER BY p.customer_id, p.as_of_date LIMIT 5"
    )
    answer = client.post("/v1/sql", json={"sql": sql}, headers=headers(served, "analyst"))
    assert answer.status_code == 200, answer.text
    api = answer.json()["rows"]
    engine = SqlEngine(served.root, workers=1)
    try:
        result = engine.query(sql, role="analyst")
    finally:
        engine.close()
    sink = io.BytesIO()
    write_result(result.table, "json", sink)
    assert json.loads(sink.getvalue()) == api
    first = api[0]
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d+)?Z", first["registration_date"]), first
    assert re.fullmatch(r"\d{4}-\d\d-\d\d", first["as_of_date"]) and re.fullmatch(r"\d+\.\d\d", first["total_spent"])
    assert first["m"] == {"n": first["m"]["n"]} and first["nan"] is None and isinstance(first["l"], list)

    state._settings = served.settings
    try:
        shown = CliRunner().invoke(app, ["table", "show", "enhanced.customer.dim_customer", "--format", "json"])
    finally:
        state._settings = None
    assert shown.exit_code == 0, shown.output
    records = [json.loads(line) for line in shown.stdout.splitlines()]
    by_id = {r["customer_id"]: r for r in records}
    for row in api:
        if row["customer_id"] in by_id:
            assert by_id[row["customer_id"]]["registration_date"] == row["registration_date"]
    assert all(re.fullmatch(r"\S+T\S+Z", r["registration_date"]) for r in records if r["registration_date"])


def test_a_query_whose_files_an_erasure_deleted_reads_the_new_version_or_says_retry(tmp_path: Path) -> None:
    """An erasure purges the files it replaced at once; a server still on the version before
    (until its next poll) answered 400 with the object store's message and the file's path.
    Now the query runs once more on the latest versions (and the server reloads at once); if
    those files are gone too, the error says to retry, without paths (a 503 from the API)."""
    from deltalake import DeltaTable

    from c360.access import create_key
    from c360.serve import create_app
    from c360.settings import load_settings
    from c360.sql import FilesGoneError, Snapshot

    name = "enhanced.sales.dim_channel"
    path = tmp_path / "enhanced" / "sales" / "dim_channel"
    write_deltalake(str(path), pa.table({"channel_key": [1, 2], "channel": ["web", "store"]}))
    before = Snapshot.load(tmp_path, [name])

    def purge(version: int) -> None:
        for uri in DeltaTable(str(path), version=version).file_uris():
            Path(uri.removeprefix("file://")).unlink()

    write_deltalake(str(path), pa.table({"channel_key": [1], "channel": ["web"]}), mode="overwrite")  # the rewrite
    purge(0)
    reloads: list[int] = []
    engine = SqlEngine(tmp_path, snapshot_source=lambda: before, on_stale=lambda: reloads.append(1), workers=1)
    try:
        result = engine.query(f"SELECT channel FROM {name}")
        assert result.table.column("channel").to_pylist() == ["web"]
        assert result.versions == {name: 1} and reloads == [1]
        purge(1)  # the latest version's own files gone too: nothing to read, so say retry
        with pytest.raises(FilesGoneError) as caught:
            engine.query(f"SELECT channel FROM {name}")
    finally:
        engine.close()
    assert str(caught.value) == (
        f"the files of {name} version 1 were deleted while the query read them (an erasure or a vacuum "
        "replaced them); retry the request"
    )

    key, _ = create_key(tmp_path, "analyst")
    settings = load_settings(lake_root=tmp_path).model_copy(update={"serve_sql_processes": 1})
    with TestClient(create_app(settings, block_until_loaded=True)) as client:
        answer = client.post("/v1/sql", json={"sql": f"SELECT channel FROM {name}"}, headers={"X-API-Key": key})
    assert answer.status_code == 503 and answer.headers["retry-after"] == "1"
    assert str(tmp_path) not in answer.text and "retry the request" in answer.json()["detail"]


def test_a_version_pinned_for_a_table_the_lake_lacks_is_refused_not_ignored(tmp_path: Path) -> None:
    """`c360 sql q --at enhanced.sales.fct_ordr=0` read the latest fct_order, the typo ignored."""
    orders = tmp_path / "enhanced" / "sales" / "fct_order"
    write_deltalake(str(orders), pa.table({"k": [1]}))
    write_deltalake(str(orders), pa.table({"k": [2]}), mode="append")
    write_deltalake(str(tmp_path / "enhanced" / "sales" / "dim_channel"), pa.table({"c": [1]}))
    engine = SqlEngine(tmp_path, workers=1)
    query = "SELECT count(*) AS n FROM enhanced.sales.fct_order"
    try:
        with pytest.raises(SqlError) as caught:
            engine.query(query, versions={"enhanced.sales.fct_ordr": 0})
        assert str(caught.value).startswith(
            "cannot pin a version of enhanced.sales.fct_ordr: unknown table 'enhanced.sales.fct_ordr'; "
            "did you mean enhanced.sales.fct_order"
        )
        with pytest.raises(SqlError, match="cannot pin a version of 'Enhanced.sales.fct_order'"):
            engine.query(query, versions={"Enhanced.sales.fct_order": 0})
        # a table the query does not read may be pinned: one map of versions serves several queries
        pinned = engine.query(query, versions={"enhanced.sales.fct_order": 0, "enhanced.sales.dim_channel": 0})
        assert pinned.table.column("n").to_pylist() == [1] and pinned.versions == {"enhanced.sales.fct_order": 0}
    finally:
        engine.close()
