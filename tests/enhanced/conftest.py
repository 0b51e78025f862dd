"""mock_data ingested and sanitized once per test run, copied into each module's own lake."""

from __future__ import annotations

from pathlib import Path

import pytest
from pyspark.sql import SparkSession

from c360.settings import Settings
from tests.enhanced.star_checks import MOCK, star_contracts


@pytest.fixture(scope="session")
def mock_sanitized(spark: SparkSession, spark_settings: Settings, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A lake root holding every day of mock_data for the star's sources, ingested and then
    sanitized in one call each (the expensive part: built once, copied by the modules)."""
    from c360.pipeline import extract_dates
    from c360.raw.ingest import discover, ingest
    from c360.sanitized.run import sanitize
    from c360.storage import DeltaStorage

    root = tmp_path_factory.mktemp("mock_sanitized")
    storage = DeltaStorage(spark, root)
    key = spark_settings.pseudonym_key_bytes()
    contracts = star_contracts()
    ingest(spark, storage, [f for f in discover(MOCK) if f.contract in contracts], key, ingest_id="mock")
    sanitize(spark, storage, extract_dates(MOCK), key, "mock", contracts)
    return root
