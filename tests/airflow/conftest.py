"""A throwaway Airflow for the DAG tests: its own AIRFLOW_HOME and SQLite database.

Airflow reads its configuration when first imported, so the environment is set here, when
pytest loads this folder, before any test module imports airflow. Two DAG bundles: the
project's ``dags/`` and a temporary folder for test-only DAGs (``dag.test()`` only runs DAGs
that live in a configured bundle).
"""

from __future__ import annotations

import json
import os
import shutil
import sys
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
DAGS = REPO / "dags"
AIRFLOW_HOME = Path(tempfile.mkdtemp(prefix="c360-airflow-home-"))
TEST_DAGS = AIRFLOW_HOME / "test_dags"
TEST_DAGS.mkdir()

# The test-only bundle's probe DAGs import the helper package from dags/, as a deployment's
# PYTHONPATH allows. Put it on sys.path here, for every test in this folder, rather than rely on
# a fixture that parses dags/ having run earlier in the same worker (under xdist it may not).
if str(DAGS) not in sys.path:
    sys.path.insert(0, str(DAGS))

if "airflow" in sys.modules:  # pragma: no cover - a guard, not a branch the tests take
    raise RuntimeError("airflow was imported before tests/airflow/conftest.py could point it at a temporary home")

_BUNDLES = [
    {"name": "dags-folder", "classpath": "airflow.dag_processing.bundles.local.LocalDagBundle", "kwargs": {}},
    {
        "name": "c360-test-dags",
        "classpath": "airflow.dag_processing.bundles.local.LocalDagBundle",
        "kwargs": {"path": str(TEST_DAGS)},
    },
]
os.environ.update(
    {
        "AIRFLOW_HOME": str(AIRFLOW_HOME),
        "AIRFLOW__CORE__DAGS_FOLDER": str(DAGS),
        "AIRFLOW__CORE__LOAD_EXAMPLES": "False",
        "AIRFLOW__DATABASE__SQL_ALCHEMY_CONN": f"sqlite:///{AIRFLOW_HOME}/airflow.db",
        "AIRFLOW__DAG_PROCESSOR__DAG_BUNDLE_CONFIG_LIST": json.dumps(_BUNDLES),
        "AIRFLOW__LOGGING__LOGGING_LEVEL": "WARNING",
    }
)


@pytest.fixture(scope="session", autouse=True)
def _remove_airflow_home() -> Iterator[None]:
    yield
    shutil.rmtree(AIRFLOW_HOME, ignore_errors=True)


@pytest.fixture(scope="session")
def airflow_db() -> Path:
    """A migrated metadata database (``dag.test()`` records its runs there)."""
    from airflow.utils import db

    db.resetdb()
    return AIRFLOW_HOME


@pytest.fixture(scope="session")
def dagbag() -> object:
    """The project's DAGs, parsed the way the DAG processor parses them (bundle root on sys.path)."""
    from airflow.dag_processing.dagbag import BundleDagBag

    return BundleDagBag(dag_folder=str(DAGS), bundle_path=DAGS, bundle_name="dags-folder")
