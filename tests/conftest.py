"""Shared fixtures: one SparkSession per test run, settings pointing at tmp lakes."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from c360.settings import Settings


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
    from c360.spark import get_spark

    session = get_spark(spark_settings)
    yield session
    session.stop()


@pytest.fixture
def settings(tmp_path: Path, spark_settings: Settings) -> Settings:
    """Settings with a fresh lake per test (same Spark configuration)."""
    return spark_settings.model_copy(update={"lake_root": tmp_path / "lake"})
