"""An analyst interrupts a notebook cell that runs a Spark job (Jupyter's interrupt: SIGINT to
the kernel): the job is cancelled, and the next cell's Spark calls answer at once."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import pytest

from c360.jupyter import KERNEL_NAME
from tests.notebooks.test_notebooks import _kernels

SLEEP_S = 25  # each of the job's two tasks


def _execute(client: Any, code: str, timeout: float = 120.0) -> tuple[float, list[str]]:
    """Run a cell; its seconds, and its output texts and error names."""
    msg_id = client.execute(code)
    started, out = time.monotonic(), []
    while True:
        msg = client.get_iopub_msg(timeout=timeout)
        if msg["parent_header"].get("msg_id") != msg_id:
            continue
        content = msg["content"]
        if msg["msg_type"] == "execute_result":
            out.append(content["data"]["text/plain"])
        elif msg["msg_type"] == "error":
            out.append(content["ename"])
        elif msg["msg_type"] == "status" and content["execution_state"] == "idle":
            return time.monotonic() - started, out


def _interrupted(client: Any, manager: Any, code: str, after: float) -> list[str]:
    """Run a cell, interrupt the kernel ``after`` seconds, wait for the cell to end; its errors."""
    msg_id = client.execute(code)
    time.sleep(after)
    manager.interrupt_kernel()
    errors = []
    while True:
        msg = client.get_iopub_msg(timeout=120)
        if msg["parent_header"].get("msg_id") != msg_id:
            continue
        if msg["msg_type"] == "error":
            errors.append(msg["content"]["ename"])
        elif msg["msg_type"] == "status" and msg["content"]["execution_state"] == "idle":
            return errors


@pytest.mark.slow
def test_an_interrupted_spark_cell_cancels_its_job(tmp_path: Path) -> None:
    """Under ipykernel's own handler (Python's default, set before every cell) the cell stopped,
    the job did not, and the next cell's first Spark call waited 21 s for the old job's answer."""
    from jupyter_client.kernelspec import KernelSpecManager
    from jupyter_client.manager import KernelManager

    specs = KernelSpecManager(kernel_dirs=[str(_kernels(tmp_path / "kernels", tmp_path / "lake"))])
    manager = KernelManager(kernel_name=KERNEL_NAME, kernel_spec_manager=specs)
    manager.start_kernel(cwd=str(tmp_path))
    client = manager.client()
    client.start_channels()
    try:
        client.wait_for_ready(timeout=120)
        assert _execute(client, "from c360 import lake\nspark = lake.spark()\nspark.range(3).count()")[1] == ["3"]
        sleep = f"reflect('java.lang.Thread', 'sleep', CAST({SLEEP_S * 1000} AS BIGINT))"
        job = f"spark.range(0, 2, numPartitions=2).selectExpr(\"{sleep}\").write.format('noop').mode('append').save()"
        errors = _interrupted(client, manager, job, after=4.0)  # while the job's tasks sleep
        interrupted = time.monotonic()
        assert errors == ["KeyboardInterrupt"]
        seconds, out = _execute(client, "spark.range(5).count()")
        assert out == ["5"]
        assert time.monotonic() - interrupted < SLEEP_S - 10, f"the next cell waited {seconds:.1f} s for the old job"
        # Its later cells too, and a cell interrupted outside Spark still stops at once.
        assert _execute(client, "spark.range(7).selectExpr('sum(id)').first()[0]")[1] == ["21"]
        assert _interrupted(client, manager, "import time\nwhile True: time.sleep(0.01)", after=1.0) == [
            "KeyboardInterrupt"
        ]
        assert _execute(client, "1 + 1")[1] == ["2"]
    finally:
        client.stop_channels()
        manager.shutdown_kernel(now=True)
