"""Ops tables the pipeline writes about itself (read by the catalog, the API and people)."""

from __future__ import annotations

from pyspark.sql import types as T

RECONCILIATION_TABLE = "ops.pipeline.reconciliation"
RECONCILIATION_SCHEMA = T.StructType(
    [
        T.StructField("run_id", T.StringType(), False),
        T.StructField("source_table", T.StringType(), False, {"comment": "raw table read"}),
        T.StructField("rows_in", T.LongType(), False, {"comment": "raw rows of the extract"}),
        T.StructField("sanitized", T.LongType(), False),
        T.StructField("quarantined", T.LongType(), False),
        T.StructField("duplicate_exact", T.LongType(), False),
        T.StructField("superseded", T.LongType(), False),
        T.StructField("unchanged_resend", T.LongType(), False),
        T.StructField("balanced", T.BooleanType(), False, {"comment": "rows_in = the sum of the five fates"}),
        T.StructField("table", T.StringType(), False, {"comment": "sanitized table written"}),
        T.StructField("extract_date", T.DateType(), False),
    ]
)
