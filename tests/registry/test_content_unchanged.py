"""The registry redesign moved where tables are declared and how they are published, not what
they hold: the sanitized and enhanced tables built from mock_data hash as before it.

``content_hashes.json`` was written by this test (C360_WRITE_CONTENT_HASHES=1) on the code
before the redesign. Run-dependent columns are left out of the hash: ``_ingest_id`` and
``_ingest_time`` (each run's id and clock) and ``_source_file`` (the clone's absolute path).

Air quality kept its own date dimension before the redesign; it now uses the conformed
``enhanced.shared.dim_date``. So ``enhanced.air_quality.dim_date`` is gone, and the two
air-quality facts gained one column, ``date_key``, the conformed key of their ``date``. The
test checks that key on every row (yyyymmdd of ``date``, and present in the shared dimension)
and hashes the facts without it.

Issue #18 changed the Customer 360 profile on purpose (docs/customer360.md): spend and
margin now share one basis (the purchases' lines, not the order headers), a completed
order without lines is no purchase, churn risk uses 1 - p_alive for buyers and labels
non-buyers ``never_purchased``, the CLV ridge's weight is fixed in customers and
left-censored customers are kept out of the fit (so p_alive and the predictions move), and
the profile gained ``clv_confidence``. Its hash is therefore not compared; the model-fit
table ``enhanced.customer.clv_model_fit`` is new.

Later, issue 17 added the NowCast to the hourly fact: five new columns (``pm25_nowcast``,
``pm10_nowcast``, ``o3_nowcast``, ``aqi_nowcast``, ``category_nowcast``) next to the
unchanged ones. They are hashed out of that fact (their values are checked against the exact
reference in tests/air_quality/test_facts.py), so every column that existed before must still
hash as before. Any other difference fails.
"""

from __future__ import annotations

import hashlib
import json
import os
from pathlib import Path

import pytest
from pyspark.sql import SparkSession
from pyspark.sql import functions as F

from c360.storage import DeltaStorage, LakeCatalog
from tests.conftest import PublishedLake

HASHES = Path(__file__).with_name("content_hashes.json")
RUN_DEPENDENT = ("_ingest_id", "_ingest_time", "_source_file")
# Tables the redesign removed on purpose (see the module docstring).
REMOVED = {"enhanced.air_quality.dim_date"}
# Tables the redesign added (the worked example of adding a table, docs/architecture.md).
ADDED = {"enhanced.logistics.fct_tracking_event", "enhanced.customer.clv_model_fit"}
# Tables whose content changed on purpose (issue #18, see the module docstring).
CHANGED_ON_PURPOSE = {"enhanced.customer.customer360_profile"}
CONFORMED = ("enhanced.air_quality.fct_air_quality_hourly", "enhanced.air_quality.fct_aqi_daily")
# Columns added after the hashes were written (see the module docstring), per table.
ADDED_COLUMNS = {
    "enhanced.air_quality.fct_air_quality_hourly": (
        "pm25_nowcast",
        "pm10_nowcast",
        "o3_nowcast",
        "aqi_nowcast",
        "category_nowcast",
    )
}

pytestmark = pytest.mark.slow


def table_hash(storage: DeltaStorage, name: str) -> str:
    df = storage.read(name)
    if name in CONFORMED and "date_key" in df.columns:
        wrong = df.filter(F.col("date_key") != F.date_format("date", "yyyyMMdd").cast("int"))
        dates = storage.read("enhanced.shared.dim_date").select("date_key")
        assert wrong.count() == 0 and df.join(dates, "date_key", "left_anti").count() == 0, name
        df = df.drop("date_key")
    added = ADDED_COLUMNS.get(name, ())
    assert all(c in df.columns for c in added), name  # added, not silently missing
    df = df.select(*sorted(c for c in df.columns if c not in RUN_DEPENDENT and c not in added))
    lines = sorted(repr(tuple(r)) for r in df.collect())
    return hashlib.sha256("\n".join([",".join(df.columns), *lines]).encode()).hexdigest()


def test_sanitized_and_enhanced_content_as_before_the_redesign(
    spark: SparkSession, published_lake: PublishedLake
) -> None:
    storage = DeltaStorage(spark, published_lake.root)
    names = [n for n in LakeCatalog(published_lake.root).list_tables() if n.split(".")[0] in ("sanitized", "enhanced")]
    actual = {n: table_hash(storage, n) for n in names}
    if os.environ.get("C360_WRITE_CONTENT_HASHES"):
        HASHES.write_text(json.dumps(actual, indent=1, sort_keys=True) + "\n")
    expected = {n: h for n, h in json.loads(HASHES.read_text()).items() if n not in REMOVED}
    assert sorted(actual) == sorted([*expected, *ADDED])
    changed = sorted(n for n in expected if actual[n] != expected[n] and n not in CHANGED_ON_PURPOSE)
    assert changed == []
