"""The c360 steps as Airflow tasks: one spark-submit batch per step and logical date.

A step is named after its entry point ``c360/jobs/<name>.py``; the DAGs list steps by name,
so a new step (``model``, ``air_quality``, a separate ``quality``) plugs in with one registry
entry. Every task runs ``spark-submit`` in a child process rather than Spark in the worker:
the driver JVM, its memory and its crash never share a process with Airflow's task runner,
a timeout kills the whole batch, and the same command runs on any cluster with ``--master``.

Settings are resolved when a task starts, never at parse time: an Airflow Variable
(``c360_lake_root``), else the environment (``C360_LAKE_ROOT``), else a default inside this
repository (``./lakehouse``, ``./mock_data``), so ``make demo`` and ``make airflow`` share a lake.
"""

from __future__ import annotations

import os
import sys
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path
from typing import Any

from airflow.providers.standard.hooks.subprocess import SubprocessHook, SubprocessResult
from airflow.providers.standard.operators.bash import BashOperator
from airflow.sdk import Asset, DeadlineAlert, DeadlineReference, SyncCallback, Variable, chain

from c360_airflow.assets import PUBLISHES
from c360_airflow.notify import FailureNotifier, deadline_missed

REPO = Path(__file__).resolve().parents[2]
OWNER = "c360-data-eng"
RETRIES = 2
RETRY_DELAY = timedelta(minutes=1)
RETRY_BACKOFF = 2.0  # 1, 2, 4 ... minutes: a busy lake or a flaky mount gets time to recover
MAX_RETRY_DELAY = timedelta(minutes=30)


@dataclass(frozen=True)
class Setting:
    variable: str
    env: str
    default: str
    is_path: bool = True


SETTINGS: dict[str, Setting] = {
    "lake_root": Setting("c360_lake_root", "C360_LAKE_ROOT", "lakehouse"),
    "source_dir": Setting("c360_source_dir", "C360_SOURCE_DIR", "mock_data"),
    "jobs_dir": Setting("c360_jobs_dir", "C360_JOBS_DIR", "c360/jobs"),
    # The interpreter running the task is the project's venv, which holds spark-submit and pyspark.
    "bin_dir": Setting("c360_bin_dir", "C360_BIN_DIR", str(Path(sys.executable).parent)),
    "spark_master": Setting("c360_spark_master", "C360_SPARK_MASTER", "local[*]", is_path=False),
    "spark_driver_memory": Setting("c360_spark_driver_memory", "C360_SPARK_DRIVER_MEMORY", "4g", is_path=False),
    "spark_java_options": Setting("c360_spark_java_options", "C360_SPARK_JAVA_OPTIONS", "", is_path=False),
}


def c360_setting(name: str) -> str:
    """Resolve a setting at task run time (a Jinja macro): Variable, then env, then default.

    Relative paths are taken from the repository root, not the task's temporary working folder.
    """
    setting = SETTINGS[name]
    try:
        value = Variable.get(setting.variable, default=None)
    except Exception:  # outside a task (no API server to ask): fall back to env and default
        value = None
    value = value or os.environ.get(setting.env) or setting.default
    if setting.is_path:
        path = Path(value).expanduser()
        value = str(path if path.is_absolute() else REPO / path)
    return str(value)


MACROS: dict[str, Any] = {"c360_setting": c360_setting}


@dataclass(frozen=True)
class Step:
    """One entry point ``c360/jobs/<name>.py --run-date D`` and how Airflow runs it."""

    name: str
    doc: str
    timeout: timedelta
    extra_args: str = ""
    # State carried from earlier dates (dedupe, SCD2) needs those dates done first.
    depends_on_past: bool = False
    # Tables the step publishes (tier.domain.table): Airflow Assets consumers schedule on,
    # generated from the table registry (c360_airflow/assets.py).
    publishes: tuple[str, ...] = ()

    @property
    def job(self) -> str:
        return f"c360/jobs/{self.name}.py"


STEPS: dict[str, Step] = {
    s.name: s
    for s in (
        Step(
            "ingest",
            "Copy the extract of the logical date from the source folder into the raw tier. "
            "Write-once per source file: a retry or a re-run of the date is a no-op.",
            timeout=timedelta(minutes=30),
            extra_args='--source "$C360_TASK_SOURCE" --sources "$C360_TASK_SOURCES"',
        ),
        Step(
            "sanitize",
            "Type, validate, de-duplicate and pseudonymise what raw received for the date; bad rows go "
            "to quarantine. Replaces the date's partitions, so re-runs never duplicate.",
            timeout=timedelta(minutes=60),
            extra_args='--sources "$C360_TASK_SOURCES"',
            depends_on_past=True,
        ),
        Step(
            "model",
            "Build the enhanced star schema and marts for the date. The quality gate runs inside "
            "the step (write-audit-publish): a failing gate fails the task and leaves the published "
            "version unchanged.",
            timeout=timedelta(minutes=90),
            depends_on_past=True,
            publishes=PUBLISHES["model"],
        ),
        Step(
            "air_quality",
            "Sanitized sensor readings to the air-quality star: hourly readings with their sub-indices "
            "and per-station daily AQI. Rewrites only the partitions the date owns.",
            timeout=timedelta(minutes=60),
            depends_on_past=True,
            publishes=PUBLISHES["air_quality"],
        ),
        Step(
            "maintenance",
            "Apply the registry's retention policies as of the logical date: expired partitions of "
            "raw and quarantine leave in one commit per table, and every table is vacuumed with its "
            "own time-travel window. Running a date twice removes nothing more.",
            timeout=timedelta(minutes=60),
        ),
    )
}


def table_asset(table: str) -> Asset:
    """The Airflow Asset of a published table: ``c360://<tier>/<domain>/<table>``."""
    tier, domain, name = table.split(".")
    return Asset(name=table, uri=f"c360://{tier}/{domain}/{name}", group="c360")


def default_args() -> dict[str, Any]:
    """What every c360 task carries: owner, retries with exponential backoff, a failure alert."""
    return {
        "owner": OWNER,
        "retries": RETRIES,
        "retry_delay": RETRY_DELAY,
        "retry_exponential_backoff": RETRY_BACKOFF,
        "max_retry_delay": MAX_RETRY_DELAY,
        "execution_timeout": timedelta(hours=1),
        "on_failure_callback": FailureNotifier(),
    }


SPARK_SUBMIT = """set -euo pipefail
export PATH="$C360_TASK_BIN:$PATH"
C360_TASK_JVM="-Duser.timezone=UTC -Dlog4j2.configurationFile=file:$C360_TASK_JOBS/../log4j2.properties"
# The venv's JVM class archive, when make venv wrote one (c360.spark.class_archive_options).
C360_TASK_CDS="$C360_TASK_BIN/../share/c360/spark-classes.jsa"
if [ -f "$C360_TASK_CDS" ]; then
  C360_TASK_JVM="$C360_TASK_JVM -XX:SharedArchiveFile=$C360_TASK_CDS -Xlog:cds=off -Xlog:cds+dynamic=off"
fi
# The venv's Hadoop local file system without a chmod process per file, when make venv built
# it (c360.spark.local_fs_conf): on the class path here, chosen by the job's session.
C360_TASK_FS=()
C360_TASK_FS_JAR="$C360_TASK_BIN/../share/c360/c360-hadoop.jar"
if [ -f "$C360_TASK_FS_JAR" ]; then
  C360_TASK_FS=(--driver-class-path "$C360_TASK_FS_JAR" --conf "spark.executor.extraClassPath=$C360_TASK_FS_JAR")
fi
# A step that reads few rows: its JVM compiles with C1 only (SparkStepOperator.execute chose).
if [ -n "${{C360_TASK_JIT:-}}" ]; then
  echo "c360: the step reads few rows; its JVM compiles with C1 only: $C360_TASK_JIT"
fi
exec spark-submit \\
  --master "$C360_SPARK_MASTER" \\
  --driver-memory "$C360_SPARK_DRIVER_MEMORY" \\
  --name "c360-{name}-$C360_TASK_RUN_DATE" \\
  --driver-java-options "$C360_TASK_JVM ${{C360_TASK_GC:-}} ${{C360_TASK_JIT:-}} $C360_SPARK_JAVA_OPTIONS" \\
  "${{C360_TASK_FS[@]}}" \\
  "$C360_TASK_JOBS/{name}.py" --run-date "$C360_TASK_RUN_DATE" --run-id "$C360_TASK_RUN_ID" {extra_args}
"""


class StepFailed(RuntimeError):
    """A step's spark-submit exited non-zero; the message ends with the job's own last output line."""


class _RememberingHook(SubprocessHook):
    """The subprocess hook, keeping the result (exit code and last output line) of its last command."""

    result: SubprocessResult | None = None

    def run_command(self, *args: Any, **kwargs: Any) -> SubprocessResult:
        self.result = super().run_command(*args, **kwargs)
        return self.result


class SparkStepOperator(BashOperator):
    """A BashOperator whose failure names the job's last output line (``error: <Type>: <message>``,
    what ``c360/jobs`` print before exiting 1), so alerts say why, not only "exit code 1"."""

    @property
    def subprocess_hook(self) -> _RememberingHook:  # type: ignore[override]
        hook = self.__dict__.get("_c360_hook")
        if hook is None:
            hook = self.__dict__["_c360_hook"] = _RememberingHook()
        return hook

    def execute(self, context: Any) -> Any:
        # The env is rendered by now: size the step's JVM before spark-submit starts it, and
        # give it c360's collector unless the user's JVM options choose one.
        from c360.spark import gc_options

        env = self.env or {}
        self.env = {
            **env,
            "C360_TASK_JIT": task_jit(self.task_id, env, self.log),
            "C360_TASK_GC": gc_options(env.get("C360_SPARK_JAVA_OPTIONS", "")),
        }
        try:
            return super().execute(context)
        except Exception as exc:
            result = self.subprocess_hook.result
            if result is None or result.exit_code == 0 or not result.output:
                raise
            raise StepFailed(f"{self.task_id} exited {result.exit_code}: {result.output.strip()}") from exc


def task_jit(step: str, env: dict[str, str], log: Any) -> str:
    """The JIT options of the step's JVM, chosen as ``c360 run`` chooses them
    (``c360.pipeline.step_rows``, ``c360.spark.C1_ONLY_JIT``): C1 only for a step that reads
    fewer rows than ``C360_C2_JIT_MIN_ROWS``, else C2 asked later (``c360.spark.LATE_C2_JIT``).
    Chosen when the task runs, because spark-submit starts the JVM before any c360 code does.
    A step it cannot size gets the JVM's default rather than a failed task: the step itself
    reports what is wrong with its inputs."""
    from datetime import date

    try:
        from c360.pipeline import step_rows
        from c360.settings import load_settings
        from c360.spark import C1_ONLY_JIT, LATE_C2_JIT

        day = date.fromisoformat(env["C360_TASK_RUN_DATE"])
        source = Path(env["C360_TASK_SOURCE"])
        rows = step_rows(step, Path(env["C360_LAKE_ROOT"]), day, source, env.get("C360_TASK_SOURCES"))
        if rows is None:  # a step that runs no Spark query
            return ""
        return C1_ONLY_JIT if rows < load_settings().c2_jit_min_rows else LATE_C2_JIT
    except Exception as exc:  # noqa: BLE001 - sizing is an optimisation; the step reports real errors
        log.warning("could not size step %s (%s: %s): the JVM's default JIT", step, type(exc).__name__, exc)
        return ""


def spark_submit_env() -> dict[str, str]:
    """The job's environment, templated at run time; values travel as variables, never spliced into shell."""
    return {
        "C360_LAKE_ROOT": "{{ c360_setting('lake_root') }}",
        "C360_SPARK_MASTER": "{{ c360_setting('spark_master') }}",
        "C360_SPARK_DRIVER_MEMORY": "{{ c360_setting('spark_driver_memory') }}",
        "C360_SPARK_JAVA_OPTIONS": "{{ c360_setting('spark_java_options') }}",
        "PYSPARK_PYTHON": "{{ c360_setting('bin_dir') }}/python",
        "PYSPARK_DRIVER_PYTHON": "{{ c360_setting('bin_dir') }}/python",
        "C360_TASK_BIN": "{{ c360_setting('bin_dir') }}",
        "C360_TASK_JOBS": "{{ c360_setting('jobs_dir') }}",
        "C360_TASK_SOURCE": "{{ c360_setting('source_dir') }}",
        "C360_TASK_RUN_DATE": "{{ ds }}",
        "C360_TASK_RUN_ID": "{{ run_id }}",
    }


def spark_step(name: str, sources: str | None = None) -> SparkStepOperator:
    """The task running step ``name`` for the run's logical date (``{{ ds }}``) as a spark-submit batch.

    ``sources`` is the DAG's source group (``c360.contracts.SOURCE_GROUPS``): ingest and sanitize
    touch only its contracts, so two DAGs on one date never write the same table.
    """
    step = STEPS[name]
    if "$C360_TASK_SOURCES" in step.extra_args and not sources:
        raise ValueError(f"step {name!r} needs the DAG's source group: spark_steps(..., sources='retail')")
    env = spark_submit_env() | ({"C360_TASK_SOURCES": sources} if sources else {})
    return SparkStepOperator(
        task_id=name,
        bash_command=SPARK_SUBMIT.format(name=name, extra_args=step.extra_args),
        env=env,
        append_env=True,
        # The jobs exit 1 on failure; no exit code means "skipped" for a pipeline step.
        skip_on_exit_code=None,
        execution_timeout=step.timeout,
        depends_on_past=step.depends_on_past,
        outlets=[table_asset(t) for t in step.publishes],
        doc_md=(
            f"**{name}** · `spark-submit {step.job} --run-date <logical date>`\n\n{step.doc}\n\n"
            "Retries with exponential backoff; a final failure alerts (see docs/airflow.md)."
        ),
    )


def spark_steps(*names: str, sources: str | None = None) -> list[SparkStepOperator]:
    """The steps as tasks, chained in the given order (call inside a ``with DAG(...)`` block)."""
    tasks = [spark_step(n, sources) for n in names]
    chain(*tasks)
    return tasks


DEADLINE_ENV = "C360_DEADLINE_MINUTES_{dag}"


def deadline_minutes(dag_id: str, default: timedelta) -> timedelta:
    """The DAG's deadline: ``C360_DEADLINE_MINUTES_<DAG_ID>`` in the DAG processor's environment,
    else ``default``. Read at parse time (a cheap environment lookup, no Variable): Airflow turns
    it into a deadline row when it creates each run."""
    env = DEADLINE_ENV.format(dag=dag_id.upper())
    raw = os.environ.get(env, "").strip()
    if not raw:
        return default
    try:
        minutes = float(raw)
    except ValueError:
        raise ValueError(f"{env}={raw!r} is not a number of minutes") from None
    if minutes <= 0:
        raise ValueError(f"{env}={raw!r} must be a positive number of minutes")
    return timedelta(minutes=minutes)


DEADLINES_SWITCH = "C360_DEADLINE_ALERTS"


def deadline(dag_id: str, default: timedelta) -> list[DeadlineAlert]:
    """Alert (``notify.deadline_missed``) when a run has not finished ``interval`` after it was queued.

    Queued-at, not logical date: a scheduled run is queued when its data interval ends, so the
    two agree for the daily runs, while a backfill or a re-run of an old date is not "late" the
    moment it starts. ``C360_DEADLINE_ALERTS=off`` leaves the alert out: Airflow 3.3.2's
    ``dag.test()`` (and so ``airflow dags test``) fails a DAG with a deadline when its run
    succeeds (it looks the alerts up by an id only the scheduler's copy has), see docs/airflow.md.
    """
    if os.environ.get(DEADLINES_SWITCH, "on").strip().lower() in ("off", "0", "false", "no"):
        return []
    return [
        DeadlineAlert(
            reference=DeadlineReference.DAGRUN_QUEUED_AT,
            interval=deadline_minutes(dag_id, default),
            callback=SyncCallback(deadline_missed),
            name=f"{dag_id} published",
        )
    ]
