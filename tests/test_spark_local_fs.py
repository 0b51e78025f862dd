"""c360's Hadoop local file system (c360/jvm/LocalFileSystem.java): the permissions Hadoop's
own sets, without a ``chmod`` process per folder and file (docs/benchmarks.md, "Spark's writes
without a chmod process per file"). Sessions use it when ``make venv`` built its jar, and never
fail for lack of it."""

from __future__ import annotations

import os
import stat
from pathlib import Path

import pytest
from pyspark.sql import SparkSession

from c360.spark import LOCAL_FS_CLASS, LOCAL_FS_IMPL, local_fs_conf, local_fs_jar, local_fs_submit_options


def test_the_settings_name_the_jar_only_when_it_exists(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    jar = tmp_path / "c360-hadoop.jar"
    assert local_fs_conf(jar) == {} and local_fs_submit_options(jar) == []
    jar.write_bytes(b"")
    assert local_fs_conf(jar) == {
        "spark.driver.extraClassPath": str(jar),
        "spark.executor.extraClassPath": str(jar),
        LOCAL_FS_IMPL: LOCAL_FS_CLASS,
    }
    assert local_fs_submit_options(jar) == [
        "--driver-class-path", str(jar), "--conf", f"spark.executor.extraClassPath={jar}",
    ]  # fmt: skip
    monkeypatch.setenv("C360_SPARK_LOCAL_FS_JAR", str(jar))
    assert local_fs_jar() == jar and local_fs_conf()[LOCAL_FS_IMPL] == LOCAL_FS_CLASS
    monkeypatch.setenv("C360_SPARK_LOCAL_FS_JAR", "off")
    assert local_fs_jar() is None and local_fs_conf() == {}


def _mode(path: Path) -> int:
    return stat.S_IMODE(os.stat(path).st_mode)


def test_writes_go_through_it_with_hadoops_permissions(spark: SparkSession, tmp_path: Path) -> None:
    jar = local_fs_jar()
    if jar is None or not jar.is_file():
        # An optimisation, not a requirement: an environment installed without make, or on a
        # JRE without javac, has no jar, and Spark uses Hadoop's own file system (the settings
        # test above covers that choice). Under make test the install has just built it.
        pytest.skip(f"no jar at {jar} in this environment: make venv builds it")
    jvm = spark._jvm  # type: ignore[attr-defined]
    conf = spark._jsc.hadoopConfiguration()  # type: ignore[union-attr]
    fs = jvm.org.apache.hadoop.fs.FileSystem.get(jvm.java.net.URI.create("file:///"), conf)
    assert fs.getClass().getName() == LOCAL_FS_CLASS

    # A partitioned Spark write: its folders, data files and checksum files get the modes of
    # Hadoop's default permissions under its umask (022: folders 755, files 644), as before.
    out = tmp_path / "out"
    spark.createDataFrame([(1, "a"), (2, "b")], "k long, v string").write.partitionBy("k").parquet(str(out))
    umask = int(conf.get("fs.permissions.umask-mode"), 8)
    made = [p for p in out.rglob("*") if p.name != "_SUCCESS"]
    assert {p.suffix for p in made if p.is_file()} >= {".parquet", ".crc"}
    for p in [out, *made]:
        assert _mode(p) == (0o777 if p.is_dir() else 0o666) & ~umask, p

    # Any mode set explicitly; one with the sticky bit through Hadoop's own way.
    perm = jvm.org.apache.hadoop.fs.permission.FsPermission
    target = out / "k=1"
    for mode in (0o640, 0o705, 0o000, 0o777, 0o1777):
        fs.setPermission(jvm.org.apache.hadoop.fs.Path(f"file:{target}"), perm(mode))
        assert _mode(target) == mode, oct(mode)
