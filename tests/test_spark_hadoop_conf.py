"""The session's Hadoop configuration without the shipped defaults of services c360 never
talks to (c360.spark.UNUSED_HADOOP_DEFAULTS): every query copies and serializes it."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from pyspark.sql import SparkSession

import c360.spark
from c360.spark import UNUSED_HADOOP_PATTERN, _drop_over_py4j, drop_unused_hadoop_defaults, local_fs_jar
from c360.storage import DeltaStorage

UNUSED = re.compile(UNUSED_HADOOP_PATTERN)


def _names(conf: object) -> list[str]:
    it = conf.iterator()  # type: ignore[attr-defined]
    out = []
    while it.hasNext():
        out.append(str(it.next().getKey()))
    return out


def test_a_session_holds_no_default_of_an_unused_service(spark: SparkSession, tmp_path: Path) -> None:
    session_conf = spark._jsc.hadoopConfiguration()  # type: ignore[union-attr]
    # What get_spark left, and what a query's configuration is copied from.
    assert not [n for n in _names(session_conf) if UNUSED.match(n)]
    assert not [n for n in _names(spark._jsparkSession.sessionState().newHadoopConf()) if UNUSED.match(n)]
    # The file system's own settings stay.
    assert session_conf.get("fs.AbstractFileSystem.file.impl") is not None
    assert session_conf.get("fs.permissions.umask-mode") is not None

    # A write and a read through Spark load Hadoop's HDFS classes, whose default files would
    # make Hadoop read every default file again if they had not registered before the drop.
    storage = DeltaStorage(spark, tmp_path / "lake")
    storage.append(spark.createDataFrame([(1, "a")], "id long, v string"), "ops.test.hadoop_conf")
    assert storage.read("ops.test.hadoop_conf").count() == 1
    spark.read.parquet(str(next((tmp_path / "lake").rglob("*.parquet")))).count()
    assert not [n for n in _names(session_conf) if UNUSED.match(n)]


@pytest.mark.parametrize("in_jvm", [True, False], ids=["c360's jar", "over Py4J"])
def test_a_value_set_on_purpose_stays(spark: SparkSession, monkeypatch: pytest.MonkeyPatch, in_jvm: bool) -> None:
    if not in_jvm:  # the way of a driver without c360's jar on its class path
        monkeypatch.setattr(c360.spark, "_driver_loads", lambda jvm, name: False)
    conf = spark._jsc.hadoopConfiguration()  # type: ignore[union-attr]
    conf.set("ipc.client.connect.timeout", "5000")
    conf.set("yarn.c360.test.marker", "kept")
    try:
        assert drop_unused_hadoop_defaults(spark) == 0
        assert conf.get("ipc.client.connect.timeout") == "5000"
        assert conf.get("yarn.c360.test.marker") == "kept"
    finally:
        conf.unset("ipc.client.connect.timeout")
        conf.unset("yarn.c360.test.marker")


def test_the_jvm_drops_what_py4j_drops_in_one_call(spark: SparkSession) -> None:
    jar = local_fs_jar()
    if jar is None or not jar.is_file():
        # The jar is an optimisation: an environment without javac has none, and the session
        # drops the defaults over Py4J (test_a_value_set_on_purpose_stays covers that way).
        # Under make test the install has just built it, so this runs.
        pytest.skip(f"no jar at {jar} in this environment: make venv builds it")
    jvm = spark._jvm  # type: ignore[attr-defined]
    # Two fresh configurations: Hadoop's defaults, and two values set on purpose.
    confs = [jvm.org.apache.hadoop.conf.Configuration() for _ in range(2)]
    for conf in confs:
        conf.set("ipc.client.connect.timeout", "5000")
        conf.set("yarn.c360.test.marker", "kept")
    in_jvm = jvm.c360.hadoop.HadoopDefaults.dropUnused(confs[0], UNUSED_HADOOP_PATTERN)
    over_py4j = _drop_over_py4j(jvm, confs[1])
    assert in_jvm == over_py4j > 100  # core-default.xml alone ships hundreds of ipc, ha and http ones
    kept = [sorted(_names(conf)) for conf in confs]
    assert kept[0] == kept[1]
    assert [n for n in kept[0] if UNUSED.match(n)] == ["ipc.client.connect.timeout", "yarn.c360.test.marker"]
