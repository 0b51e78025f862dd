"""Jupyter shuts down a kernel that used c360 (a notebook's end, `make notebooks-run`, JupyterLab's
"Shut Down Kernel"): the kernel ends what c360 started in it, and ends by itself."""

from __future__ import annotations

import os
import time
from pathlib import Path

import pytest

from c360.jupyter import KERNEL_NAME, at_kernel_shutdown
from tests.notebooks.test_interrupt import _execute
from tests.notebooks.test_notebooks import _kernels

# ipykernel signals its remaining children, then waits 0.01 + 0.03 + ... + 10 = 14.4 s for them
# to go before it tries SIGKILL; a kernel that waits that long has a child it cannot end.
CHILDREN_WAIT_S = 14.4


def _group(pgid: int) -> dict[int, str]:
    """The running processes of a process group, with their state, parent and command line.

    Not its zombies: they have ended, and wait for their parent to read their exit status. An
    ended child of Spark's launcher script, which Java never reaps, is one of the JVM's until
    it ends, then one of PID 1's."""
    members = {}
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                fields = (entry / "stat").read_text().rsplit(")", 1)[1].split()
                command = (entry / "cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
            except OSError:
                continue  # ended meanwhile
            if int(fields[2]) == pgid and fields[0] != "Z":
                members[int(entry.name)] = f"{fields[0]} ppid {fields[1]} {command[:300]}"
    return members


@pytest.mark.slow
def test_a_kernel_ends_its_spark_and_sql_processes_when_jupyter_shuts_it_down(tmp_path: Path) -> None:
    """Before, nothing reaped the SQL engine's query process or Spark's JVM once ipykernel had
    signalled them at shutdown, and ipykernel waited for their zombies: Jupyter then signalled
    the kernel's whole process group, Spark's own shutdown with it (an ERROR line and a Java
    stack trace under one `make notebooks-run` in two)."""
    from jupyter_client.kernelspec import KernelSpecManager
    from jupyter_client.manager import KernelManager

    (tmp_path / "lake").mkdir()
    specs = KernelSpecManager(kernel_dirs=[str(_kernels(tmp_path / "kernels", tmp_path / "lake"))])
    # Jupyter's own wait long enough that the kernel's end is its own, not Jupyter's signals.
    manager = KernelManager(kernel_name=KERNEL_NAME, kernel_spec_manager=specs, shutdown_wait_time=120.0)
    manager.start_kernel(cwd=str(tmp_path))
    client = manager.client()
    client.start_channels()
    try:
        client.wait_for_ready(timeout=120)
        code = "from c360 import lake\nint(lake.sql('SELECT 41 + 1 AS x')['x'][0]), lake.spark().range(3).count()"
        assert _execute(client, code)[1] == ["(42, 3)"]
        assert manager.provisioner is not None
        kernel_pid = manager.provisioner.process.pid  # type: ignore[attr-defined]
        pgid = os.getpgid(kernel_pid)
        children = [p for p in _group(pgid) if p != kernel_pid]
        assert len(children) >= 2  # the JVM and the query process (Spark's workers, if any)
        started = time.monotonic()
        manager.shutdown_kernel()  # a request, then up to 120 s for the kernel to end
        seconds = time.monotonic() - started
    finally:
        client.stop_channels()
        if manager.has_kernel:
            manager.shutdown_kernel(now=True)
    assert seconds < CHILDREN_WAIT_S, f"the kernel took {seconds:.1f} s to end: it waited for a child"
    assert _group(pgid) == {}, f"kernel {kernel_pid}, this process {os.getpid()}"


def test_shutdown_callbacks_need_a_kernel() -> None:
    """Outside a kernel (a script, the CLI, a server) nothing is registered."""
    assert at_kernel_shutdown(lambda: None) is False
