"""Work on a step's tables a few at a time, finishing them in order.

A step that writes several tables (the model's star and marts, sanitize's sources) spends a
day's few rows mostly on fixed latency per Spark job: planning, scheduling, small tasks.
A second table's jobs fill that time. What may overlap is each table's preparation (its
build, checkpoint, comparisons, quality gate); what stays in order is what later tables or
the caller see, above all the commits:

- an item starts once every item it ``needs`` has finished, and one of the ``workers`` slots
  is free;
- its work calls ``turn()`` before its first commit (and before handing over results), which
  returns once every earlier item has finished, or raises :class:`Cancelled` when one failed.
  An item waiting for its turn gives its slot to the next item: on a small day, the quick
  items that follow a slow one otherwise held every slot until it finished. What an item does
  after its turn needs no slot: one item at a time is past its turn.

The order is the items' own, except that an item whose chain of readers is longer goes
first among those whose inputs come before it (Kahn's topological sort, by the longest chain
of items that read it): the model's facts that the CLV fit and the profile wait for start
before facts nothing reads.

So a failure is what it is one item at a time: the first failing item (in that order)
raises, and no item after it commits.
"""

from __future__ import annotations

import contextlib
import threading
from collections.abc import Callable, Hashable, Iterable, Sequence
from concurrent.futures import FIRST_COMPLETED, Future, InvalidStateError, ThreadPoolExecutor, wait
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
    """``work(item, turn)`` for every item, ``workers`` at a time, in the order of
    :func:`critical_first` (module docstring); the results in item order. ``needs(item)``:
    keys of the earlier items it reads. Of the items ready to start, the first in that order
    starts first. Raises the first failure in that order."""
    position = {key(item): i for i, item in enumerate(items)}
    reads = [sorted({position[k] for k in needs(item) if position.get(k, i) < i}) for i, item in enumerate(items)]
    order = critical_first(reads)
    if workers <= 1:
        results = {i: work(items[i], _no_turn) for i in order}
        return [results[i] for i in range(len(items))]
    done: list[Future[R]] = [Future() for _ in items]  # each item's outcome, set when it ends
    previous = dict(zip(order[1:], order, strict=False))  # whose turn comes before each item's
    slots = threading.Semaphore(workers)
    waiting = list(order)
    # A thread per item: an item waiting for its turn keeps its thread, not its slot.
    with ThreadPoolExecutor(max(1, len(items)), thread_name_prefix=thread_name) as pool:
        try:
            while waiting:
                slots.acquire()
                ready = _first_ready(waiting, reads, done)
                if ready is None:  # something failed: nothing more starts (what runs is cancelled at its turn)
                    slots.release()
                    break
                before = done[previous[ready]] if ready in previous else None
                pool.submit(_settle, done[ready], _in_turn, work, items[ready], before, slots)
                waiting.remove(ready)
        finally:
            # Before the pool waits for its threads, whatever ended the loop (a failure, or
            # Ctrl-C while it waited for a slot): a started item waits at its turn for the
            # items before it, and one never started would keep it, and the run, waiting.
            for i in waiting:
                with contextlib.suppress(InvalidStateError):  # submitted just as the loop ended, and settled
                    done[i].set_exception(Cancelled(repr(items[i])))
    for i in order:  # the first failure; the items after it were cut short
        error = done[i].exception()
        if error is not None and not isinstance(error, Cancelled):
            raise error
    return [future.result() for future in done]


def critical_first(reads: Sequence[Sequence[int]]) -> list[int]:
    """The items (by position; ``reads[i]``: the earlier items item ``i`` reads) in a
    topological order: of the items whose inputs are placed, the one with the longest chain of
    items reading it, then the first."""
    readers: list[list[int]] = [[] for _ in reads]
    for i, inputs in enumerate(reads):
        for j in inputs:
            readers[j].append(i)
    chain = [0] * len(reads)
    for i in reversed(range(len(reads))):  # an item's readers come after it
        chain[i] = max((1 + chain[r] for r in readers[i]), default=0)
    order: list[int] = []
    placed: set[int] = set()
    pending = list(range(len(reads)))
    while pending:
        nxt = min((i for i in pending if placed.issuperset(reads[i])), key=lambda i: (-chain[i], i))
        order.append(nxt)
        placed.add(nxt)
        pending.remove(nxt)
    return order


def _first_ready(waiting: list[int], reads: list[list[int]], done: list[Future]) -> int | None:
    """The first waiting item whose inputs have all finished, once there is one; None as soon as
    any item has failed."""
    while True:
        if any(f.done() and f.exception() is not None for f in done):
            return None
        for i in waiting:
            if all(done[j].done() for j in reads[i]):
                return i
        wait([done[j] for i in waiting for j in reads[i] if not done[j].done()], return_when=FIRST_COMPLETED)


def _settle(outcome: Future[R], fn: Callable[..., R], *args: object) -> None:
    try:
        outcome.set_result(fn(*args))
    except BaseException as exc:  # noqa: BLE001 - handed to the caller, in item order
        outcome.set_exception(exc)


def _in_turn(work: Callable[[T, Turn], R], item: T, before: Future[R] | None, slot: threading.Semaphore) -> R:
    held = [True]

    def turn() -> None:
        if held[0]:  # waiting is not work: the slot goes to the next item meanwhile
            held[0] = False
            slot.release()
        if before is not None and before.exception() is not None:  # waits for it to finish
            raise Cancelled(repr(item))

    try:
        result = work(item, turn)
        turn()  # a work that committed nothing still hands over its result in order
        return result
    finally:
        if held[0]:  # failed before its turn
            slot.release()
