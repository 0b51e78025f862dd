"""A day costs what its data costs: a run whose extracts bring no new rows for a source
commits nothing for it and does not run its gate, while the one source that did bring a
row is sanitized, gated and published; the gates of the run are recorded in one commit.

Runs ingest, sanitize and the model for one more day on a copy of the session
``published_lake`` (about a minute: the tables are built, but only one is gated).
"""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

import pytest
from pyspark.sql import SparkSession

from c360.contracts import CONTRACTS
from c360.enhanced.model import model_tables
from c360.pipeline import RunContext, ingest_step, model_step, sanitize_step
from c360.quality.ops import METRICS_TABLE, RESULTS_TABLE
from c360.settings import Settings
from c360.storage import DeltaStorage
from tests.conftest import PublishedLake, copy_lake

pytestmark = pytest.mark.slow
TICKETS = "sanitized.customer.support_tickets"
FCT_TICKET = "enhanced.customer.fct_support_ticket"
HEADER = "ticket_id,customer_id,created_date,resolved_date,category,priority,status,channel,satisfaction_score"


def test_sources_without_new_rows_commit_nothing_and_run_no_gate(
    spark: SparkSession, published_lake: PublishedLake, tmp_path: Path
) -> None:
    root = copy_lake(published_lake.root, tmp_path / "lake")
    day = max(published_lake.dates) + timedelta(days=1)
    # The day's extracts: one new support ticket, nothing for any other source.
    folder = tmp_path / "extracts" / day.isoformat() / "customer"
    folder.mkdir(parents=True)
    (folder / "support_tickets.csv").write_text(
        f"{HEADER}\nTKT09999999,CUST0000033,{day} 08:12:38,{day} 11:37:01,product,high,resolved,phone,4\n"
    )
    storage = DeltaStorage(spark, root)
    settings = Settings(lake_root=root, pseudonym_key=published_lake.key.decode())
    ctx = RunContext(settings, spark, storage, run_id="quiet-day")
    tiers = [t for c in CONTRACTS.values() for t in (c.sanitized_table, c.quarantine_table) if storage.exists(t)]
    published = [t.name for t in model_tables()]
    version = lambda name: storage.catalog.describe(name).version  # noqa: E731
    before = {name: version(name) for name in (*tiers, *published, RESULTS_TABLE, METRICS_TABLE)}

    ingest_step(ctx, tmp_path / "extracts", day)
    sanitize_step(ctx, [day])
    # The profile as of the lake's last profile date: rebuilt from the day's facts, it is the same.
    report = model_step(ctx, [day], profile_dates=published_lake.profile_dates[-1:])

    after = {name: version(name) for name in before}
    changed = {name for name in before if after[name] != before[name]}
    # Sanitize committed for the one source that brought a row, and for no other.
    assert changed & set(tiers) == {TICKETS}
    # The model: only the ticket fact has new rows; it alone is gated and committed.
    gated = {w.table for w in report.tables if w.validated}
    assert gated == {FCT_TICKET}
    assert changed & set(published) == {FCT_TICKET}
    assert {w.table for w in report.tables if not w.validated} == set(published) - {FCT_TICKET}
    results = storage.read(RESULTS_TABLE).filter("run_id = 'quiet-day'")
    assert {r.table_name for r in results.select("table_name").distinct().collect()} == {FCT_TICKET}
    # The run's gates were recorded together: one commit to each ops table.
    assert (after[RESULTS_TABLE], after[METRICS_TABLE]) == (before[RESULTS_TABLE] + 1, before[METRICS_TABLE] + 1)
    (line,) = storage.read(FCT_TICKET).filter("ticket_id = 'TKT09999999'").collect()
    assert line.ticket_id == "TKT09999999"
