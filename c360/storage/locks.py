"""Exclusive locks on a lake, for work that must not run twice at once.

Delta commits are optimistic, and most of c360's writes are safe under them: two partition
replaces of the same date conflict, and the later one fails (``CommitConflictError``). An
ingest is not: it asks the raw table which source files it already holds, then appends the
others. Two ingests of the same extracts at once (``c360 run`` by hand while Airflow's task
runs, or an Airflow retry beside an attempt that still runs) both heard "not yet" and both
appended: every file twice. So an ingest holds its source group's lock from that question to
its last commit.

An erasure must not run beside any step either: a model step that read the star before the
erasure and commits after it publishes the subject again (today's profile partition, which
the erasure never saw). So every pipeline step (``RunContext.step``: ingest, sanitize, model,
air quality, maintenance) holds the lake's ``pipeline`` lock shared, which lets steps run
side by side, and an erasure holds it exclusively, which waits for none of them. The serving
audit's appends (a server's batches, ``c360 export``) hold it shared too: a server's batch
appended while an erasure ran was never read by it, and kept the subject's requests. They
are brief, so an erasure waits a few seconds for them (``ERASURE_WAIT_SECONDS``).

The locks are ``flock`` locks on files in ``<lake_root>/_locks``: the kernel releases them
when their process ends, however it ends, so a killed run never leaves the lake locked. A
step that finds a lock held stops before doing anything, naming the holder (process, host,
what it is doing, since when). ``flock`` works across the machines of a shared file system
only where that file system supports it (NFSv4 does; docs/cluster.md).
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
import socket
import time
from collections.abc import Iterable, Iterator
from datetime import UTC, datetime
from pathlib import Path

LOCK_DIR = "_locks"
PIPELINE_LOCK = "pipeline"  # shared by every pipeline step, exclusive for an erasure
ERASURE_WAIT_SECONDS = 10.0  # how long an erasure waits for the pipeline lock (the audit's appends take ms)


class LakeBusyError(RuntimeError):
    """Another process holds a lock this work needs; nothing was done."""


def ingest_lock(group: str) -> str:
    """The lock an ingest of the source group ``group`` holds."""
    return f"ingest.{group}"


def lock_path(lake_root: Path, name: str) -> Path:
    return Path(lake_root) / LOCK_DIR / f"{name}.lock"


def _holder(fd: int) -> str:
    try:
        info = json.loads(os.pread(fd, 4096, 0) or b"{}")
    except (OSError, ValueError):
        info = {}
    if not info:  # shared holders write nothing: several hold it at once
        return "by running pipeline steps (c360 run, a spark-submit job or an Airflow task), or one starting"
    where = f"process {info.get('pid', '?')} on {info.get('host', '?')}"
    return f"{info.get('what', '?')}, {where}, since {info.get('since', '?')}"


def _open(path: Path) -> int:
    """The lock file, created writable as the umask allows (a group-shared lake stays shared);
    one another user created and this one may not write is opened to read: flock needs no more."""
    try:
        return os.open(path, os.O_RDWR | os.O_CREAT, 0o666)
    except PermissionError:
        return os.open(path, os.O_RDONLY)


def _flock(fd: int, mode: int, deadline: float) -> bool:
    """Take the lock, trying again every 50 ms until ``deadline``; False if it stayed held."""
    while True:
        try:
            fcntl.flock(fd, mode | fcntl.LOCK_NB)
            return True
        except BlockingIOError:
            if time.monotonic() >= deadline:
                return False
            time.sleep(0.05)


@contextlib.contextmanager
def lake_locks(
    lake_root: Path, names: Iterable[str], what: str, *, shared: Iterable[str] = (), wait: float = 0.0
) -> Iterator[None]:
    """Hold the lake's locks ``names`` exclusively and ``shared`` shared for the block (taken in
    name order, so two holders of overlapping sets never wait on each other), or raise
    :class:`LakeBusyError`, holding nothing: at once, or after trying for ``wait`` seconds (for
    holders known to be brief, such as a server appending its audit records)."""
    modes = {name: fcntl.LOCK_SH for name in shared} | {name: fcntl.LOCK_EX for name in names}
    deadline = time.monotonic() + wait
    held: list[tuple[int, int]] = []
    try:
        for name in sorted(modes):
            path = lock_path(lake_root, name)
            path.parent.mkdir(parents=True, exist_ok=True)
            fd = _open(path)
            if not _flock(fd, modes[name], deadline):
                holder = _holder(fd)
                os.close(fd)
                raise LakeBusyError(
                    f"{what}: the lake's {name} lock is held ({holder}); nothing was done. Run again once "
                    f"that has ended (its process releases {path} when it exits)"
                ) from None
            held.append((fd, modes[name]))
            if modes[name] == fcntl.LOCK_EX:  # the one holder says who it is
                since = datetime.now(UTC).isoformat(timespec="seconds")
                info = {"what": what, "pid": os.getpid(), "host": socket.gethostname(), "since": since}
                with contextlib.suppress(OSError):  # a lock file another user created: held, not signed
                    os.ftruncate(fd, 0)
                    os.pwrite(fd, json.dumps(info).encode(), 0)
        yield
    finally:
        for fd, mode in reversed(held):
            if mode == fcntl.LOCK_EX:
                with contextlib.suppress(OSError):
                    os.ftruncate(fd, 0)
            os.close(fd)  # closing the file releases its flock
