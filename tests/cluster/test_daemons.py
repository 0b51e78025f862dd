"""The master's and the workers' JVM options (``c360.cluster.daemon_java_options``)."""

from __future__ import annotations

from pathlib import Path

import pytest

from c360 import cluster
from c360.spark import C1_ONLY_JIT


def test_daemons_compile_with_c1_only_and_the_users_options_come_last(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("SPARK_DAEMON_JAVA_OPTS", "-XX:TieredStopAtLevel=4 -Dmine=1")
    options = cluster.daemon_java_options().split()
    assert options[: len(C1_ONLY_JIT.split())] == C1_ONLY_JIT.split()
    # The user's options come after c360's, so HotSpot takes theirs (the last one wins).
    assert options[-2:] == ["-XX:TieredStopAtLevel=4", "-Dmine=1"]
    assert cluster._env(tmp_path)["SPARK_DAEMON_JAVA_OPTS"] == " ".join(options)


def test_without_user_options_the_daemons_get_c360s_alone(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SPARK_DAEMON_JAVA_OPTS", "-Dmine=1")
    with_users = cluster.daemon_java_options().split()
    monkeypatch.delenv("SPARK_DAEMON_JAVA_OPTS")
    assert cluster.daemon_java_options().split() == with_users[:-1]
    assert "-XX:TieredStopAtLevel=1" in with_users
