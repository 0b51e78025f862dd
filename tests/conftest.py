"""Shared fixtures: one SparkSession per test process, settings pointing at tmp lakes, and the
session lakes built once per test run.

`make test` runs the suite on two pytest-xdist workers (``--dist loadscope``: a module stays
whole on one worker, so its module fixtures are built once). The session lakes are built once
for the whole run, not once per worker: the first worker to need one builds it in the run's
shared temporary folder while the other waits for it (:func:`built_once`). Three workers on
the 2-core machine were slower (a fresh clone on 2026-12-02: 36:48 of pytest against 33:00
with two): the cores were busy 98% of the time (sampled every 5 s), and the three workers'
Spark JVMs only took turns on them.
"""

from __future__ import annotations

import fcntl
import os
import pickle
import shutil
import sys
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import date
from pathlib import Path
from typing import Any, TypeVar

import pytest

from c360.settings import Settings

# The modules that cost most run first, so that none of them is the tail of a parallel run;
# the rest keep their collection order. A scheduling hint only: a stale entry costs nothing.
SLOWEST_FIRST = (
    "tests/airflow/test_dag_runs.py",
    "tests/cluster/test_cluster.py",
    "tests/air_quality/test_air_quality_pipeline.py",
    "tests/governance/test_erasure.py",
    "tests/enhanced/test_model_reproducible.py",
    "tests/enhanced/test_model_gate.py",
    "tests/sanitized/test_mock_data_integration.py",
    "tests/enhanced/test_model_moves.py",
)


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    rank = {module: i for i, module in enumerate(SLOWEST_FIRST)}
    items.sort(key=lambda item: rank.get(item.nodeid.split("::")[0], len(rank)))  # stable


# A pytest-xdist worker runs under execnet, whose __main__ has neither __spec__ nor __file__.
# pyspark.sql.connect (which Great Expectations imports) takes such a process for a doctest run
# and calls sys.exit(0) when its optional Spark Connect packages are missing. Naming the main
# module's file tells it otherwise; a plain `pytest` process already has one.
_main = sys.modules["__main__"]
if _main.__spec__ is None and not hasattr(_main, "__file__"):
    _main.__file__ = "<pytest-xdist worker>"

T = TypeVar("T")


def built_once(name: str, tmp_path_factory: pytest.TempPathFactory, build: Callable[[Path], T]) -> T:
    """``build(folder)``'s result, built once per test run even when several pytest-xdist
    workers ask for it: the first builds it under the run's shared temporary folder (holding
    a file lock), the others wait on the lock and read the pickled result. A failed build
    leaves no result, so the next worker tries again and fails with its own error."""
    base = tmp_path_factory.getbasetemp()
    shared = base.parent if os.environ.get("PYTEST_XDIST_WORKER") else base
    folder, result = shared / name, shared / f"{name}.pickle"
    with (shared / f"{name}.lock").open("w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)  # released when the file closes
        if result.exists():
            return pickle.loads(result.read_bytes())  # noqa: S301 - written by this run's own build
        shutil.rmtree(folder, ignore_errors=True)  # what a failed build left
        folder.mkdir()
        value = build(folder)
        result.write_bytes(pickle.dumps(value))
        return value


@pytest.fixture(scope="session")
def spark_settings(tmp_path_factory: pytest.TempPathFactory) -> Settings:
    return Settings(
        lake_root=tmp_path_factory.mktemp("lake"),
        spark_master="local[2]",
        spark_shuffle_partitions=2,
        spark_ui=False,
        spark_driver_memory="2g",
        spark_log_level="ERROR",
    )


@pytest.fixture(scope="session")
def spark(spark_settings: Settings) -> Iterator[object]:
    from c360.spark import CODEGEN_FACTORY_MODE, get_spark

    # Sized as a small run (C1 only, c360.spark.C1_ONLY_JIT), as `c360 run` starts it for mock_data:
    # the tests read tiny frames and mock_data, and C2 cost more than it saved (docs/benchmarks.md).
    session = get_spark(spark_settings, rows=0)
    # Expressions interpreted, as c360 runs every step under a million rows read
    # (c360.spark.codegen_for_rows), also where a test calls a step's function directly: compiling
    # each new expression is a fixed cost that tiny frames never earn back (tests of sanitize, the
    # model and the marts used 9% less CPU, docs/benchmarks.md). Tests of compiled code ask for it
    # (``compiled_expressions``).
    session.conf.set(CODEGEN_FACTORY_MODE, "NO_CODEGEN")
    yield session
    session.stop()


def spark_job_ids(spark: Any, group: str | None = None) -> list[int]:  # noqa: ANN401 - a SparkSession
    """The ids of the Spark jobs of ``group`` (None: of no group) that the status tracker holds,
    once the listener bus has delivered every event posted so far: the tracker learns of a job
    from that bus, which may lag behind the action that ran it. The tracker keeps the newest
    1,000 jobs (``spark.ui.retainedJobs``)."""
    sc = spark.sparkContext
    sc._jsc.sc().listenerBus().waitUntilEmpty(60_000)
    return list(sc.statusTracker().getJobIdsForGroup(group))


@pytest.fixture(autouse=True)
def _warm_up_ended() -> Iterator[None]:
    """A run starts a warm-up query in a thread it never joins (c360.spark.warm_up): joined
    here after each test, so that its jobs and compilations never land in a later test's
    measure of the shared session (job ids, compiled classes, Py4J calls)."""
    import threading

    yield
    for thread in threading.enumerate():
        if thread.name == "c360-warm-up":
            thread.join(timeout=300)


@pytest.fixture
def compiled_expressions(spark: Any) -> Iterator[None]:  # noqa: ANN401 - a SparkSession
    """The test runs with Spark's default: every expression compiled (the session interprets them).
    Chosen and restored as a large step's (c360.spark.codegen_for_rows)."""
    from c360.spark import codegen_for_rows

    with codegen_for_rows(spark, rows=1, min_rows=0):
        yield


@pytest.fixture
def settings(tmp_path: Path, spark_settings: Settings) -> Settings:
    """Settings with a fresh lake per test (same Spark configuration)."""
    return spark_settings.model_copy(update={"lake_root": tmp_path / "lake"})


MOCK = Path(__file__).resolve().parents[1] / "mock_data"
MOCK_KEY = b"integration-test-key"  # the pseudonymisation key of the shared mock lake


@dataclass(frozen=True)
class MockRetailLake:
    """mock_data's retail extracts, every file ingested and every date sanitized in one call each."""

    root: Path
    dates: list[date]
    report: Any  # c360.sanitized.run.SanitizeReport of the one sanitize call


@pytest.fixture(scope="session")
def mock_retail_lake(spark: object, tmp_path_factory: pytest.TempPathFactory) -> MockRetailLake:
    """Built once per test run and shared by the raw/sanitized and star integration tests.

    Read-only: a test that writes copies it first (``copy_lake`` or, for the star,
    tests.enhanced.star_checks.copy_sanitized).
    """
    return built_once("mock_retail", tmp_path_factory, lambda folder: _build_mock_retail_lake(spark, folder))


def _build_mock_retail_lake(spark: object, root: Path) -> MockRetailLake:
    from c360.raw.ingest import discover, ingest
    from c360.sanitized.run import sanitize
    from c360.storage import DeltaStorage

    storage = DeltaStorage(spark, root)  # type: ignore[arg-type]
    files = [f for f in discover(MOCK) if f.contract is None or f.contract.domain != "air_quality"]
    ingest(spark, storage, files, MOCK_KEY, ingest_id="ingest-all")  # type: ignore[arg-type]
    dates = sorted({f.extract_date for f in files})
    # Two sources at a time, as the pipeline does by default: the tests that re-sanitize dates
    # one source at a time (test_mock_data_integration) then compare the two ways.
    report = sanitize(spark, storage, dates, MOCK_KEY, "sanitize-all", workers=2)  # type: ignore[arg-type]
    return MockRetailLake(root, dates, report)


def copy_lake(source: Path, target: Path) -> Path:
    """A private copy of a whole lake (Delta logs hold relative paths, so a copy is a lake)."""
    shutil.copytree(source, target)
    return target


@dataclass(frozen=True)
class PublishedLake:
    """mock_data through every tier: the star, the marts and the air-quality product.

    The one lake the end-to-end tests of the doors (API, SQL, notebooks, exports, catalog,
    erasure) share. Read-only: a test that writes copies it first (``copy_lake``).
    """

    root: Path
    dates: list[date]
    profile_dates: list[date]  # as-of dates of the Customer 360 profile
    air_quality_dates: list[date]  # run dates of the air-quality product
    key: bytes
    model: Any  # c360.enhanced.model.ModelReport of the one model build


@pytest.fixture(scope="session")
def published_lake(
    spark: object, mock_retail_lake: MockRetailLake, tmp_path_factory: pytest.TempPathFactory
) -> PublishedLake:
    """Built once per test run on a copy of the shared mock lake: the air-quality extracts are
    ingested and sanitized, the model runs for every date (profiles for the last three), and
    the air-quality product for the last two run dates, one run each (time-travel tests need
    an older version of every air-quality table)."""
    return built_once("published", tmp_path_factory, lambda root: _build_published_lake(spark, mock_retail_lake, root))


def _build_published_lake(spark: object, mock_retail_lake: MockRetailLake, folder: Path) -> PublishedLake:
    from c360.contracts import CONTRACTS
    from c360.pipeline import RunContext, air_quality_step, model_step
    from c360.raw.ingest import discover, ingest
    from c360.sanitized.run import sanitize
    from c360.storage import DeltaStorage

    root = copy_lake(mock_retail_lake.root, folder / "lake")
    storage = DeltaStorage(spark, root)  # type: ignore[arg-type]
    files = [f for f in discover(MOCK) if f.contract is not None and f.contract.domain == "air_quality"]
    ingest(spark, storage, files, MOCK_KEY, ingest_id="ingest-aq")  # type: ignore[arg-type]
    dates = mock_retail_lake.dates
    aq = tuple(c for c in CONTRACTS.values() if c.domain == "air_quality")
    sanitize(spark, storage, dates, MOCK_KEY, "sanitize-aq", aq)  # type: ignore[arg-type]
    settings = Settings(lake_root=root, pseudonym_key=MOCK_KEY.decode())
    ctx = RunContext(settings, spark, storage, run_id="published-lake")  # type: ignore[arg-type]
    profile_dates, aq_dates = dates[-3:], dates[-2:]
    model = model_step(ctx, dates, profile_dates)
    for day in aq_dates:  # one run per date, as the daily DAG publishes: the facts get a version per day
        air_quality_step(ctx, [day])
    return PublishedLake(root, dates, profile_dates, aq_dates, MOCK_KEY, model)


def patch_suite(monkeypatch: pytest.MonkeyPatch, name: str, suite: Any) -> None:
    """Swap a registered table's quality suite for the length of one test."""
    from dataclasses import replace

    from c360.registry import registry

    tables = registry().tables
    monkeypatch.setitem(tables, name, replace(tables[name], suite=suite))
