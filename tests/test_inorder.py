"""c360.inorder: items run a few at a time, start after what they need, and finish in order;
the first failure in item order is raised and nothing after it commits. Plain Python items
(no Spark): the model's and sanitize's own tests cover the steps that use it."""

from __future__ import annotations

import threading
import time
from concurrent.futures import Future

import pytest

from c360.inorder import Turn, critical_first, run_in_order


class Log:
    """What the items did, in the order they did it (thread-safe)."""

    def __init__(self) -> None:
        self.events: list[str] = []
        self.lock = threading.Condition()
        self.running = 0
        self.most = 0

    def add(self, event: str) -> None:
        with self.lock:
            self.events.append(event)
            self.lock.notify_all()

    def wait_for(self, event: str) -> None:
        """Until ``event`` has happened: an order the test asserts is made, not raced for."""
        with self.lock:
            assert self.lock.wait_for(lambda: event in self.events, timeout=60), f"never: {event}"


def _work(log: Log, seconds: dict[str, float], fail: str | None = None, waits: dict[str, str] | None = None):  # noqa: ANN202
    """Each item logs its start, works ``seconds[item]`` (and, for an item in ``waits``, until
    that event), fails if it is ``fail``, then takes its turn and logs its commit."""

    def work(item: str, turn: Turn) -> str:
        with log.lock:
            log.running += 1
            log.most = max(log.most, log.running)
        log.add(f"start {item}")
        time.sleep(seconds.get(item, 0.0))
        if waits and item in waits:
            log.wait_for(waits[item])
        with log.lock:
            log.running -= 1
        if item == fail:
            raise ValueError(f"{item} broke")
        turn()
        log.add(f"commit {item}")
        return item.upper()

    return work


NEEDS = {"a": [], "b": [], "c": ["a"], "d": []}


def _run(
    log: Log, seconds: dict[str, float], workers: int, fail: str | None = None, waits: dict[str, str] | None = None
) -> list[str]:
    return run_in_order(
        list(NEEDS), _work(log, seconds, fail, waits), key=lambda i: i, needs=lambda i: NEEDS[i], workers=workers
    )


@pytest.mark.parametrize("workers", [1, 2, 3])
def test_results_and_commits_in_item_order_whatever_finishes_first(workers: int) -> None:
    log = Log()
    # "a" is the slowest: with workers, it works until "d" has started beside it, so "b" finishes
    # its work first but commits after "a".
    waits = {"a": "start d"} if workers > 1 else None
    assert _run(log, {}, workers, waits=waits) == ["A", "B", "C", "D"]
    commits = [e for e in log.events if e.startswith("commit")]
    assert commits == ["commit a", "commit b", "commit c", "commit d"]
    assert log.most <= workers
    if workers > 1:
        assert log.events.index("start b") < log.events.index("commit a")  # b ran beside a
        assert log.events.index("start d") < log.events.index("commit a")  # d, ready, not held behind c
    assert log.events.index("start c") > log.events.index("commit a")  # c reads a: after it


@pytest.mark.parametrize("workers", [1, 2])
def test_the_first_failure_is_raised_and_nothing_after_it_commits(workers: int) -> None:
    log = Log()
    # "b" fails after "d" could have finished its work beside it: "d" must not commit.
    with pytest.raises(ValueError, match="b broke"):
        _run(log, {"b": 0.3}, workers, fail="b")
    assert [e for e in log.events if e.startswith("commit")] == ["commit a"]


def test_an_item_whose_input_failed_is_not_started() -> None:
    log = Log()
    with pytest.raises(ValueError, match="a broke"):
        _run(log, {}, 2, fail="a")
    assert "start c" not in log.events
    assert not [e for e in log.events if e.startswith("commit")]


def test_the_failure_itself_is_raised_not_the_cancellation_of_an_item_beside_it() -> None:
    log = Log()
    # "b" runs beside the failing "a" and is cancelled at its turn; "a"'s error is what surfaces.
    with pytest.raises(ValueError, match="a broke"):
        _run(log, {}, 2, fail="a", waits={"a": "start b"})
    assert "start b" in log.events and not [e for e in log.events if e.startswith("commit")]


def test_an_item_waiting_for_its_turn_gives_its_slot_to_the_next() -> None:
    """Two slots: "b" is done long before slow "a" commits, and "d" starts in b's slot meanwhile
    (it held it until "a" committed); still no more than two items work at once."""
    log = Log()
    assert _run(log, {"b": 0.1, "d": 0.1}, workers=2, waits={"a": "start d"}) == ["A", "B", "C", "D"]
    assert log.events.index("start d") < log.events.index("commit a")
    assert log.most == 2
    assert [e for e in log.events if e.startswith("commit")] == ["commit a", "commit b", "commit c", "commit d"]


@pytest.mark.parametrize("workers", [1, 2])
def test_an_item_others_wait_for_goes_first_and_the_results_keep_item_order(workers: int) -> None:
    needs: dict[str, list[str]] = {"x": [], "y": [], "z": ["y"]}
    log = Log()
    out = run_in_order(list(needs), _work(log, {}), key=lambda i: i, needs=lambda i: needs[i], workers=workers)
    assert out == ["X", "Y", "Z"]
    assert [e for e in log.events if e.startswith("commit")] == ["commit y", "commit x", "commit z"]


def test_the_longest_chain_of_readers_first_then_item_order() -> None:
    assert critical_first([[], [], [1]]) == [1, 0, 2]
    # 1 -> 3 -> 4 is the longest chain; 0 and 3 (one reader each) tie, and 0 comes first.
    assert critical_first([[], [], [0], [1], [3]]) == [1, 0, 3, 2, 4]
    assert critical_first([[], [0], [1]]) == [0, 1, 2]
    assert critical_first([]) == []


class Interrupted(BaseException):
    """What the test's SIGINT handler raises in the main thread, as Python's raises KeyboardInterrupt."""


def test_ctrl_c_while_items_wait_for_their_turn_ends_the_run() -> None:
    """Ctrl-C (SIGINT) reaches the main thread while it waits for a slot. z started before y
    (y waits for x's rows) and waits at its turn for y, which never started: the run used to
    wait for z for ever instead of ending (``c360 run`` hung after Ctrl-C in sanitize)."""
    import os
    import signal

    import c360.inorder

    made: list[Future] = []

    class Recorded(Future):  # type: ignore[type-arg]
        def __init__(self) -> None:
            super().__init__()
            made.append(self)

    def stuck(signum: int, frame: object) -> None:
        for f in made:  # a regression fails here instead of hanging the suite
            if not f.done():
                f.set_exception(RuntimeError("never settled"))
        raise AssertionError("the run still waited 30 s after the interrupt")

    z_waits = threading.Event()

    def work(item: str, turn: Turn) -> str:
        if item == "x":  # the interrupt comes once z waits at its turn for y
            assert z_waits.wait(timeout=30)
            time.sleep(0.1)
            os.kill(os.getpid(), signal.SIGINT)
            time.sleep(0.2)
        if item == "z":
            z_waits.set()
        turn()
        return item

    def interrupted(signum: int, frame: object) -> None:
        signal.alarm(30)
        raise Interrupted

    needs = {"x": [], "y": ["x"], "z": []}
    handlers = signal.signal(signal.SIGINT, interrupted), signal.signal(signal.SIGALRM, stuck)
    patched = pytest.MonkeyPatch.context()
    try:
        with patched as mp:
            mp.setattr(c360.inorder, "Future", Recorded)
            with pytest.raises(Interrupted):
                run_in_order(list(needs), work, key=lambda i: i, needs=lambda i: needs[i], workers=2)
    finally:
        signal.alarm(0)
        signal.signal(signal.SIGINT, handlers[0])
        signal.signal(signal.SIGALRM, handlers[1])
    assert all(f.done() for f in made)
