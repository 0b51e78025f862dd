"""The DAGs as the DAG processor sees them: they import, chain the right steps, and every task
carries the retry, timeout and alert policy."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from datetime import timedelta
from pathlib import Path

import pytest

from tests.conftest import MOCK, PublishedLake

REPO = Path(__file__).resolve().parents[2]
DAGS = REPO / "dags"

PIPELINES = {
    "c360_daily": ("ingest", "sanitize", "model"),
    "air_quality_daily": ("ingest", "sanitize", "air_quality"),
    "c360_maintenance": ("maintenance",),
}
# The marts consumers schedule on; the step publishes the whole star besides.
CONSUMED = {
    ("c360_daily", "model"): {
        "c360://enhanced/customer/customer360_profile",
        "c360://enhanced/sales/sales_by_segment_daily",
    },
    ("air_quality_daily", "air_quality"): {"c360://enhanced/air_quality/fct_aqi_daily"},
}


def _tasks() -> list[tuple[str, str]]:
    return [(dag_id, task_id) for dag_id, steps in PIPELINES.items() for task_id in steps]


def test_dags_import_without_errors(dagbag: object) -> None:
    assert dagbag.import_errors == {}  # type: ignore[attr-defined]
    assert set(dagbag.dag_ids) == set(PIPELINES)  # type: ignore[attr-defined]


@pytest.mark.parametrize("dag_id", PIPELINES)
def test_steps_run_in_order(dagbag: object, dag_id: str) -> None:
    dag = dagbag.dags[dag_id]  # type: ignore[attr-defined]
    steps = PIPELINES[dag_id]
    assert set(dag.task_ids) == set(steps)
    for upstream, downstream in zip(steps, steps[1:], strict=False):
        assert dag.get_task(downstream).upstream_task_ids == {upstream}
    assert dag.get_task(steps[0]).upstream_task_ids == set()
    assert dag.get_task(steps[-1]).downstream_task_ids == set()


@pytest.mark.parametrize("dag_id", PIPELINES)
def test_one_logical_date_at_a_time_and_no_surprise_catchup(dagbag: object, dag_id: str) -> None:
    dag = dagbag.dags[dag_id]  # type: ignore[attr-defined]
    assert dag.max_active_runs == 1
    assert dag.catchup is False
    assert dag.tags and dag.doc_md
    assert type(dag.timetable).__name__ == "CronDataIntervalTimetable"


@pytest.mark.parametrize(("dag_id", "task_id"), _tasks())
def test_every_task_retries_with_backoff_times_out_and_alerts(dagbag: object, dag_id: str, task_id: str) -> None:
    from c360_airflow.notify import FailureNotifier

    task = dagbag.dags[dag_id].get_task(task_id)  # type: ignore[attr-defined]
    assert task.retries >= 2
    assert task.retry_delay > timedelta(0)
    assert task.retry_exponential_backoff > 1
    assert task.max_retry_delay is not None and task.max_retry_delay > task.retry_delay
    assert task.execution_timeout is not None and task.execution_timeout > timedelta(0)
    assert any(isinstance(cb, FailureNotifier) for cb in task.on_failure_callback)
    assert task.owner == "c360-data-eng"
    assert task.doc_md and f"c360/jobs/{task_id}.py" in task.doc_md


@pytest.mark.parametrize(("dag_id", "task_id"), _tasks())
def test_every_task_is_a_spark_submit_of_its_entry_point_for_the_logical_date(
    dagbag: object, dag_id: str, task_id: str
) -> None:
    dag = dagbag.dags[dag_id]  # type: ignore[attr-defined]
    task = dag.get_task(task_id)
    assert task.task_type == "SparkStepOperator"  # a BashOperator naming the job's last output line
    assert "exec spark-submit" in task.bash_command
    assert f'"$C360_TASK_JOBS/{task_id}.py" --run-date "$C360_TASK_RUN_DATE"' in task.bash_command
    env = dag.get_template_env()
    rendered = {k: env.from_string(v).render(ds="2024-01-05", run_id="r1") for k, v in task.env.items()}
    assert rendered["C360_TASK_RUN_DATE"] == "2024-01-05"
    assert rendered["C360_TASK_RUN_ID"] == "r1"
    assert rendered["C360_TASK_JOBS"] == str(REPO / "c360" / "jobs")
    assert Path(rendered["C360_LAKE_ROOT"]).is_absolute()


@pytest.mark.parametrize(("dag_id", "task_id"), _tasks())
def test_every_task_runs_an_entry_point_that_exists(dag_id: str, task_id: str) -> None:
    """A DAG naming a job that is not in the repository is broken, whoever owns the job."""
    assert (REPO / "c360" / "jobs" / f"{task_id}.py").is_file()


@pytest.mark.parametrize(("dag_id", "task_id"), _tasks())
def test_published_tables_are_assets_on_the_producing_task(dagbag: object, dag_id: str, task_id: str) -> None:
    task = dagbag.dags[dag_id].get_task(task_id)  # type: ignore[attr-defined]
    uris = {a.uri for a in task.outlets}
    assert CONSUMED.get((dag_id, task_id), set()) <= uris
    if (dag_id, task_id) not in CONSUMED:
        assert uris == set()  # ingest and sanitize publish nothing
    for asset in task.outlets:
        tier, domain, table = asset.name.split(".")
        assert (tier, asset.uri) == ("enhanced", f"c360://{tier}/{domain}/{table}")


def test_the_assets_are_exactly_the_registry_s_published_tables(dagbag: object) -> None:
    """The DAG files may not import c360 (parse time): they read the module generated from the
    registry, and every published table of the registry is an Asset of exactly one step.

    ``dagbag`` puts the bundle root (dags/) on sys.path, as the DAG processor does.
    """
    from c360_airflow.steps import STEPS

    from c360.registry import registry

    published = [(t.name, t.product) for t in registry().published()]
    by_step = {name: set(step.publishes) for name, step in STEPS.items() if step.publishes}
    assert sorted(n for names in by_step.values() for n in names) == sorted(n for n, _ in published)
    assert by_step["model"] == {n for n, p in published if p == "customer.analytics.C360"}
    assert by_step["air_quality"] == {n for n, p in published if p == "environment.air_quality"}


class _Warnings(list):
    """A task logger's ``warning``, kept (Airflow's own logging may bypass pytest's capture)."""

    def warning(self, message: str, *args: object) -> None:
        self.append(message % args)


def test_a_task_s_jvm_is_sized_as_c360_run_sizes_it(
    published_lake: PublishedLake, monkeypatch: pytest.MonkeyPatch
) -> None:
    """spark-submit starts a task's JVM before any c360 code runs, so the operator chooses its
    JIT options when the task starts, by what the step reads (c360.pipeline.step_rows)."""
    from c360_airflow.steps import task_jit

    from c360.pipeline import step_rows
    from c360.spark import C1_ONLY_JIT, LATE_C2_JIT

    day = published_lake.dates[-1]
    env = {"C360_LAKE_ROOT": str(published_lake.root), "C360_TASK_RUN_DATE": str(day), "C360_TASK_SOURCE": str(MOCK)}
    log = _Warnings()
    monkeypatch.delenv("C360_C2_JIT_MIN_ROWS", raising=False)
    for step in ("ingest", "sanitize", "model", "air_quality"):
        assert 0 < (step_rows(step, published_lake.root, day, MOCK) or 0) < 1_000_000, step
        assert task_jit(step, env, log) == C1_ONLY_JIT, step
    assert task_jit("maintenance", env, log) == ""  # no Spark query to size
    monkeypatch.setenv("C360_C2_JIT_MIN_ROWS", "1")  # every step of mock_data is then large
    assert task_jit("model", env, log) == LATE_C2_JIT
    # A lake or date it cannot size: the JVM's default and a warning, never a failed task.
    assert not log
    assert task_jit("model", env | {"C360_TASK_RUN_DATE": "not-a-date"}, log) == ""
    assert len(log) == 1 and log[0].startswith("could not size step model (ValueError"), log


def test_the_operator_passes_its_choice_to_the_spark_submit_of_its_step(
    published_lake: PublishedLake, monkeypatch: pytest.MonkeyPatch
) -> None:
    from airflow.providers.standard.operators.bash import BashOperator
    from c360_airflow.steps import spark_step

    from c360.spark import C1_ONLY_JIT, THROUGHPUT_GC

    seen: list[dict[str, str]] = []
    monkeypatch.setattr(BashOperator, "execute", lambda self, context: seen.append(dict(self.env)))
    monkeypatch.delenv("C360_C2_JIT_MIN_ROWS", raising=False)
    task = spark_step("model")
    # The env as Airflow renders it before execute: the published lake, a date of mock_data.
    task.env = {"C360_LAKE_ROOT": str(published_lake.root), "C360_TASK_SOURCE": str(MOCK)}
    task.env["C360_TASK_RUN_DATE"] = str(published_lake.dates[-1])
    task.execute({})
    assert seen[0]["C360_TASK_JIT"] == C1_ONLY_JIT
    assert seen[0]["C360_TASK_GC"] == THROUGHPUT_GC
    options = '--driver-java-options "$C360_TASK_JVM ${C360_TASK_GC:-} ${C360_TASK_JIT:-} $C360_SPARK_JAVA_OPTIONS"'
    assert options in task.bash_command
    # A collector chosen in the user's JVM options is theirs alone: a JVM refuses two.
    task.env["C360_SPARK_JAVA_OPTIONS"] = "-XX:+UseG1GC"
    task.execute({})
    assert seen[1]["C360_TASK_GC"] == ""


def test_settings_come_from_the_environment_before_the_defaults(monkeypatch: pytest.MonkeyPatch) -> None:
    from c360_airflow.steps import c360_setting

    monkeypatch.delenv("C360_LAKE_ROOT", raising=False)
    monkeypatch.delenv("C360_SOURCE_DIR", raising=False)
    # The defaults are the lake `make demo` writes and the project's mock data.
    assert c360_setting("lake_root") == str(REPO / "lakehouse")
    assert c360_setting("source_dir") == str(REPO / "mock_data")
    monkeypatch.setenv("C360_LAKE_ROOT", "/data/lake")
    assert c360_setting("lake_root") == "/data/lake"
    # A relative path means the repository, not the task's temporary working folder.
    monkeypatch.setenv("C360_LAKE_ROOT", "lake2")
    assert c360_setting("lake_root") == str(REPO / "lake2")
    monkeypatch.setenv("C360_SPARK_MASTER", "spark://host:7077")
    assert c360_setting("spark_master") == "spark://host:7077"


PARSE_PROBE = """
import json, sys, time
from pathlib import Path
import airflow.sdk  # the DAG processor has Airflow loaded before it parses a file
from airflow.configuration import conf
from airflow.dag_processing.dagbag import BundleDagBag

dags = Path(sys.argv[1])
before = set(sys.modules)
started = time.perf_counter()
bag = BundleDagBag(dag_folder=str(dags), bundle_path=dags, bundle_name="dags-folder")
print(json.dumps({
    "total": time.perf_counter() - started,
    "files": {s.file: s.duration.total_seconds() for s in bag.dagbag_stats},
    "errors": bag.import_errors,
    "new_modules": sorted(set(sys.modules) - before),
    "timeout": conf.getfloat("core", "dagbag_import_timeout"),
}))
"""


def test_parse_imports_neither_pyspark_nor_c360_and_ends_within_airflows_timeout() -> None:
    """In a fresh interpreter, like the DAG processor: what parsing the dags folder imports, and
    that each file parses within the time after which Airflow drops it. How fast it parses is a
    benchmark's figure, not a test's: what keeps it fast is that nothing heavy is imported."""
    env = {k: v for k, v in os.environ.items() if k.startswith(("AIRFLOW", "PATH", "HOME"))}
    out = subprocess.run(
        [sys.executable, "-W", "ignore", "-c", PARSE_PROBE, str(DAGS)],
        capture_output=True,
        text=True,
        env=env,
        timeout=120,
        check=True,
    )
    probe = json.loads(out.stdout.strip().splitlines()[-1])
    assert probe["errors"] == {}
    assert set(probe["files"]) == {"c360_daily.py", "air_quality_daily.py", "c360_maintenance.py"}
    assert all(seconds < probe["timeout"] for seconds in probe["files"].values()), probe["files"]
    heavy = [m for m in probe["new_modules"] if m.split(".")[0] in ("pyspark", "great_expectations", "c360", "py4j")]
    assert heavy == []
    assert "c360_airflow.steps" in probe["new_modules"]  # the probe did parse the DAG files


def test_each_product_dag_ingests_and_sanitizes_only_its_own_source_group(dagbag: object) -> None:
    """The retail and air-quality DAGs pass disjoint source groups that together cover every
    contract, so running both for one date never writes the same raw or sanitized table."""
    from c360.contracts import CONTRACTS, SOURCE_GROUPS

    groups = {}
    for dag_id in ("c360_daily", "air_quality_daily"):
        dag = dagbag.dags[dag_id]  # type: ignore[attr-defined]
        ingest, sanitize = dag.get_task("ingest"), dag.get_task("sanitize")
        assert '--sources "$C360_TASK_SOURCES"' in ingest.bash_command
        assert '--sources "$C360_TASK_SOURCES"' in sanitize.bash_command
        assert ingest.env["C360_TASK_SOURCES"] == sanitize.env["C360_TASK_SOURCES"]
        groups[dag_id] = ingest.env["C360_TASK_SOURCES"]
    assert groups == {"c360_daily": "retail", "air_quality_daily": "air_quality"}
    owned = [c.name for g in groups.values() for c in SOURCE_GROUPS[g]]
    assert sorted(owned) == sorted(CONTRACTS)  # each contract in exactly one DAG


@pytest.mark.parametrize(("dag_id", "hours"), [("c360_daily", 3), ("air_quality_daily", 2)])
def test_each_product_dag_has_a_deadline_alert_after_its_run_is_queued(dagbag: object, dag_id: str, hours: int) -> None:
    from airflow.sdk import DeadlineReference

    (alert,) = dagbag.dags[dag_id].deadline  # type: ignore[attr-defined]
    assert alert.reference == DeadlineReference.DAGRUN_QUEUED_AT
    assert alert.interval == timedelta(hours=hours)
    assert alert.callback.path == "c360_airflow.notify.deadline_missed"


def test_the_deadline_is_configurable_and_a_bad_value_is_refused(monkeypatch: pytest.MonkeyPatch) -> None:
    from c360_airflow.steps import deadline

    monkeypatch.setenv("C360_DEADLINE_MINUTES_C360_DAILY", "90")
    assert deadline("c360_daily", timedelta(hours=3))[0].interval == timedelta(minutes=90)
    monkeypatch.setenv("C360_DEADLINE_MINUTES_C360_DAILY", "soon")
    with pytest.raises(ValueError, match="C360_DEADLINE_MINUTES_C360_DAILY='soon' is not a number of minutes"):
        deadline("c360_daily", timedelta(hours=3))
    monkeypatch.setenv("C360_DEADLINE_ALERTS", "off")
    assert deadline("c360_daily", timedelta(hours=3)) == []
