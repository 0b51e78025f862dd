"""A Spark standalone cluster on this machine: one master and N workers from the pyspark install.

``make cluster`` / ``python -m c360.cluster start`` starts them bound to 127.0.0.1 and waits
until every worker has registered with the master; ``make cluster-stop`` stops exactly the
processes it started (their ids are kept in ``.cluster/pids.json``). The pipeline then runs
on it with ``C360_SPARK_MASTER=spark://127.0.0.1:7077`` (docs/cluster.md).

Why a real master and workers rather than ``local-cluster[...]``: executors run in their own
JVMs and Python workers, fetch tasks over the network, and see the lake only through the
file system, which is what a deployment does; the run proves the code ships nothing by
accident through driver memory or the driver's working directory.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import signal
import subprocess
import sys
import time
import urllib.request
from dataclasses import asdict, dataclass
from pathlib import Path

from c360.spark import C1_ONLY_JIT, class_archive_options

DEFAULT_DIR = Path(".cluster")


@dataclass(frozen=True)
class ClusterSpec:
    """Where the cluster listens and what each worker offers."""

    workers: int = 2
    cores: int = 1
    memory: str = "2g"
    port: int = 7077
    ui_port: int = 8090  # 8080 is Airflow's default
    worker_ui_port: int = 8091  # worker k listens on worker_ui_port + k

    @property
    def master_url(self) -> str:
        return f"spark://127.0.0.1:{self.port}"

    @property
    def ui_urls(self) -> list[str]:
        return [f"http://127.0.0.1:{self.ui_port}"] + [
            f"http://127.0.0.1:{self.worker_ui_port + k}" for k in range(self.workers)
        ]


def spark_home() -> Path:
    import pyspark

    return Path(pyspark.__file__).resolve().parent


def daemon_java_options() -> str:
    """The master's and the workers' JVM options: C1 only and the class archive, then the
    user's ``SPARK_DAEMON_JAVA_OPTS`` (which win). The daemons only register, schedule and
    launch executors, work C2's optimised code never pays for; the executors are JVMs of
    their own, with the application's options. Started so, the cluster was up in 5.0-5.1 s
    against 11.8-21.7 s, with 10 core-seconds of CPU against 23-26 (docs/benchmarks.md)."""
    return " ".join(f"{C1_ONLY_JIT} {class_archive_options()} {os.environ.get('SPARK_DAEMON_JAVA_OPTS', '')}".split())


def _env(state_dir: Path) -> dict[str, str]:
    return {
        **os.environ,
        "SPARK_DAEMON_JAVA_OPTS": daemon_java_options(),
        "SPARK_HOME": str(spark_home()),
        "SPARK_LOCAL_IP": "127.0.0.1",
        "SPARK_LOG_DIR": str(state_dir / "logs"),
        "SPARK_WORKER_DIR": str(state_dir / "work"),
        # Executors run Python tasks with the driver's interpreter (the project's venv).
        "PYSPARK_PYTHON": sys.executable,
        "JAVA_TOOL_OPTIONS": "-Duser.timezone=UTC",
    }


def _spawn(args: list[str], state_dir: Path, log_name: str) -> subprocess.Popen[bytes]:
    log = (state_dir / "logs" / log_name).open("ab")
    cmd = [str(spark_home() / "bin" / "spark-class"), *args]
    # Own session: ``stop`` signals the whole group (spark-class execs java, which may fork).
    return subprocess.Popen(
        cmd, env=_env(state_dir), stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
        start_new_session=True,
    )  # fmt: skip


def master_state(spec: ClusterSpec, timeout: float = 2.0) -> dict | None:
    """The master's JSON status page, or None while it does not answer."""
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{spec.ui_port}/json/", timeout=timeout) as r:  # noqa: S310
            return json.loads(r.read())
    except (OSError, ValueError):
        return None


def start(spec: ClusterSpec, state_dir: Path = DEFAULT_DIR, wait_seconds: float = 120.0) -> list[int]:
    """Start the master and the workers; returns their process ids once every worker is ALIVE."""
    state_dir = Path(state_dir).resolve()
    pids_file = state_dir / "pids.json"
    if pids_file.exists() and any(_alive(p) for p in json.loads(pids_file.read_text())["pids"]):
        raise RuntimeError(f"a cluster started from {state_dir} is still running; stop it first (make cluster-stop)")
    (state_dir / "logs").mkdir(parents=True, exist_ok=True)
    (state_dir / "work").mkdir(parents=True, exist_ok=True)
    procs = [
        _spawn(
            ["org.apache.spark.deploy.master.Master", "--host", "127.0.0.1", "--port", str(spec.port),
             "--webui-port", str(spec.ui_port)],
            state_dir, "master.log",
        )
    ]  # fmt: skip
    pids_file.write_text(json.dumps({"spec": asdict(spec), "pids": [p.pid for p in procs]}))
    for k in range(spec.workers):
        procs.append(
            _spawn(
                ["org.apache.spark.deploy.worker.Worker", spec.master_url, "--host", "127.0.0.1",
                 "--cores", str(spec.cores), "--memory", spec.memory,
                 "--webui-port", str(spec.worker_ui_port + k), "--work-dir", str(state_dir / "work" / f"w{k}")],
                state_dir, f"worker-{k}.log",
            )
        )  # fmt: skip
        pids_file.write_text(json.dumps({"spec": asdict(spec), "pids": [p.pid for p in procs]}))
    deadline = time.monotonic() + wait_seconds
    while time.monotonic() < deadline:
        for p in procs:
            if p.poll() is not None:
                stop(state_dir)
                raise RuntimeError(f"a cluster process exited with {p.returncode}; see {state_dir / 'logs'}")
        st = master_state(spec)
        if st is not None and st.get("aliveworkers", 0) >= spec.workers:
            return [p.pid for p in procs]
        time.sleep(0.5)
    stop(state_dir)
    raise RuntimeError(f"the workers did not register within {wait_seconds:.0f} s; see {state_dir / 'logs'}")


def _alive(pid: int) -> bool:
    """Whether ``pid`` still runs. A child of this process that has exited is reaped here: until
    it is, it stays a zombie that ``kill(pid, 0)`` still finds, and ``stop`` would wait out its
    whole grace period for processes that ended at the first signal."""
    with contextlib.suppress(ChildProcessError):  # not our child: its own parent reaps it
        if os.waitpid(pid, os.WNOHANG)[0] == pid:
            return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def stop(state_dir: Path = DEFAULT_DIR, wait_seconds: float = 30.0) -> int:
    """Stop the processes ``start`` recorded (workers first, then the master); returns how many were running."""
    pids_file = Path(state_dir).resolve() / "pids.json"
    if not pids_file.exists():
        return 0
    pids = [p for p in reversed(json.loads(pids_file.read_text())["pids"]) if _alive(p)]
    for pid in pids:
        with contextlib.suppress(ProcessLookupError):  # each was started as its own session leader
            os.killpg(pid, signal.SIGTERM)
    deadline = time.monotonic() + wait_seconds
    while any(_alive(p) for p in pids) and time.monotonic() < deadline:
        time.sleep(0.2)
    for pid in pids:
        if _alive(pid):
            with contextlib.suppress(ProcessLookupError):
                os.killpg(pid, signal.SIGKILL)
    for pid in pids:  # reap our own children (start and stop in one process, as the tests do)
        _alive(pid)
    pids_file.unlink()
    return len(pids)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m c360.cluster", description=__doc__.splitlines()[0])
    parser.add_argument("action", choices=["start", "stop", "status"])
    parser.add_argument("--dir", type=Path, default=DEFAULT_DIR, help="state folder (pids, logs, work dirs)")
    parser.add_argument("--workers", type=int, default=ClusterSpec.workers)
    parser.add_argument("--cores", type=int, default=ClusterSpec.cores, help="cores per worker")
    parser.add_argument("--memory", default=ClusterSpec.memory, help="memory per worker, e.g. 2g")
    parser.add_argument("--port", type=int, default=ClusterSpec.port)
    parser.add_argument("--ui-port", type=int, default=ClusterSpec.ui_port)
    parser.add_argument("--worker-ui-port", type=int, default=ClusterSpec.worker_ui_port)
    a = parser.parse_args(argv)
    spec = ClusterSpec(a.workers, a.cores, a.memory, a.port, a.ui_port, a.worker_ui_port)
    if a.action == "start":
        start(spec, a.dir)
        print(f"Spark master: {spec.master_url}")
        print("Web UIs: " + "  ".join(spec.ui_urls))
        print(f"Run the pipeline on it:  C360_SPARK_MASTER={spec.master_url} c360 run --source mock_data")
        print("Stop it:  make cluster-stop")
    elif a.action == "stop":
        print(f"stopped {stop(a.dir)} cluster process(es)")
    else:
        st = master_state(spec)
        if st is None:
            print("no master answers at " + spec.ui_urls[0])
            sys.exit(1)
        print(f"{spec.master_url}: {st.get('status')}, {st.get('aliveworkers')} worker(s) alive, "
              f"{st.get('cores')} cores, {len(st.get('activeapps', []))} running application(s)")  # fmt: skip


if __name__ == "__main__":
    main()
