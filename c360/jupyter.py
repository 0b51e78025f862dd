"""Jupyter plumbing for notebooks/: the project's kernel, and notebooks committed without outputs.

``make notebook`` writes the ``c360`` kernelspec (the venv's Python, the project importable,
the lake root set) into a project-local Jupyter folder, so JupyterLab runs notebooks on the
project's environment without touching the user's ``~/.local/share/jupyter``. The notebook
tests install the same kernelspec into a temporary folder.

Notebooks are committed clean (no outputs, no execution counts), so diffs show code and a
run's data never lands in git. ``python -m c360.jupyter strip notebooks/*.ipynb`` cleans
them; ``check`` lists the dirty ones and exits 1. ``run`` executes notebooks headless against
a lake and writes the executed copies (and HTML pages) elsewhere: ``make notebooks-run``.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import sys
from collections.abc import Callable, Iterator, Mapping, Sequence
from pathlib import Path
from typing import Any

KERNEL_NAME = "c360"
KERNEL_DISPLAY_NAME = "c360 (project venv)"
PROJECT_ROOT = Path(__file__).resolve().parents[1]
NOTEBOOKS_DIR = PROJECT_ROOT / "notebooks"


def running_kernel() -> Any:
    """The ipykernel kernel this process is, or None (a script, the CLI, a server)."""
    ipython = sys.modules.get("IPython")  # a kernel has imported it; nothing else needs to
    shell = ipython.get_ipython() if ipython is not None else None
    return getattr(shell, "kernel", None)


def at_kernel_shutdown(callback: Callable[[], None]) -> bool:
    """Have ``callback`` run when Jupyter asks this kernel to shut down (or to restart), before
    the kernel ends its child processes; False when this process is no kernel.

    What c360 starts in a kernel (Spark's JVM, the SQL engine's query process) is a child of
    the kernel. ipykernel ends its children by signals at shutdown and waits until none is
    left, but nothing reaps a child that Python's ``subprocess`` did not wait for: the kernel
    waited for the zombie until Jupyter killed it (2.5 s later, the default wait), with every
    process of its group, Spark's shutdown cleaning its temporary folders included (``ERROR
    Utils: Process ArraySeq(getconf, PAGESIZE) exited with code 143`` under a notebook's run).
    A callback ends its processes itself, and waits for them. Callbacks run in the reverse
    order of their registration, once each; one that fails is logged and the others run."""
    import inspect
    import logging

    kernel = running_kernel()
    if kernel is None:
        return False
    callbacks: list[Callable[[], None]] | None = getattr(kernel, "c360_shutdown_callbacks", None)
    if callbacks is None:
        callbacks = kernel.c360_shutdown_callbacks = []
        shutdown = kernel.do_shutdown

        async def do_shutdown(restart: bool) -> Any:
            while callbacks:
                done = callbacks.pop()
                try:
                    done()
                except Exception:  # noqa: BLE001 - the kernel shuts down whatever a callback did
                    logging.getLogger(__name__).warning("a shutdown callback of c360 failed", exc_info=True)
            reply = shutdown(restart)  # a coroutine or the reply itself, as ipykernel's version has it
            return await reply if inspect.isawaitable(reply) else reply

        kernel.do_shutdown = do_shutdown
    if callback not in callbacks:
        callbacks.append(callback)
    return True


def write_kernelspec(
    kernels_dir: Path,
    env: Mapping[str, str],
    *,
    python: str | Path = sys.executable,
    name: str = KERNEL_NAME,
) -> Path:
    """Write ``kernels_dir/name/kernel.json``: ipykernel on ``python`` with ``env`` added.

    ``env`` should hold ``PYTHONPATH`` (the project, so a git worktree's code is the code the
    kernel imports) and ``C360_LAKE_ROOT``; Jupyter merges it into the kernel's environment.
    """
    spec = {
        "argv": [str(python), "-m", "ipykernel_launcher", "-f", "{connection_file}"],
        "display_name": KERNEL_DISPLAY_NAME if name == KERNEL_NAME else name,
        "language": "python",
        "env": dict(env),
        "metadata": {"debugger": True},
    }
    folder = Path(kernels_dir) / name
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / "kernel.json"
    path.write_text(json.dumps(spec, indent=1) + "\n")
    return path


# JupyterLab's defaults that would reach for the network: the news feed (a toast asks whether to
# fetch it on first start) and the update check. The server refuses both (``news_url=None``,
# ``NeverCheckForUpdate``); these settings keep the front end from asking. They are defaults in
# ``overrides.json``: a user who wants the news can still switch it on in Settings.
LAB_OVERRIDES: dict[str, dict[str, Any]] = {
    "@jupyterlab/apputils-extension:notification": {"fetchNews": "false", "checkForUpdates": False},
}


def write_lab_overrides(settings_dir: Path) -> Path:
    """Write ``settings_dir/overrides.json`` (JupyterLab's ``app_settings_dir``): offline defaults."""
    folder = Path(settings_dir)
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / "overrides.json"
    path.write_text(json.dumps(LAB_OVERRIDES, indent=1) + "\n")
    return path


class NotebookCellError(AssertionError):
    """A cell of a notebook failed (or ran past the deadline); the message shows its source."""

    def __init__(self, notebook: Path, index: int, source: str, error: str, executed: Any = None) -> None:
        self.notebook, self.index, self.source, self.error = notebook, index, source, error
        self.executed = executed  # the notebook as far as it ran, outputs and the error included
        rule = "-" * 60
        super().__init__(f"{notebook.name}: cell {index} failed\n{rule}\n{source}\n{rule}\n{error}")


def run_notebook(
    path: Path,
    *,
    kernel_name: str = KERNEL_NAME,
    kernels_dir: Path | None = None,
    cwd: Path | None = None,
    time_limit: float = 600.0,
    startup_timeout: float = 120.0,
) -> Any:
    """Execute a notebook top to bottom in a fresh kernel; return it with its outputs (in memory).

    The whole notebook must finish within ``time_limit`` seconds: each cell gets what is left.
    A failing or overrunning cell raises :class:`NotebookCellError` with that cell's source and
    error. ``kernels_dir`` holds the kernelspec (see :func:`write_kernelspec`); the file on disk
    is never rewritten, so committed notebooks stay clean.
    """
    import re
    import tempfile
    import time

    import nbformat
    from jupyter_client.kernelspec import KernelSpecManager
    from jupyter_client.manager import AsyncKernelManager
    from nbclient import NotebookClient
    from nbclient.exceptions import CellExecutionError, CellTimeoutError, DeadKernelError

    nb = nbformat.read(path, as_version=4)
    deadline = time.monotonic() + time_limit
    current = {"index": -1}

    def remaining(cell: Any) -> int:
        return max(1, int(deadline - time.monotonic()))

    def on_cell_execute(cell: Any, cell_index: int, **_: Any) -> None:
        current["index"] = cell_index

    specs = {} if kernels_dir is None else {"kernel_spec_manager": KernelSpecManager(kernel_dirs=[str(kernels_dir)])}
    # The kernel talks to this process over Unix sockets in a folder of its own (only this
    # user can open them), not over TCP ports of 127.0.0.1 that any local process could reach
    # (ipykernel warns of those: "Kernel is running over TCP without encryption"). Async, so
    # that the time limits fire.
    sockets = tempfile.TemporaryDirectory(prefix="c360-kernel-")
    km = AsyncKernelManager(kernel_name=kernel_name, transport="ipc", ip=str(Path(sockets.name) / "kernel"), **specs)
    client = NotebookClient(
        nb,
        km=km,
        kernel_name=kernel_name,
        timeout_func=remaining,
        startup_timeout=int(startup_timeout),
        resources={"metadata": {"path": str(cwd or path.parent)}},
        on_cell_execute=on_cell_execute,
    )
    try:
        with sockets:
            client.execute(cleanup_kc=True)  # a kernel manager given to nbclient is not shut down by default
    except (CellExecutionError, CellTimeoutError, DeadKernelError) as exc:
        index = current["index"]
        cell = nb.cells[index] if 0 <= index < len(nb.cells) else None
        error = str(exc)
        for output in cell.get("outputs", []) if cell is not None else []:
            if output.get("output_type") == "error":
                trace = "\n".join(output.get("traceback", []))
                error = re.sub(r"\x1b\[[0-9;]*m", "", trace) or f"{output.get('ename')}: {output.get('evalue')}"
        if isinstance(exc, CellTimeoutError):
            error = f"the notebook ran past its time limit of {time_limit:.0f} s in this cell\n{exc}"
        raise NotebookCellError(path, index, cell.source if cell is not None else "", error, nb) from None
    return nb


def run_reports(
    paths: Sequence[Path],
    lake_root: Path,
    out_dir: Path,
    *,
    html: bool = False,
    time_limit: float = 600.0,
    echo: Any = print,
) -> list[NotebookCellError]:
    """Run each notebook headless on the ``c360`` kernel against ``lake_root`` and write the
    executed copy (and with ``html`` an HTML page) into ``out_dir``, under the notebook's name.

    The kernelspec goes into a temporary folder; the kernel inherits this process's
    environment (``C360_*`` settings included) with the lake root and this checkout set. A
    failing notebook is written as far as it ran, its error in the failing cell, and the
    others still run: the failures are returned. The notebooks on disk are never rewritten.
    """
    import os
    import tempfile
    import time

    import nbformat

    lake_root = Path(lake_root).resolve()
    if not lake_root.is_dir():
        raise FileNotFoundError(f"no lake at {lake_root}: run `make demo` or set C360_LAKE_ROOT")
    missing = [str(p) for p in paths if not Path(p).is_file()]
    if missing:
        raise FileNotFoundError(f"no such notebook: {', '.join(missing)}")
    sources = [Path(p).resolve() for p in paths]
    if out_dir.resolve() in {p.parent for p in sources}:
        raise ValueError(f"--out {out_dir} is the notebooks' own folder: the executed copies would replace them")
    names = [p.name for p in sources]
    twice = sorted({n for n in names if names.count(n) > 1})
    if twice:
        raise ValueError(f"two notebooks named {', '.join(twice)}: their copies in --out would replace each other")
    out_dir.mkdir(parents=True, exist_ok=True)
    failures: list[NotebookCellError] = []
    with tempfile.TemporaryDirectory(prefix="c360-kernels-") as kernels:
        pythonpath = os.pathsep.join(p for p in (str(PROJECT_ROOT), os.environ.get("PYTHONPATH", "")) if p)
        write_kernelspec(Path(kernels), {"PYTHONPATH": pythonpath, "C360_LAKE_ROOT": str(lake_root)})
        for path in sources:
            t0 = time.perf_counter()
            try:
                nb = run_notebook(path, kernels_dir=Path(kernels), cwd=path.parent, time_limit=time_limit)
                failed = None
            except NotebookCellError as err:
                nb, failed = err.executed, err
                failures.append(err)
            written = [_replace_text(out_dir / path.name, nbformat.writes(nb))]
            if html:
                from nbconvert import HTMLExporter

                body, _ = HTMLExporter().from_notebook_node(nb)
                written.append(_replace_text(out_dir / f"{path.stem}.html", body))
            seconds = time.perf_counter() - t0
            what = "ok    " if failed is None else f"FAILED (cell {failed.index})"
            echo(f"{what} {path.name}  {seconds:.1f} s  -> {', '.join(str(w) for w in written)}")
    return failures


def _replace_text(path: Path, text: str) -> Path:
    """Write ``path`` whole or not at all: a report folder may be served while it is rewritten."""
    part = path.with_name(f".{path.name}.part")
    part.write_text(text, encoding="utf-8")
    part.replace(path)
    return path


@contextlib.contextmanager
def make_notebook(lake_root: Path, port: int, *, timeout: float = 120.0) -> Iterator[tuple[str, float]]:
    """Run ``make notebook`` as a user does and wait until the server answers; yield
    (the URL it printed, seconds until ``/api/status`` answered 200). Stopped with SIGTERM
    on exit. The venv must be installed: ``-o`` keeps make from re-checking it (for tests
    and benchmarks, which must not reinstall the shared environment)."""
    import os
    import re
    import signal
    import subprocess
    import time
    import urllib.error
    import urllib.request

    venv = Path(sys.prefix)
    cmd = ["make", "-s", "notebook", f"VENV={venv}", "-o", str(venv / ".installed"), f"NOTEBOOK_PORT={port}"]
    env = {**os.environ, "C360_LAKE_ROOT": str(lake_root)}
    t0 = time.perf_counter()
    proc = subprocess.Popen(
        cmd,
        cwd=PROJECT_ROOT,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        start_new_session=True,
    )
    try:
        assert proc.stdout is not None
        url = None
        while url is None:
            line = proc.stdout.readline()
            if not line:
                raise RuntimeError(f"make notebook exited ({proc.wait()}) before printing its URL")
            m = re.search(r"(http://\S+/lab\?token=[0-9a-f]+)", line)
            url = m.group(1) if m else None
        status = url.replace("/lab?", "/api/status?")
        while True:
            if proc.poll() is not None:
                said = proc.stdout.read().strip()[-2000:]
                raise RuntimeError(f"jupyter lab exited with {proc.returncode}; it said:\n{said}")
            if time.perf_counter() - t0 > timeout:
                raise RuntimeError(f"JupyterLab not ready after {timeout:.0f} s")
            try:
                with urllib.request.urlopen(status, timeout=2) as response:
                    if response.status == 200:
                        break
            except (urllib.error.URLError, ConnectionError, TimeoutError):
                pass
            time.sleep(0.05)
        yield url, time.perf_counter() - t0
    finally:
        with contextlib.suppress(ProcessLookupError):  # the whole group may have exited already
            os.killpg(proc.pid, signal.SIGTERM)
        try:
            proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()


def dirty_cells(nb: Any) -> list[int]:
    """Indices of code cells that carry outputs or an execution count."""
    return [
        i
        for i, cell in enumerate(nb.cells)
        if cell.cell_type == "code" and (cell.get("outputs") or cell.get("execution_count") is not None)
    ]


def strip(nb: Any) -> bool:
    """Remove outputs, execution counts and run metadata in place; True if anything changed."""
    changed = False
    for cell in nb.cells:
        if cell.cell_type == "code":
            if cell.get("outputs") or cell.get("execution_count") is not None:
                changed = True
            cell["outputs"] = []
            cell["execution_count"] = None
        for key in ("execution", "collapsed", "scrolled"):
            if key in cell.get("metadata", {}):
                del cell["metadata"][key]
                changed = True
    for key in ("widgets", "papermill"):
        if key in nb.metadata:
            del nb.metadata[key]
            changed = True
    return changed


def strip_file(path: Path) -> bool:
    import nbformat

    nb = nbformat.read(path, as_version=4)
    if not strip(nb):
        return False
    nbformat.write(nb, path)
    return True


def notebooks(paths: Sequence[str]) -> list[Path]:
    return [Path(p) for p in paths] if paths else sorted(NOTEBOOKS_DIR.glob("*.ipynb"))


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m c360.jupyter", description=__doc__.split("\n")[0])
    sub = parser.add_subparsers(dest="command", required=True)
    ks = sub.add_parser("kernelspec", help="write the c360 kernelspec")
    ks.add_argument("--dir", required=True, type=Path, help="the kernels folder (e.g. .jupyter/kernels)")
    ks.add_argument("--lake-root", required=True, help="C360_LAKE_ROOT for the kernel")
    ks.add_argument("--pythonpath", default=str(PROJECT_ROOT), help="the project folder the kernel imports")
    ls = sub.add_parser("lab-settings", help="write JupyterLab's offline default settings (overrides.json)")
    ls.add_argument("--dir", required=True, type=Path, help="JupyterLab's app_settings_dir")
    for name, text in (("strip", "remove outputs and execution counts"), ("check", "exit 1 if a notebook has outputs")):
        cmd = sub.add_parser(name, help=text)
        cmd.add_argument("paths", nargs="*", help="notebooks (default: notebooks/*.ipynb)")
    run = sub.add_parser("run", help="run notebooks headless against a lake; write the executed copies")
    run.add_argument("paths", nargs="*", help="notebooks (default: notebooks/*.ipynb)")
    run.add_argument("--out", required=True, type=Path, help="folder for the executed notebooks (and HTML)")
    run.add_argument("--lake-root", help="the lake the kernel reads (default: C360_LAKE_ROOT, else ./lakehouse)")
    run.add_argument("--html", action="store_true", help="also write each executed notebook as an HTML page")
    run.add_argument("--time-limit", type=float, default=600.0, help="seconds per notebook, kernel start included")
    args = parser.parse_args(argv)
    if args.command == "run":
        from c360.settings import load_settings

        lake = Path(args.lake_root) if args.lake_root else load_settings().lake_root
        try:
            failures = run_reports(notebooks(args.paths), lake, args.out, html=args.html, time_limit=args.time_limit)
        except (FileNotFoundError, ValueError) as exc:
            print(f"error: {exc}", file=sys.stderr)
            return 2
        for err in failures:
            print(err, file=sys.stderr)
        return 1 if failures else 0
    if args.command == "kernelspec":
        env = {"PYTHONPATH": args.pythonpath, "C360_LAKE_ROOT": str(Path(args.lake_root).resolve())}
        print(write_kernelspec(args.dir, env))
        return 0
    if args.command == "lab-settings":
        print(write_lab_overrides(args.dir))
        return 0
    if args.command == "strip":
        for path in notebooks(args.paths):
            print(f"{'stripped' if strip_file(path) else 'clean   '}  {path}")
        return 0
    import nbformat

    dirty = [p for p in notebooks(args.paths) if dirty_cells(nbformat.read(p, as_version=4))]
    for p in dirty:
        print(f"{p} has outputs or execution counts: run `make notebooks-strip`", file=sys.stderr)
    return 1 if dirty else 0


if __name__ == "__main__":
    raise SystemExit(main())
