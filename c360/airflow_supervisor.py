"""``make airflow``: Airflow's four components under a small supervisor that one Ctrl-C stops.

Why not ``airflow standalone``: it reads each child's output in a thread and joins those
threads on shutdown, but the scheduler's LocalExecutor workers ignore SIGINT and hold the
scheduler's stdout open, so after a Ctrl-C it hangs with its children defunct and ``make``
waits forever. It also leaves the execution API URL that task supervisors call at its
default, ``http://localhost:8080/execution/``, so on any other port every task fails.

Here every URL is derived from one port (:class:`LocalAirflow`), each component runs in a
process group of its own, and a SIGINT or SIGTERM to the supervisor is forwarded to every
group; what is still alive after a grace period is terminated, then killed, including
descendants that left their group (a BashOperator's ``spark-submit`` runs in a session of
its own). The same settings are printed as shell exports (``make airflow-env``) so that the
Airflow CLI in another shell sees exactly what the components see.

Standard library only, besides ``psutil`` (an Airflow dependency) for the process tree.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import secrets
import shlex
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from types import FrameType
from typing import IO, Any

from c360.ports import LOCAL_HOSTS, free_port

REPO = Path(__file__).resolve().parents[1]
COMPONENTS = ("api-server", "scheduler", "dag-processor", "triggerer")
PASSWORDS_FILE = "simple_auth_manager_passwords.json.generated"


@dataclass(frozen=True)
class LocalAirflow:
    """A local Airflow: where its home is and the one port every URL is derived from."""

    home: Path
    port: int = 8080
    host: str = "127.0.0.1"
    dags: Path = REPO / "dags"
    parallelism: int = 4  # the default of 32 pre-forks about 6 GiB of LocalExecutor workers

    def __post_init__(self) -> None:
        if not 0 < self.port < 65536:
            raise ValueError(f"AIRFLOW_PORT must be a TCP port (1-65535), got {self.port}")

    @property
    def base_url(self) -> str:
        """Where the UI and the REST API answer (``[api] base_url``: links, redirects, log URLs)."""
        host = "localhost" if self.host in LOCAL_HOSTS else self.host
        return f"http://{host}:{self.port}"

    @property
    def execution_api_url(self) -> str:
        """What each task's supervisor calls (``[core] execution_api_server_url``), served by the api-server."""
        return f"{self.base_url}/execution/"

    def settings(self) -> dict[str, str]:
        """Airflow's configuration for every component and for the CLI, as environment variables."""
        return {
            "AIRFLOW_HOME": str(self.home),
            "AIRFLOW__CORE__DAGS_FOLDER": str(self.dags),
            "AIRFLOW__CORE__LOAD_EXAMPLES": "False",
            "AIRFLOW__CORE__EXECUTOR": "LocalExecutor",
            "AIRFLOW__CORE__PARALLELISM": str(self.parallelism),
            "AIRFLOW__CORE__EXECUTION_API_SERVER_URL": self.execution_api_url,
            "AIRFLOW__API__HOST": self.host,
            "AIRFLOW__API__PORT": str(self.port),
            "AIRFLOW__API__BASE_URL": self.base_url,
            "AIRFLOW__API__WORKERS": "1",
            # The DAG processor puts the bundle folder on sys.path itself; the CLI's DagBag
            # (list-import-errors --local, dags list --local, dags test) does not.
            "PYTHONPATH": str(self.dags),
        }

    def environment(self, base: Mapping[str, str], bin_dir: Path) -> dict[str, str]:
        """The components' whole environment: ``base`` plus :meth:`settings`, the project's
        interpreter folder first on PATH (tasks call its ``spark-submit``), and free ports for
        the scheduler's and triggerer's log servers unless ``base`` fixes them."""
        env = dict(base)
        env.update(self.settings())
        env["PYTHONPATH"] = _prepend(str(self.dags), base.get("PYTHONPATH", ""))
        env["PATH"] = _prepend(str(bin_dir), base.get("PATH", ""))
        for key in ("AIRFLOW__LOGGING__WORKER_LOG_SERVER_PORT", "AIRFLOW__LOGGING__TRIGGER_LOG_SERVER_PORT"):
            env.setdefault(key, str(free_port(self.host)))
        return env

    def exports(self, bin_dir: Path, extra: Mapping[str, str] | None = None) -> str:
        """:meth:`settings` and ``extra`` as ``export`` lines for ``eval`` (PATH and PYTHONPATH
        are prepended to, not replaced)."""
        lines = [f'export PATH={shlex.quote(str(bin_dir))}:"$PATH"']
        for key, value in (self.settings() | dict(extra or {})).items():
            if key == "PYTHONPATH":
                lines.append(f'export PYTHONPATH={shlex.quote(value)}"${{PYTHONPATH:+:$PYTHONPATH}}"')
            else:
                lines.append(f"export {key}={shlex.quote(value)}")
        return "\n".join(lines)


def _prepend(first: str, rest: str) -> str:
    return first if not rest else f"{first}{os.pathsep}{rest}"


def admin_password(home: Path) -> str:
    """The admin login of Airflow's simple auth manager: generated once, kept in AIRFLOW_HOME."""
    path = home / PASSWORDS_FILE
    if not path.exists() or not path.read_text().strip():
        path.write_text(json.dumps({"admin": secrets.token_urlsafe(12)}) + "\n")
    return str(json.loads(path.read_text())["admin"])


def airflow_executable(bin_dir: Path) -> str:
    found = bin_dir / "airflow"
    if found.exists():
        return str(found)
    on_path = shutil.which("airflow")
    if on_path is None:
        raise SystemExit("airflow is not installed in this environment (make venv installs the airflow extra)")
    return on_path


class Supervisor:
    """Starts the components, prints their output prefixed with their name, and stops them all.

    The first SIGINT or SIGTERM (SIGHUP counts as SIGTERM) is forwarded to every component's
    process group; after ``grace`` seconds the survivors get SIGTERM, ``kill_after`` seconds
    later SIGKILL. A second signal skips straight to SIGKILL.
    """

    def __init__(
        self,
        airflow: str,
        env: Mapping[str, str],
        components: Sequence[str] = COMPONENTS,
        grace: float = 10.0,
        kill_after: float = 3.0,
        out: IO[str] | None = None,
    ) -> None:
        self.airflow = airflow
        self.env = dict(env)
        self.components = tuple(components)
        self.grace = grace
        self.kill_after = kill_after
        self.out = out or sys.stdout
        self.procs: dict[str, subprocess.Popen[bytes]] = {}
        self._stop = threading.Event()
        self._hurry = threading.Event()
        self._signal = signal.SIGINT
        self._print_lock = threading.Lock()
        self._seen: dict[int, Any] = {}  # pid -> psutil.Process, every descendant ever seen

    def say(self, name: str, line: str) -> None:
        with self._print_lock:
            self.out.write(f"{name:<13} | {line}\n")
            self.out.flush()

    @property
    def stopping(self) -> bool:
        return self._stop.is_set()

    def _on_signal(self, signum: int, _frame: FrameType | None) -> None:
        if self._stop.is_set():
            self._hurry.set()
        else:
            # a closed terminal (SIGHUP) must not orphan the components: stop them as on SIGTERM
            self._signal = signal.SIGINT if signum == signal.SIGINT else signal.SIGTERM
            self._stop.set()

    def install_signal_handlers(self) -> None:
        for sig in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP):
            signal.signal(sig, self._on_signal)

    def run_once(self, name: str, args: Sequence[str]) -> int:
        """Run a preparatory command (``db migrate``) to its end; its output only if it fails."""
        with tempfile.TemporaryFile() as output:  # a file, not a pipe: nobody reads it while it runs
            proc = subprocess.Popen(
                [self.airflow, *args],
                env=self.env,
                stdin=subprocess.DEVNULL,
                stdout=output,
                stderr=subprocess.STDOUT,
                process_group=0,
            )
            while proc.poll() is None:
                if self._stop.wait(0.2):
                    with contextlib.suppress(ProcessLookupError):
                        os.killpg(proc.pid, signal.SIGTERM)
                    try:
                        proc.wait(self.kill_after)
                    except subprocess.TimeoutExpired:
                        with contextlib.suppress(ProcessLookupError):
                            os.killpg(proc.pid, signal.SIGKILL)
                        proc.wait()
                    return 130
            if proc.returncode != 0:
                output.seek(0)
                for line in output.read().decode(errors="replace").splitlines():
                    self.say(name, line)
            return proc.returncode

    def start(self) -> None:
        for name in self.components:
            proc = subprocess.Popen(
                [self.airflow, name],
                env=self.env,
                stdin=subprocess.DEVNULL,
                stdout=subprocess.PIPE,
                stderr=subprocess.STDOUT,
                process_group=0,  # its own group: we signal it and everything it forks together
            )
            self.procs[name] = proc
            self.say("supervisor", f"started {name} (pid {proc.pid})")
            # daemon readers, never joined: a grandchild may hold the pipe open after its parent exits
            threading.Thread(target=self._pump, args=(name, proc), daemon=True).start()

    def _pump(self, name: str, proc: subprocess.Popen[bytes]) -> None:
        assert proc.stdout is not None
        for raw in proc.stdout:
            self.say(name, raw.decode(errors="replace").rstrip())

    def wait(self) -> int:
        """Block until a signal arrives or a component exits on its own; then stop everything."""
        exit_code = 0
        while not self._stop.wait(0.5):
            self._remember_descendants()
            dead = [name for name, proc in self.procs.items() if proc.poll() is not None]
            if dead:
                for name in dead:
                    self.say("supervisor", f"{name} exited with code {self.procs[name].returncode}; stopping the rest")
                exit_code = 1
                self._signal = signal.SIGTERM
                break
        self.stop()
        return exit_code

    def descendants(self) -> list[Any]:
        """The components and everything they started, and nothing else of this process's:
        a supervisor embedded in a bigger process (a test, a notebook) must not touch its siblings."""
        import psutil

        found = []
        for proc in self.procs.values():
            try:
                root = psutil.Process(proc.pid)
                found += [root, *root.children(recursive=True)]
            except psutil.Error:
                continue
        return found

    def _remember_descendants(self) -> None:
        for child in self.descendants():
            self._seen.setdefault(child.pid, child)

    def _alive(self) -> list[Any]:
        import psutil

        alive = []
        for proc in self._seen.values():
            try:
                if proc.is_running() and proc.status() != psutil.STATUS_ZOMBIE:
                    alive.append(proc)
            except psutil.Error:
                continue
        return alive

    def _signal_groups(self, sig: int) -> None:
        for proc in self.procs.values():
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.killpg(proc.pid, sig)

    def _signal_seen(self, sig: int) -> None:
        import psutil

        for proc in self._alive():
            try:
                proc.send_signal(sig)  # psutil checks the pid was not reused
            except psutil.Error:
                continue

    def _wait_all(self, seconds: float, interruptible: bool = True) -> bool:
        """Whether every component and descendant exited within ``seconds`` (a second signal
        ends an interruptible wait early)."""
        deadline = time.monotonic() + seconds
        while time.monotonic() < deadline:
            for proc in self.procs.values():
                proc.poll()  # reap the components, so they do not linger as zombies
            self._remember_descendants()
            if not self._alive() and all(p.poll() is not None for p in self.procs.values()):
                return True
            if interruptible and self._hurry.wait(0.2):
                return False
            if not interruptible:
                time.sleep(0.2)
        return False

    def stop(self) -> None:
        self._remember_descendants()
        self.say("supervisor", f"stopping: {signal.Signals(self._signal).name} to every component")
        self._signal_groups(self._signal)
        if not self._wait_all(self.grace):
            if not self._hurry.is_set():
                names = sorted({_describe(p) for p in self._alive()})
                self.say("supervisor", f"still running after {self.grace:.0f} s, terminating: {', '.join(names)}")
                self._signal_groups(signal.SIGTERM)
                self._signal_seen(signal.SIGTERM)
                self._wait_all(self.kill_after)
            self._signal_groups(signal.SIGKILL)
            self._signal_seen(signal.SIGKILL)
            self._wait_all(self.kill_after, interruptible=False)
        # idle workers that outlived their parent still belong to its group
        self._signal_groups(signal.SIGKILL)
        for proc in self.procs.values():
            with contextlib.suppress(subprocess.TimeoutExpired):
                proc.wait(self.kill_after)
        left = sorted({_describe(p) for p in self._alive()})
        if left:
            self.say("supervisor", f"could not stop: {', '.join(left)}")
        else:
            self.say("supervisor", "every component stopped")


def _describe(proc: Any) -> str:
    """A process's command for messages, tolerant of processes that vanish while we look."""
    try:
        return f"{proc.pid} {' '.join(proc.cmdline()[:3]) or proc.name()}"
    except Exception:  # noqa: BLE001 - psutil.Error: it is gone or not ours
        return str(proc.pid)


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m c360.airflow_supervisor", description=__doc__.splitlines()[0])
    sub = parser.add_subparsers(dest="command", required=True)
    for name, help_text in (
        ("run", "start api-server, scheduler, dag-processor and triggerer; Ctrl-C stops them all"),
        ("env", 'print the settings as shell exports, for the airflow CLI: eval "$(make -s airflow-env)"'),
    ):
        cmd = sub.add_parser(name, help=help_text)
        cmd.add_argument("--home", type=Path, default=REPO / "airflow_home", help="AIRFLOW_HOME")
        cmd.add_argument("--port", type=int, default=8080, help="the api-server's port; every URL is derived from it")
        cmd.add_argument("--host", default="127.0.0.1", help="address the api-server binds (0.0.0.0: every interface)")
        cmd.add_argument("--dags", type=Path, default=REPO / "dags", help="the DAGs folder")
        cmd.add_argument("--parallelism", type=int, default=4)
        if name == "run":
            cmd.add_argument("--grace", type=float, default=10.0, help="seconds to wait after forwarding the signal")
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    try:
        local = LocalAirflow(args.home.resolve(), args.port, args.host, args.dags.resolve(), args.parallelism)
    except ValueError as exc:
        print(exc, file=sys.stderr)
        return 2
    bin_dir = Path(sys.executable).parent
    if args.command == "env":
        # the lake make airflow's tasks use (make exports it), so `airflow dags test` writes there too
        lake = {"C360_LAKE_ROOT": os.environ["C360_LAKE_ROOT"]} if "C360_LAKE_ROOT" in os.environ else {}
        print(local.exports(bin_dir, lake))
        return 0

    local.home.mkdir(parents=True, exist_ok=True)
    supervisor = Supervisor(airflow_executable(bin_dir), local.environment(os.environ, bin_dir), grace=args.grace)
    supervisor.install_signal_handlers()
    print(f"Airflow UI: {local.base_url}  login: admin / {admin_password(local.home)}", flush=True)
    lake_root = os.environ.get("C360_LAKE_ROOT", "./lakehouse (default)")
    print(f"Lake: {lake_root}   Execution API: {local.execution_api_url}", flush=True)
    print("Ctrl-C stops every component.", flush=True)
    if supervisor.run_once("db migrate", ["db", "migrate"]) != 0:
        return 130 if supervisor.stopping else 1
    if supervisor.stopping:
        return 130
    supervisor.start()
    return supervisor.wait()


if __name__ == "__main__":
    sys.exit(main())
