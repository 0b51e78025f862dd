"""The pipeline on a real Spark standalone cluster (a master and two workers, each its own
JVM, on 127.0.0.1) gives exactly the contents it gives on ``local[*]``.

The cluster run is a ``spark-submit --master spark://...`` of the documented kind: on a copy
of the session's published lake with its enhanced tier removed, it runs the model step for
the last date (every star, mart and air-quality table, each through its quality gate) and
the air-quality step for the last air-quality date, the daily run Airflow schedules.
Dimensions are rebuilt whole, facts and marts write the partitions of that day. Every
enhanced table the cluster wrote is then hashed row by row, each partition it holds against
the same partition of the published lake, which ``local[*]`` built over all 90 dates: the
cluster's daily run must reproduce exactly what the full local build published. The
executors see the lake only through the file system.
"""

from __future__ import annotations

import json
import shutil
import socket
import subprocess
import sys
from pathlib import Path

import pytest
from pyspark.sql import SparkSession

from c360.cluster import ClusterSpec, master_state, spark_home, start, stop
from c360.registry import registry
from c360.storage import DeltaStorage, LakeCatalog
from tests.conftest import PublishedLake, copy_lake
from tests.enhanced.star_checks import content_hash, partition_hashes

pytestmark = pytest.mark.slow


def _free_ports(n: int) -> list[int]:
    socks = [socket.socket() for _ in range(n)]
    try:
        for s in socks:
            s.bind(("127.0.0.1", 0))
        return [s.getsockname()[1] for s in socks]
    finally:
        for s in socks:
            s.close()


def _dates(values: tuple) -> str:  # noqa: ANN001 - tuple of dates
    return ",".join(d.isoformat() for d in values)


def test_enhanced_tier_on_a_two_worker_cluster_equals_local(
    spark: SparkSession, published_lake: PublishedLake, tmp_path: Path
) -> None:
    port, ui, worker_ui, _ = _free_ports(4)
    spec = ClusterSpec(workers=2, cores=1, memory="1g", port=port, ui_port=ui, worker_ui_port=worker_ui)
    root = copy_lake(published_lake.root, tmp_path / "lake")
    shutil.rmtree(root / "enhanced")
    state = tmp_path / "cluster"
    start(spec, state)
    try:
        env = {
            "PATH": f"{Path(sys.executable).parent}:/usr/bin:/bin",
            "HOME": str(tmp_path),
            "SPARK_HOME": str(spark_home()),
            "PYSPARK_PYTHON": sys.executable,
            "PYTHONPATH": str(Path(__file__).resolve().parents[2]),
            "C360_LAKE_ROOT": str(root),
            "C360_PSEUDONYM_KEY": published_lake.key.decode(),
            "C360_SPARK_UI": "false",
            "C360_SPARK_LOG_LEVEL": "ERROR",
        }
        cmd = [
            str(spark_home() / "bin" / "spark-submit"), "--master", spec.master_url,
            "--conf", "spark.executor.memory=1g", "--conf", "spark.cores.max=2",
            str(Path(__file__).with_name("build_on_cluster.py")),
            "--dates", _dates(published_lake.dates[-1:]), "--profile-dates", _dates(published_lake.profile_dates[-1:]),
            "--aq-dates", _dates(published_lake.air_quality_dates[-1:]),
        ]  # fmt: skip
        run = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=1200)
        assert run.returncode == 0, run.stdout[-3000:] + run.stderr[-5000:]
        assert f"master={spec.master_url}" in run.stdout, "spark-submit's --master must be the one used"
        assert "built" in run.stdout
        status = master_state(spec)
        assert status is not None
        apps = status.get("completedapps", []) + status.get("activeapps", [])
        assert len(apps) == 1, "the build ran as one application of this master: " + json.dumps(apps)[:2000]
    finally:
        stop(state)
    local, cluster = DeltaStorage(spark, published_lake.root), DeltaStorage(spark, root)
    names = [n for n in LakeCatalog(published_lake.root).list_tables() if n.startswith("enhanced.")]
    assert sorted(names) == sorted(n for n in LakeCatalog(root).list_tables() if n.startswith("enhanced."))
    differ = {n: parts for n in names if (parts := _differing_partitions(local, cluster, n))}
    assert differ == {}, f"contents differ between local[*] and the cluster: {differ}"


def _differing_partitions(local: DeltaStorage, cluster: DeltaStorage, name: str) -> list[object]:
    """The partitions (or ``["whole table"]``) whose rows differ; every partition the cluster
    wrote is compared with the same partition of the local lake."""
    built = cluster.read(name)
    if built.isEmpty():
        return ["no rows"]
    column = next(iter(registry().get(name).partition_by), None)
    if column is None:
        return [] if content_hash(built) == content_hash(local.read(name)) else ["whole table"]
    theirs, ours = partition_hashes(cluster, name, column), partition_hashes(local, name, column)
    return sorted((str(p) for p, h in theirs.items() if ours.get(p) != h))
