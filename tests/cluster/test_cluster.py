"""The pipeline on a real Spark standalone cluster (a master and two workers, each its own
JVM, on 127.0.0.1) gives exactly the contents it gives on ``local[*]``.

The cluster run is one ``spark-submit --master spark://...`` of the documented kind, in two
parts (tests/cluster/build_on_cluster.py):

- **Ingest and sanitize** mock_data's first two dates, every source, into an empty lake: the
  executors read, parse and seal the files. The session's published lake went through the same
  two steps on ``local[2]`` (all 90 dates in one ingest and one sanitize; a date's partitions
  depend only on the extracts up to it), so every raw, sanitized and quarantine table of the
  cluster must hold exactly the rows of those two dates' partitions there (all but
  ``_ingest_time``, the clock, and ``_ingest_id``, the run's name), and every vault row the
  cluster wrote must be one the local ingest wrote.
- **Model and air quality** for the last date, on a copy of the session's published lake with
  its enhanced tier removed: every star, mart and air-quality table through its quality gate,
  the daily run Airflow schedules. Dimensions are rebuilt whole, facts and marts write the
  partitions of that day. Every enhanced table the cluster wrote is hashed row by row, each
  partition it holds against the same partition of the published lake, which ``local[*]``
  built over all 90 dates: the cluster's daily run must reproduce what the local build published.

The executors see the lakes only through the file system.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from c360.cluster import ClusterSpec, master_state, spark_home, start, stop
from c360.lake import Lake
from c360.ports import free_ports
from c360.registry import registry
from c360.spark import C1_ONLY_JIT, LOCAL_FS_CLASS, class_archive_options, local_fs_submit_options
from tests.conftest import MOCK, PublishedLake, copy_lake
from tests.enhanced.star_checks import INGESTED_TIERS, arrow_hash, arrow_partition_hashes, ingested_rows, row_set

pytestmark = pytest.mark.slow

RUN_ID = "cluster-test"
# Each JVM (driver and executors) runs a few short jobs over little data: C2 compilation would
# cost more CPU than it saves, on two cores shared by the master, two workers and the driver.
JAVA_OPTIONS = C1_ONLY_JIT


def _dates(values: tuple) -> str:  # noqa: ANN001 - tuple of dates
    return ",".join(d.isoformat() for d in values)


def test_ingest_and_enhanced_tier_on_a_two_worker_cluster_equal_local(
    published_lake: PublishedLake, tmp_path: Path
) -> None:
    port, ui, worker_ui = free_ports(3)
    spec = ClusterSpec(workers=2, cores=1, memory="1g", port=port, ui_port=ui, worker_ui_port=worker_ui)
    root = copy_lake(published_lake.root, tmp_path / "lake")
    shutil.rmtree(root / "enhanced")
    ingest_dates = published_lake.dates[:2]  # the first carries the station list
    cluster_ingest = tmp_path / "cluster-ingest"
    state = tmp_path / "cluster"
    start(spec, state)
    try:
        env = {
            # The machine's OpenBLAS settings, as a driver started from its shell inherits them: the
            # CLV fit's optimiser calls BLAS, whose kernel decides its last digits (docs/cluster.md).
            **{k: v for k, v in os.environ.items() if k.startswith("OPENBLAS_")},
            "PATH": f"{Path(sys.executable).parent}:/usr/bin:/bin",
            "HOME": str(tmp_path),
            "SPARK_HOME": str(spark_home()),
            "PYSPARK_PYTHON": sys.executable,
            "PYTHONPATH": str(Path(__file__).resolve().parents[2]),
            "C360_LAKE_ROOT": str(root),
            "C360_PSEUDONYM_KEY": published_lake.key.decode(),
            "C360_SPARK_UI": "false",
            "C360_SPARK_LOG_LEVEL": "ERROR",
            "C360_SPARK_JAVA_OPTIONS": JAVA_OPTIONS,  # the executors' (the driver's is below)
            # The executors read, parse and seal the files and score the AQI, as for more than a
            # day's few rows; a daily run's are otherwise done in the driver.
            "C360_INGEST_DRIVER_READ_MAX_BYTES": "0",
            "C360_AQI_LOCAL_MAX_ROWS": "0",
        }
        cmd = [
            str(spark_home() / "bin" / "spark-submit"), "--master", spec.master_url,
            "--conf", "spark.executor.memory=1g", "--conf", "spark.cores.max=2",
            # The class archive, as the DAG's tasks start their drivers (the executors' comes with the session).
            "--driver-java-options", f"-Duser.timezone=UTC {class_archive_options()} {JAVA_OPTIONS}",
            # c360's Hadoop local file system on the driver's and executors' class paths, as the DAG's tasks.
            *local_fs_submit_options(),
            str(Path(__file__).with_name("build_on_cluster.py")),
            "--ingest-lake", str(cluster_ingest), "--source", str(MOCK), "--ingest-dates", _dates(ingest_dates),
            "--run-id", RUN_ID,
            "--dates", _dates(published_lake.dates[-1:]), "--profile-dates", _dates(published_lake.profile_dates[-1:]),
            "--aq-dates", _dates(published_lake.air_quality_dates[-1:]),
        ]  # fmt: skip
        run = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=1200)
        assert run.returncode == 0, run.stdout[-3000:] + run.stderr[-5000:]
        assert f"master={spec.master_url}" in run.stdout, "spark-submit's --master must be the one used"
        if local_fs_submit_options():  # its executors wrote every table through it
            assert f"file_system={LOCAL_FS_CLASS}" in run.stdout
        assert "built" in run.stdout
        assert "aqi_jvm_equals_arrow=True" in run.stdout, "the executors' JVM kernel and Python kernel differ"
        status = master_state(spec)
        assert status is not None
        apps = status.get("completedapps", []) + status.get("activeapps", [])
        assert len(apps) == 1, "the build ran as one application of this master: " + json.dumps(apps)[:2000]
    finally:
        stop(state)
    # The comparisons read both lakes with delta-rs (Lake.arrow), not Spark: the same rows,
    # without two Spark jobs per table and side, and only the partitions compared.
    local, executors, cluster = Lake(published_lake.root), Lake(cluster_ingest), Lake(root)
    # The executors' ingest against the local one of the same two dates (the published lake's).
    ingested = [n for n in executors.names() if n.split(".")[0] in INGESTED_TIERS]
    expected = [n for n in local.names() if n.split(".")[0] in INGESTED_TIERS]
    assert set(ingested) <= set(expected), set(ingested) - set(expected)
    for domain in ("sales", "air_quality"):  # the executors parsed both kinds of source
        assert any(executors.arrow(n).num_rows for n in ingested if n.startswith(f"raw.{domain}."))
    differ = [n for n in expected if ingested_rows(local, n, ingest_dates) != ingested_rows(executors, n)]
    assert differ == [], f"ingest and sanitize differ between local[2] and the cluster: {differ}"
    sealed = row_set(executors, "vault.pii.values")
    assert sealed, "the cluster sealed no value"
    assert sealed <= row_set(local, "vault.pii.values"), "the cluster sealed values local did not"
    # The daily model and air-quality run against what local[*] published for the same day.
    names = [n for n in local.names() if n.startswith("enhanced.")]
    assert sorted(names) == sorted(n for n in cluster.names() if n.startswith("enhanced."))
    differ = {n: parts for n in names if (parts := _differing_partitions(local, cluster, n))}
    assert differ == {}, f"contents differ between local[*] and the cluster: {differ}"


def _differing_partitions(local: Lake, cluster: Lake, name: str) -> list[object]:
    """The partitions (or ``["whole table"]``) whose rows differ; every partition the cluster
    wrote is compared with the same partition of the local lake."""
    built = cluster.arrow(name)
    if not built.num_rows:
        return ["no rows"]
    column = next(iter(registry().get(name).partition_by), None)
    if column is None:
        return [] if arrow_hash(built) == arrow_hash(local.arrow(name)) else ["whole table"]
    written = set(built.column(column).to_pylist())
    # Only the partitions the cluster wrote (Lake.arrow cannot select a null partition: read all).
    ours = local.arrow(name, partitions=None if None in written else {column: written})
    theirs, mine = arrow_partition_hashes(built, column), arrow_partition_hashes(ours, column)
    return sorted(str(p) for p, h in theirs.items() if mine.get(p) != h)
