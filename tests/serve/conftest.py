"""The serving tests share one copy of the published mock lake, keys for every role, and one app."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from c360.settings import Settings
from tests.conftest import PublishedLake, copy_lake


@dataclass(frozen=True)
class ServedLakeFixture:
    root: Path
    keys: dict[str, str]  # role -> API key
    settings: Settings
    published: PublishedLake


@pytest.fixture(scope="session")
def served(published_lake: PublishedLake, tmp_path_factory: pytest.TempPathFactory) -> ServedLakeFixture:
    """A private copy (the server writes its keys and audit rows) with one key per role."""
    from c360.access import ROLES, create_key

    root = copy_lake(published_lake.root, tmp_path_factory.mktemp("served") / "lake")
    keys = {role: create_key(root, role, note="tests")[0] for role in ROLES}
    settings = Settings(
        lake_root=root,
        pseudonym_key=published_lake.key.decode(),
        serve_reload_seconds=0.5,
        serve_audit_flush_seconds=0.5,
        serve_export_dir=tmp_path_factory.mktemp("exports"),
    )
    return ServedLakeFixture(root, keys, settings, published_lake)


@pytest.fixture(scope="session")
def client(served: ServedLakeFixture) -> Iterator[TestClient]:
    from c360.serve import create_app

    with TestClient(create_app(served.settings, block_until_loaded=True)) as c:
        yield c


def headers(served: ServedLakeFixture, role: str) -> dict[str, str]:
    return {"X-API-Key": served.keys[role]}
