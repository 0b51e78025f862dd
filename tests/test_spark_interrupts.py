"""Ctrl-C with a Spark session (c360.spark.handle_interrupts): raised where no Py4J or PySpark
call is cut in half, never lost in a finalizer, and Spark's jobs cancelled meanwhile."""

from __future__ import annotations

import importlib.util
import os
import signal
import sys
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from types import ModuleType

import pytest
from pyspark.sql import SparkSession

import c360.spark as c360_spark
from c360.spark import INTERRUPTED, _Interrupts, handle_interrupts

# Stands for Py4J / PySpark: code a KeyboardInterrupt must not land in.
LIBRARY = """
import time

def busy(seconds, log):
    until = time.monotonic() + seconds
    while time.monotonic() < until:
        sum(range(1000))
    log.append("library call finished")

def finalizer(log):
    return lambda ref: busy(0.2, log)
"""


class Jobs:
    """A Spark context's stand-in: counts the cancellations."""

    def __init__(self) -> None:
        self.cancelled = 0

    def cancelAllJobs(self) -> None:  # noqa: N802 - SparkContext's name
        self.cancelled += 1


@pytest.fixture
def library(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> ModuleType:
    path = tmp_path / "spark_like.py"
    path.write_text(LIBRARY)
    spec = importlib.util.spec_from_file_location("spark_like", path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    monkeypatch.setattr(c360_spark, "_spark_folders", lambda: (str(tmp_path) + os.sep,))
    return module


@pytest.fixture
def handler() -> Iterator[Callable[[Jobs], _Interrupts]]:
    """Installs a handler for the test (the main thread's), then restores the one before."""
    before = signal.getsignal(signal.SIGINT)

    def install(jobs: Jobs) -> _Interrupts:
        interrupts = _Interrupts(jobs)
        signal.signal(signal.SIGINT, interrupts.handler)
        return interrupts

    try:
        yield install
    finally:
        signal.signal(signal.SIGINT, before)
        INTERRUPTED.clear()


def _interrupt_in(seconds: float) -> None:
    threading.Timer(seconds, os.kill, (os.getpid(), signal.SIGINT)).start()


def test_an_interrupt_inside_the_library_waits_for_its_call_to_return(
    library: ModuleType, handler: Callable[[Jobs], _Interrupts]
) -> None:
    jobs, log = Jobs(), []
    handler(jobs)
    _interrupt_in(0.3)
    with pytest.raises(KeyboardInterrupt):
        library.busy(1.0, log)
        log.append("the caller's next line")
    # Raised as the call returned, at the caller's next line: the call was never cut in half.
    assert log == ["library call finished"]
    assert INTERRUPTED.is_set() and jobs.cancelled >= 1  # Spark's jobs cancelled while it waited
    assert sys.getprofile() is None and sys.gettrace() is None  # the hooks are the test's again


def test_an_interrupt_that_waited_is_raised_once(library: ModuleType, handler: Callable[[Jobs], _Interrupts]) -> None:
    """The interrupt is raised by a trace function on the frame the call returned to; under a
    trace function of the thread's own (a debugger, coverage), that frame stays traced after
    the interrupt and must raise nothing more. (Python drops a trace function that raised, so
    the thread's own is not given back.)"""

    def tracer(frame: object, event: str, arg: object) -> None:
        return None  # calls only: frames are not traced line by line

    def middle() -> None:
        library.busy(0.3, log)
        log.append("middle's next line")  # where the interrupt is raised

    log: list[str] = []
    handler(Jobs())
    sys.settrace(tracer)
    try:
        _interrupt_in(0.1)
        with pytest.raises(KeyboardInterrupt):
            # The first call returns here, so this frame is traced; on the same line, before
            # this frame's next line, the second call returns into `middle`, which raises.
            (library.busy(0.3, log), middle())
        sys.settrace(tracer)  # this frame, traced to raise, is traced again
        for _ in range(3):
            log.append("went on")
    finally:
        sys.settrace(None)
    assert log == ["library call finished", "library call finished", "went on", "went on", "went on"]
    assert sys.getprofile() is None


def test_an_interrupt_in_a_finalizer_is_raised_after_it_not_ignored(
    library: ModuleType, handler: Callable[[Jobs], _Interrupts]
) -> None:
    import weakref

    class Member:
        pass

    jobs, log = Jobs(), []
    handler(jobs)
    member = Member()
    ref = weakref.ref(member, library.finalizer(log))  # as Py4J's objects are finalized
    _interrupt_in(0.05)
    with pytest.raises(KeyboardInterrupt):
        del member  # the callback runs here, and the interrupt lands in it
        log.append("after the finalizer")
    assert log == ["library call finished"] and ref() is None

    class WithDel:
        def __del__(self) -> None:
            os.kill(os.getpid(), signal.SIGINT)
            log.append("__del__ finished")

    log.clear()
    with pytest.raises(KeyboardInterrupt):
        obj = WithDel()
        del obj
        log.append("after __del__")
    assert log == ["__del__ finished"]


def test_an_interrupt_elsewhere_is_raised_at_once(handler: Callable[[Jobs], _Interrupts]) -> None:
    jobs = Jobs()
    handler(jobs)
    started = time.monotonic()
    _interrupt_in(0.1)
    with pytest.raises(KeyboardInterrupt):
        while time.monotonic() - started < 10:
            sum(range(1000))
    assert time.monotonic() - started < 5
    # Nothing waited, so no cancelling thread: the interrupt was raised where it landed.
    assert not any(t.name == "c360-interrupt" for t in threading.enumerate())


def test_a_spark_job_of_the_main_thread_is_cancelled_and_its_connection_still_answers(
    spark: SparkSession,
) -> None:
    """PySpark's own handler called Py4J from inside the interrupted Py4J call, over the same
    connection: the answers crossed, and the thread's next call read the old answer."""
    before = signal.getsignal(signal.SIGINT)  # other tests (Airflow's in-process runs) set their own
    handle_interrupts(spark)  # as get_spark does when it starts the session
    assert isinstance(getattr(signal.getsignal(signal.SIGINT), "__self__", None), _Interrupts)
    sleep = "reflect('java.lang.Thread', 'sleep', CAST(20000 AS BIGINT))"
    started = time.monotonic()
    _interrupt_in(1.0)
    try:
        with pytest.raises(KeyboardInterrupt):  # the main thread waits inside one Py4J call for the job
            spark.range(0, 2, numPartitions=2).selectExpr(sleep).write.format("noop").mode("overwrite").save()
        for n in (3, 5, 7):  # the main thread's Py4J calls answer their own questions
            assert spark.range(n).count() == n
            assert spark.range(n).selectExpr("sum(id)").first()[0] == n * (n - 1) // 2
        # The job was cancelled: with PySpark's handler the interrupt came at once, but the job
        # slept on, and the thread's next call waited for it (21 s).
        assert time.monotonic() - started < 15
    finally:
        signal.signal(signal.SIGINT, before)
        INTERRUPTED.clear()
