"""Work on a step's tables a few at a time, finishing them in order.

A step that writes several tables (the model's star and marts, sanitize's sources) spends a
day's few rows mostly on fixed latency per Spark job: planning, scheduling, small tasks.
A second table's jobs fill that time. What may overlap is each table's preparation (its
build, checkpoint, comparisons, quality gate); what stays in order is what later tables or
the caller see, above all the commits:

- an item starts once every item it ``needs`` has finished;
- its work calls ``turn()`` before its first commit (and before handing over results), which
  returns once every earlier item has finished, or raises :class:`Cancelled` when one failed.

So a failure is what it is one item at a time: the first failing item (in order) raises, and
no item after it commits.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Hashable, Iterable, Sequence
from concurrent.futures import FIRST_EXCEPTION, Future, ThreadPoolExecutor, wait
from typing import TypeVar

T = TypeVar("T")
R = TypeVar("R")

Turn = Callable[[], None]


class Cancelled(Exception):
    """An item not committed because an item before it failed."""


def _no_turn() -> None:
    """One item at a time: every earlier item has already finished well."""


def run_in_order(
    items: Sequence[T],
    work: Callable[[T, Turn], R],
    *,
    key: Callable[[T], Hashable],
    needs: Callable[[T], Iterable[Hashable]],
    workers: int,
    thread_name: str = "c360-inorder",
) -> list[R]:
    """``work(item, turn)`` for every item, ``workers`` at a time (module docstring); the
    results in item order. ``needs(item)``: keys of the earlier items it reads. Raises the
    first failure in item order."""
    if workers <= 1:
        return [work(item, _no_turn) for item in items]
    finished: dict[Hashable, Future[R]] = {}
    slots = threading.Semaphore(workers)
    with ThreadPoolExecutor(workers, thread_name_prefix=thread_name) as pool:
        before: Future[R] | None = None
        for item in items:
            wanted = [finished[k] for k in needs(item) if k in finished]
            if any(f.exception() for f in wait(wanted, return_when=FIRST_EXCEPTION).done):
                break  # an item it reads failed: that error is raised below, in item order
            slots.acquire()
            before = finished[key(item)] = pool.submit(_in_turn, work, item, before, slots)
    for future in finished.values():  # the first failure in item order; the rest were cut short
        error = future.exception()
        if error is not None and not isinstance(error, Cancelled):
            raise error
    return [future.result() for future in finished.values()]


def _in_turn(work: Callable[[T, Turn], R], item: T, before: Future[R] | None, slot: threading.Semaphore) -> R:
    def turn() -> None:
        if before is not None and before.exception() is not None:  # waits for it to finish
            raise Cancelled(repr(item))

    try:
        result = work(item, turn)
        turn()  # a work that committed nothing still hands over its result in order
        return result
    finally:
        slot.release()
