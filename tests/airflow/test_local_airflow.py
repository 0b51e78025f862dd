"""``make airflow`` and the Airflow CLI: any port works, one Ctrl-C stops everything, and the
CLI parses the DAGs with the settings ``make airflow-env`` prints.

These run real ``make`` and ``airflow`` processes; none starts Spark.
"""

from __future__ import annotations

import io
import json
import os
import shutil
import signal
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import psutil
import pytest

from c360.airflow_supervisor import LocalAirflow, Supervisor
from c360.ports import free_port

from .conftest import AIRFLOW_HOME, DAGS, REPO

BIN = Path(sys.executable).parent
MAKE = shutil.which("make")
needs_make = pytest.mark.skipif(MAKE is None, reason="make is not installed")


def _clean_env(**extra: str) -> dict[str, str]:
    """The user's shell: none of this test session's Airflow settings, no outer make's flags."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("AIRFLOW", "MAKE", "MFLAGS"))}
    return env | extra


def _make(target: str, *variables: str) -> list[str]:
    # BIN: this interpreter's folder; STAMP empty: do not (re)build .venv from the lock file here
    return [str(MAKE), "-s", target, f"BIN={BIN}", "STAMP=", *variables]


def _last_json_line(output: str) -> object:
    """Airflow logs to stdout too; the CLI's ``-o json`` answer is the last line."""
    return json.loads(output.strip().splitlines()[-1])


def test_every_url_comes_from_the_port() -> None:
    local = LocalAirflow(home=Path("/h"), port=18088, host="0.0.0.0")
    assert local.execution_api_url == "http://localhost:18088/execution/"
    assert local.settings()["AIRFLOW__API__BASE_URL"] == "http://localhost:18088"
    assert LocalAirflow(home=Path("/h"), port=9000, host="airflow.internal").execution_api_url == (
        "http://airflow.internal:9000/execution/"
    )
    with pytest.raises(ValueError, match="AIRFLOW_PORT must be a TCP port"):
        LocalAirflow(home=Path("/h"), port=0)


FAKE_COMPONENT = """
import signal, subprocess, sys, time

# a worker that ignores SIGINT, like the scheduler's LocalExecutor workers
IGNORE = "import signal, time; signal.signal(signal.SIGINT, signal.SIG_IGN); time.sleep(600)"
subprocess.Popen([sys.executable, "-c", IGNORE])
# a grandchild in a session of its own, like a BashOperator's spark-submit
subprocess.Popen([sys.executable, "-c", "import time; time.sleep(600)"], start_new_session=True)
signal.signal(signal.SIGINT, lambda *_: sys.exit(0))  # the component itself exits, leaving them behind
print(sys.argv[1], "up", flush=True)
time.sleep(600)
"""


def test_the_supervisor_leaves_nothing_behind_not_even_what_ignores_sigint_or_left_the_group(tmp_path: Path) -> None:
    """The stop escalation on stand-ins for the components: no Airflow needed, seconds to run."""
    fake = tmp_path / "airflow"
    fake.write_text(f"#!{sys.executable}\n{FAKE_COMPONENT}")
    fake.chmod(0o755)
    out = io.StringIO()
    supervisor = Supervisor(str(fake), os.environ, components=("one", "two"), grace=1.0, kill_after=1.0, out=out)
    # A sibling the supervisor did not start (as Spark's JVM is in the suite): it must survive.
    bystander = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(120)"])
    supervisor.start()
    family: list[psutil.Process] = []
    try:
        deadline = time.monotonic() + 30
        # Only the components' own family: this pytest process has other children (Spark's JVM).
        while len(supervisor.descendants()) < 6 or out.getvalue().count(" up") < 2:
            assert time.monotonic() < deadline, out.getvalue()
            time.sleep(0.2)
        family = supervisor.descendants()
        supervisor._on_signal(signal.SIGINT, None)  # what the handler does when Ctrl-C arrives
        assert supervisor.wait() == 0
        assert _alive(family) == []
        log = out.getvalue()
        assert "stopping: SIGINT to every component" in log
        assert "still running after 1 s, terminating" in log and "every component stopped" in log
        assert bystander.poll() is None
    finally:
        for proc in _alive(family or supervisor.descendants()):
            proc.kill()
        bystander.kill()
        bystander.wait()


@needs_make
def test_make_airflow_settings_give_airflow_the_execution_api_url_of_a_non_default_port(tmp_path: Path) -> None:
    """What ``make airflow`` runs with, read back through Airflow's own configuration."""
    probe = (
        "import json, os; from airflow.configuration import conf; "
        "from airflow.executors.base_executor import get_execution_api_server_url as url; "
        "print(json.dumps({'execution': url(), 'port': conf.get('api', 'port'), "
        "'base_url': conf.get('api', 'base_url'), 'dags': conf.get('core', 'dags_folder'), "
        "'home': os.environ['AIRFLOW_HOME'], 'path': os.environ['PYTHONPATH']}))"
    )
    make = " ".join(_make("airflow-env", "AIRFLOW_PORT=18088", f"AIRFLOW_HOME_DIR={tmp_path}"))
    shell = f'eval "$({make})" && exec python -c "{probe}"'
    done = subprocess.run(
        ["bash", "-c", shell], cwd=REPO, env=_clean_env(), capture_output=True, text=True, timeout=120
    )
    assert done.returncode == 0, done.stderr
    seen = _last_json_line(done.stdout)
    assert isinstance(seen, dict)
    # the DAGs folder goes first on PYTHONPATH; what the shell had stays after it
    assert seen.pop("path").split(os.pathsep)[0] == str(DAGS)
    assert seen == {
        "execution": "http://localhost:18088/execution/",
        "port": "18088",
        "base_url": "http://localhost:18088",
        "dags": str(DAGS),
        "home": str(tmp_path),
    }


def _session(sid: int) -> list[psutil.Process]:
    """Live processes of a session (the launcher's and its components' groups are all in it)."""
    out = []
    for proc in psutil.process_iter():
        try:
            if os.getsid(proc.pid) == sid and proc.status() != psutil.STATUS_ZOMBIE:
                out.append(proc)
        except (OSError, psutil.Error):
            continue
    return out


def _commands(procs: list[psutil.Process]) -> str:
    out = []
    for proc in procs:
        try:
            out.append(" ".join(proc.cmdline()))
        except psutil.Error:
            continue
    return "\n".join(out)


def _alive(procs: list[psutil.Process]) -> list[psutil.Process]:
    alive = []
    for proc in procs:
        try:
            if proc.is_running() and proc.status() != psutil.STATUS_ZOMBIE:
                alive.append(proc)
        except psutil.Error:
            continue
    return alive


PROBE_DAG = """
from datetime import datetime

from airflow.providers.standard.operators.bash import BashOperator
from airflow.sdk import DAG

with DAG("reach_execution_api", schedule=None, start_date=datetime(2024, 1, 1), is_paused_upon_creation=False):
    BashOperator(task_id="hello", bash_command="echo hello")
"""


@pytest.fixture
def launcher(tmp_path: Path) -> Iterator[tuple[subprocess.Popen[bytes], int, Path]]:
    """``make airflow`` on a free port with a temporary AIRFLOW_HOME and a one-task DAG, leader
    of its own session as under a terminal; whatever outlives the test is killed."""
    port = free_port()
    log = tmp_path / "airflow.log"
    dags = tmp_path / "dags"
    dags.mkdir()
    (dags / "reach_execution_api.py").write_text(PROBE_DAG)
    variables = (
        f"AIRFLOW_PORT={port}",
        f"AIRFLOW_HOME_DIR={tmp_path / 'home'}",
        "AIRFLOW_HOST=127.0.0.1",
        f"AIRFLOW_DAGS={dags}",
    )
    with log.open("wb") as out:
        proc = subprocess.Popen(
            _make("airflow", *variables),
            cwd=REPO,
            env=_clean_env(C360_LAKE_ROOT=str(tmp_path / "lake")),
            stdin=subprocess.DEVNULL,
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    try:
        yield proc, port, log
    finally:
        for p in _session(proc.pid):
            p.kill()
        proc.wait(10)


def _trigger_and_wait(port: int, home: Path, deadline: float) -> str:
    """Trigger the probe DAG through the REST API and wait for its run to end; its state."""
    import httpx

    from c360.airflow_supervisor import admin_password

    with httpx.Client(base_url=f"http://localhost:{port}", timeout=10) as client:
        login = {"username": "admin", "password": admin_password(home)}
        token = client.post("/auth/token", json=login).json()["access_token"]
        client.headers["Authorization"] = f"Bearer {token}"
        while client.get("/api/v2/dags/reach_execution_api").status_code != 200:
            assert time.monotonic() < deadline, "the DAG processor did not parse the probe DAG"
            time.sleep(1)
        run = client.post("/api/v2/dags/reach_execution_api/dagRuns", json={"logical_date": None})
        assert run.status_code == 200, run.text
        url = f"/api/v2/dags/reach_execution_api/dagRuns/{run.json()['dag_run_id']}"
        state = "queued"
        while state not in ("success", "failed") and time.monotonic() < deadline:
            time.sleep(1)
            state = client.get(url).json()["state"]
        return state


@needs_make
@pytest.mark.slow
def test_on_a_free_port_a_task_runs_and_one_sigint_stops_everything_and_make_returns(
    launcher: tuple[subprocess.Popen[bytes], int, Path],
) -> None:
    make, port, log = launcher
    health = f"http://localhost:{port}/execution/health"
    # Bounds for a loaded machine (the suite's other worker runs Spark meanwhile): the whole
    # test takes about 70 s on a quiet one.
    deadline = time.monotonic() + 240
    answer = None
    while answer is None and time.monotonic() < deadline and make.poll() is None:
        try:
            with urllib.request.urlopen(health, timeout=10) as response:
                answer = json.load(response)
        except OSError:
            time.sleep(1)
    # the execution API that tasks call answers on the URL derived from this port
    assert answer == {"status": "healthy"}, log.read_text()[-3000:]

    # A triggered task runs: its supervisor reached the execution API on this port. The
    # scheduler's LocalExecutor workers that ran it ignore SIGINT, and are what kept
    # `airflow standalone` from exiting after a Ctrl-C.
    state = _trigger_and_wait(port, Path(log).parent / "home", time.monotonic() + 180)
    assert state == "success", log.read_text()[-4000:]
    running = _session(make.pid)
    commands = _commands(running)
    for component in ("api_server", "scheduler", "dag-processor", "triggerer", "LocalExecutor"):
        assert component in commands, commands

    os.killpg(make.pid, signal.SIGINT)  # what a terminal's Ctrl-C sends
    stopped_by = time.monotonic() + 60
    make.wait(timeout=60)
    while _alive(running) or _session(make.pid):
        assert time.monotonic() < stopped_by, f"still running 60 s after SIGINT: {_alive(running)}"
        time.sleep(0.5)
    assert "every component stopped" in log.read_text()


@pytest.mark.usefixtures("airflow_db")
def test_the_cli_parses_the_dags_with_make_airflows_settings() -> None:
    """``airflow dags list-import-errors --local`` and ``dags list --local`` as a user runs them
    after ``eval "$(make -s airflow-env)"``: the DAGs' helper package is importable."""
    env = LocalAirflow(home=AIRFLOW_HOME).environment(os.environ, BIN)
    airflow = str(BIN / "airflow")
    errors = subprocess.run(
        [airflow, "dags", "list-import-errors", "--local", "-o", "json"],
        env=env,
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert errors.returncode == 0, errors.stderr
    assert _last_json_line(errors.stdout) == [], errors.stdout
    listed = subprocess.run(
        [airflow, "dags", "list", "--local", "-o", "json"],
        env=env,
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert listed.returncode == 0, listed.stderr
    assert {d["dag_id"] for d in _last_json_line(listed.stdout)} >= {"c360_daily", "air_quality_daily"}  # type: ignore[union-attr]
