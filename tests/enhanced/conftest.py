"""The star's tests read mock_data's sanitized tier from the session's shared mock lake."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.conftest import MockRetailLake


@pytest.fixture(scope="session")
def mock_sanitized(mock_retail_lake: MockRetailLake) -> Path:
    """The lake root whose sanitized tier holds every day of mock_data (copy it before writing:
    tests.enhanced.star_checks.copy_sanitized)."""
    return mock_retail_lake.root
