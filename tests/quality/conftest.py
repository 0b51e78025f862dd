"""Fixtures for the quality tests: a storage on the per-test lake."""

from __future__ import annotations

import pytest

from c360.settings import Settings


@pytest.fixture
def storage(spark, settings: Settings):  # noqa: ANN001, ANN201 - pyspark types stay out of collection
    from c360.storage import DeltaStorage

    return DeltaStorage(spark, settings.lake_root)
