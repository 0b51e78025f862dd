"""The parallel runner of the JSON path: chunks of items through a pool of worker processes.

Why not ``multiprocessing.Pool`` or ``ProcessPoolExecutor``: when a worker dies, the first
loses the task silently and the second fails every pending task, so neither can say which
chunk killed it. Here each worker has its own pipe and holds at most one chunk, so a death
is charged to exactly that chunk: it is retried once on a fresh worker, then its records
come back as ``failed`` error records. Results are yielded in input order, and at most
``2 x workers + 1`` chunks are read ahead (the next one is read while the workers compute),
so memory stays bounded whatever the input size.

Fault injection (for tests and drills, documented in docs/aqi.md): when the environment
variable ``C360_AQI_FAULT_INJECTION`` names a folder, a worker that meets a record with
``"__crash__": "always"`` exits abruptly; with ``"once"`` it exits only the first time
(remembered by a marker file in that folder). Without the variable the key is ordinary data.
"""

from __future__ import annotations

import contextlib
import hashlib
import multiprocessing as mp
import os
import signal
import sys
from collections import deque
from collections.abc import Callable, Generator, Iterator
from dataclasses import dataclass
from multiprocessing.connection import Connection, wait
from pathlib import Path
from typing import Any

from c360.aqi.jsonio import (
    RAW_ECHO_CHARS,
    Item,
    LineBlock,
    Malformed,
    Spooled,
    Written,
    dumps,
    evaluate_block,
    evaluate_chunk,
    evaluate_item,
    expand_blocks,
    failed_record,
)
from c360.aqi.standards import Standard

FAULT_ENV = "C360_AQI_FAULT_INJECTION"
MAX_RETRIES = 1

# A processed chunk: result dicts, or (status, JSON line) pairs when serialising in the worker,
# or one Written (a whole block's JSON Lines text and counts).
Output = list[Any]


def process_chunk(items: list[Item], standard: Standard, as_json: bool) -> Output:
    """A chunk through the kernel; what it leaves (malformed text, odd records) per record.

    A block of JSON Lines goes through pyarrow's reader and the kernel as a whole; a block the
    fast path leaves (a malformed line, long-form records...) is read line by line, as before.
    """
    if len(items) == 1 and isinstance(items[0][1], LineBlock):
        block = items[0][1]
        try:
            written = evaluate_block(block, standard) if as_json else None
        except Exception:  # noqa: BLE001 - never the chunk's failure: the line path decides
            written = None
        if written is not None:
            return [written]
    items = expand_blocks(items)
    try:
        fast = evaluate_chunk(items, as_json, standard)
    except Exception:  # noqa: BLE001 - never the chunk's failure: the per-record path decides
        fast = [None] * len(items)
    return [
        result if result is not None else _process_item(item, standard, as_json)
        for result, item in zip(fast, items, strict=True)
    ]


def _process_item(item: Item, standard: Standard, as_json: bool) -> Any:
    """One item's result; an unexpected error in one record becomes that record's failure,
    never the chunk's (a caller's dict nested too deep to serialise, say)."""
    try:
        result = evaluate_item(item, standard)
        return (result["status"], dumps(result)) if as_json else result
    except Exception as exc:  # noqa: BLE001 - the per-record error boundary
        reason = f"{type(exc).__name__}: {exc}"[:RAW_ECHO_CHARS]
        where, payload = item
        if not isinstance(payload, (str, Malformed)):
            item = (where, Malformed("", "record could not be echoed"))  # its fields may be what failed
        failed = failed_record(item, standard, reason)
        return (failed["status"], dumps(failed)) if as_json else failed


def failed_chunk(items: list[Item], standard: Standard, as_json: bool, reason: str) -> Output:
    records = [failed_record(item, standard, reason) for item in expand_blocks(items)]
    return [("failed", dumps(r)) for r in records] if as_json else records


def _inject_faults(items: list[Item]) -> None:
    folder = os.environ.get(FAULT_ENV)
    if not folder:
        return
    for where, payload in expand_blocks(items):
        text = payload if isinstance(payload, str) else repr(payload)
        if '"__crash__": "always"' in text or "'__crash__': 'always'" in text:
            os._exit(70)
        if '"__crash__": "once"' in text or "'__crash__': 'once'" in text:
            marker = Path(folder) / hashlib.sha1(where.encode()).hexdigest()
            if not marker.exists():
                marker.touch()
                os._exit(70)


def _spool(output: Output, folder: Path | None, chunk_id: int) -> Output:
    """A worker's blocks of JSON Lines go to a file in ``folder`` (a RAM disk where there is
    one) rather than through the pipe: the parent copies the file into its output in the
    kernel, so the text is neither pickled nor read by Python on the way."""
    if folder is None:
        return output
    spooled: Output = []
    for entry in output:
        if isinstance(entry, Written) and entry.data:
            path = folder / f"{chunk_id}-{os.getpid()}.jsonl"
            path.write_bytes(entry.data)
            entry = Spooled(entry.ok, entry.invalid, entry.failed, str(path))
        spooled.append(entry)
    return spooled


def _worker_main(conn: Connection, standard: Standard, as_json: bool, spool: Path | None = None) -> None:
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # Ctrl-C is the parent's to handle
    if "pyarrow" in sys.modules:  # imported by the parent for the kernel's paths
        from c360.aqi.kernel import refuse_pandas, use_system_allocator

        use_system_allocator()
        refuse_pandas()
    while True:
        try:
            message = conn.recv()
        except (EOFError, OSError):
            return
        if message is None:
            return
        chunk_id, items = message
        _inject_faults(items)
        conn.send((chunk_id, _spool(process_chunk(items, standard, as_json), spool, chunk_id)))


@dataclass
class _Task:
    chunk_id: int
    items: list[Item]
    attempts: int = 0


@dataclass
class _Worker:
    process: Any
    conn: Connection
    task: _Task | None = None


def run_chunks(
    chunks: Iterator[list[Item]],
    standard: Standard,
    *,
    workers: int,
    as_json: bool = False,
    on_retry: Callable[[int, int], None] | None = None,
    spool: Path | None = None,
) -> Generator[Output, None, None]:
    """Process chunks in worker processes; yield each chunk's output in input order.

    A single chunk is processed in this process: starting workers would cost more than it
    saves, and there is nothing to run side by side. ``spool``: a folder where workers leave
    serialised blocks (:class:`Spooled`) for the caller to copy and delete.
    """
    first = next(chunks, None)
    if first is None:
        return
    second = next(chunks, None)
    if second is None:
        yield process_chunk(first, standard, as_json)
        return

    if as_json:
        from c360.aqi.kernel import prepare_json_lines

        prepare_json_lines(standard)  # once here, not in every forked worker

    def all_chunks() -> Iterator[list[Item]]:
        yield first
        yield second  # type: ignore[misc]
        yield from chunks

    yield from _Pool(standard, max(1, workers), as_json, on_retry, spool).run(all_chunks())


class _Pool:
    def __init__(
        self,
        standard: Standard,
        size: int,
        as_json: bool,
        on_retry: Callable[[int, int], None] | None,
        spool: Path | None = None,
    ) -> None:
        # fork where there is one: spawn would re-import the caller's __main__ (breaking
        # scripts without a main guard) and costs an interpreter start per replaced worker.
        # Workers only run pure Python (json, decimal), never the parent's JVM or threads.
        self._ctx: Any = mp.get_context("fork" if "fork" in mp.get_all_start_methods() else "spawn")
        self._standard = standard
        self._size = size
        self._as_json = as_json
        self._spool = spool
        self._on_retry = on_retry
        self._workers: list[_Worker] = []

    def _start(self) -> _Worker:
        parent, child = self._ctx.Pipe()
        process = self._ctx.Process(
            target=_worker_main, args=(child, self._standard, self._as_json, self._spool), daemon=True
        )
        process.start()
        child.close()
        return _Worker(process, parent)

    def run(self, chunks: Iterator[list[Item]]) -> Iterator[Output]:
        retry: deque[_Task] = deque()
        ahead: deque[list[Item]] = deque()  # the next chunk, read while the workers compute
        done: dict[int, Output] = {}
        next_id = next_out = 0
        exhausted = False
        try:
            self._workers = [self._start() for _ in range(self._size)]
            while True:
                for worker in self._workers:
                    if worker.task is not None:
                        continue
                    if retry:
                        task = retry.popleft()
                    elif (ahead or not exhausted) and next_id - next_out < 2 * self._size:
                        items = ahead.popleft() if ahead else next(chunks, None)
                        if items is None:
                            exhausted = True
                            continue
                        task, next_id = _Task(next_id, items), next_id + 1
                    else:
                        continue
                    try:
                        worker.conn.send((task.chunk_id, task.items))
                        worker.task = task
                    except (OSError, ValueError):  # died idle: not this chunk's fault
                        self._replace(worker)
                        retry.appendleft(task)
                while next_out in done:
                    yield done.pop(next_out)
                    next_out += 1
                if not ahead and not exhausted:
                    # Read now, not when a worker asks for it: a worker then never waits for
                    # the parent to read its next chunk.
                    items = next(chunks, None)
                    if items is None:
                        exhausted = True
                    else:
                        ahead.append(items)
                busy = [w for w in self._workers if w.task is not None]
                if not busy:
                    if exhausted and not retry and not ahead:
                        return
                    continue
                ready = set(wait([w.conn for w in busy] + [w.process.sentinel for w in busy]))
                for worker in busy:
                    if worker.conn not in ready and worker.process.sentinel not in ready:
                        continue
                    if worker.task is None:
                        continue
                    task = worker.task
                    try:
                        chunk_id, output = worker.conn.recv()
                        done[chunk_id] = output
                        worker.task = None
                        continue
                    except (EOFError, OSError, ConnectionError):
                        pass  # the worker died holding this chunk
                    self._replace(worker)
                    task.attempts += 1
                    if self._on_retry is not None:
                        self._on_retry(task.chunk_id, task.attempts)
                    if task.attempts <= MAX_RETRIES:
                        retry.append(task)
                    else:
                        reason = f"worker process died {task.attempts} times processing this chunk"
                        done[task.chunk_id] = failed_chunk(task.items, self._standard, self._as_json, reason)
        finally:
            self._shutdown()

    def _replace(self, worker: _Worker) -> None:
        worker.process.join(timeout=5)
        worker.conn.close()
        fresh = self._start()
        worker.process, worker.conn, worker.task = fresh.process, fresh.conn, None

    def _shutdown(self) -> None:
        for worker in self._workers:
            with contextlib.suppress(OSError, ValueError):
                worker.conn.send(None)
        for worker in self._workers:
            worker.process.join(timeout=5)
            if worker.process.is_alive():
                worker.process.terminate()
                worker.process.join(timeout=5)
            worker.conn.close()
        self._workers = []
