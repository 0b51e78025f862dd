"""``c360.cluster.stop`` on processes this same process started (as the cluster test does):
one that ends at SIGTERM is reaped, not waited out and then sent SIGKILL."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest

from c360 import cluster

# Ends at SIGTERM at once, like the master's and the workers' JVMs; sleeps long otherwise.
SERVE = (
    "import signal, sys, time; signal.signal(signal.SIGTERM, lambda *_: sys.exit(0)); print(flush=True); "
    "time.sleep(600)"
)


def _spawn(n: int, state_dir: Path) -> list[subprocess.Popen[str]]:
    procs = [
        subprocess.Popen([sys.executable, "-c", SERVE], stdout=subprocess.PIPE, text=True, start_new_session=True)
        for _ in range(n)
    ]
    for p in procs:
        assert p.stdout is not None
        p.stdout.readline()  # its handler is installed
    state_dir.mkdir(parents=True, exist_ok=True)
    (state_dir / "pids.json").write_text(json.dumps({"pids": [p.pid for p in procs]}))
    return procs


def test_processes_that_end_at_sigterm_are_reaped_and_never_sent_sigkill(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    procs = _spawn(3, tmp_path)
    sent: list[int] = []
    killpg = os.killpg

    def recording_killpg(pgid: int, sig: int) -> None:
        sent.append(sig)
        killpg(pgid, sig)

    monkeypatch.setattr(os, "killpg", recording_killpg)
    # A short grace period: were an exited child taken for a running one, stop would send SIGKILL.
    assert cluster.stop(tmp_path, wait_seconds=3.0) == 3
    assert sent == [signal.SIGTERM] * 3
    for p in procs:
        with pytest.raises(ChildProcessError):  # stop reaped it: no zombie is left
            os.waitpid(p.pid, os.WNOHANG)
        assert p.stdout is not None
        p.stdout.close()
    assert not (tmp_path / "pids.json").exists()


def test_an_exited_child_is_not_alive() -> None:
    p = subprocess.Popen([sys.executable, "-c", "pass"])
    # Wait for it to exit without reaping it: it is a zombie until someone waits for it.
    os.waitid(os.P_PID, p.pid, os.WEXITED | os.WNOWAIT)
    assert not cluster._alive(p.pid)
    assert cluster._alive(os.getpid())
