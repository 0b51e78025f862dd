"""Ops tables the pipeline writes about itself (read by the catalog, the API and people)."""

from __future__ import annotations

from pyspark.sql import types as T

from c360.registry import PLATFORM, Table, column

RECONCILIATION_TABLE = "ops.pipeline.reconciliation"
RECONCILIATION_SCHEMA = T.StructType(
    [
        column("run_id", T.StringType(), "the sanitize run", False),
        column("source_table", T.StringType(), "raw table read", False),
        column("rows_in", T.LongType(), "raw rows of the extract", False),
        column("sanitized", T.LongType(), "rows written to the sanitized table", False),
        column("quarantined", T.LongType(), "rows written to quarantine", False),
        column("duplicate_exact", T.LongType(), "exact duplicates dropped", False),
        column("superseded", T.LongType(), "older versions of a key delivered in the same extract, dropped", False),
        column("unchanged_resend", T.LongType(), "re-sent rows identical to the version already held, dropped", False),
        column("balanced", T.BooleanType(), "rows_in = the sum of the five fates", False),
        column("table", T.StringType(), "sanitized table written", False),
        column("extract_date", T.DateType(), "the extract date (partition)", False),
    ]
)
RECONCILIATION = Table(
    name=RECONCILIATION_TABLE,
    schema=RECONCILIATION_SCHEMA,
    description="Rows in = sanitized + quarantined + dropped duplicates, per table and extract date.",
    grain="one row per sanitized table and extract date (the latest sanitize run's count)",
    keys=("table", "extract_date"),
    product=PLATFORM,
    owner="data-platform",
    partition_by=("table", "extract_date"),
)
