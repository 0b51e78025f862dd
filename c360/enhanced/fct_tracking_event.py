"""fct_tracking_event: one row per carrier tracking event (latest delivered version).

Keys: event_id; partition event_date (the UTC day of the event). Each event carries its
place in its shipment's journey: ``event_sequence`` (1 = first scan), the hours since the
previous scan, and whether it ends the journey (delivered or returned). An event whose
shipment is not (yet) known is kept and flagged, so no scan disappears.

This table is also the worked example of adding a table (docs/architecture.md): this one
module, its ``TABLE`` declaration, and nothing else; the model step, the Airflow Assets,
the catalog and the docs pick it up from the registry.
"""

from __future__ import annotations

from pyspark.sql import DataFrame, Window
from pyspark.sql import functions as F
from pyspark.sql import types as T

from c360.enhanced.common import conform, date_key, latest_versions
from c360.quality import TableSuite
from c360.registry import C360, Incremental, Table, column

NAME = "enhanced.logistics.fct_tracking_event"
FINAL_EVENTS = ("delivered", "returned")
SCHEMA = T.StructType(
    [
        column("event_id", T.StringType(), "carrier event id", False),
        column("shipment_id", T.StringType(), "shipment scanned (fct_shipment)", False),
        column("shipment_is_orphan", T.BooleanType(), "the shipment was not delivered by the event's extract"),
        column("event_timestamp", T.TimestampType(), "when the scan happened (UTC)", False),
        column("date_key", T.IntegerType(), "dim_date key of the event day", False),
        column("event_type", T.StringType(), "label_created, picked_up, in_transit, ..., delivered, returned"),
        column("location", T.StringType(), "where the scan happened, as the carrier wrote it"),
        column("carrier_status", T.StringType(), "carrier status code"),
        column("event_sequence", T.IntegerType(), "position of the scan in its shipment's journey (1 = first)", False),
        column("hours_since_previous", T.DoubleType(), "hours since the shipment's previous scan (NULL for the first)"),
        column("is_final", T.BooleanType(), "the scan ends the journey (delivered or returned)", False),
        column("source_extract_date", T.DateType(), "latest extract among the shipment's scans up to this one", False),
        column("event_date", T.DateType(), "UTC day of the event; the partition", False),
    ]
)


def build(events: DataFrame) -> DataFrame:
    """Latest version of every event, placed in its shipment's journey."""
    df = latest_versions(events, ["event_id"])
    journey = Window.partitionBy("shipment_id").orderBy("event_timestamp", "event_id")
    previous = F.lag("event_timestamp").over(journey)
    so_far = journey.rowsBetween(Window.unboundedPreceding, Window.currentRow)
    out = df.select(
        "event_id",
        "shipment_id",
        F.col("shipment_id_is_orphan").alias("shipment_is_orphan"),
        "event_timestamp",
        date_key(F.col("event_timestamp")).alias("date_key"),
        "event_type",
        "location",
        "carrier_status",
        F.row_number().over(journey).alias("event_sequence"),
        F.round((F.col("event_timestamp").cast("double") - previous.cast("double")) / 3600, 2).alias(
            "hours_since_previous"
        ),
        F.coalesce(F.col("event_type").isin(*FINAL_EVENTS), F.lit(False)).alias("is_final"),
        # A scan's place in the journey changes when an earlier scan arrives late: the latest
        # extract among the scans up to this one re-opens its day.
        F.max("_extract_date").over(so_far).alias("source_extract_date"),
        F.to_date("event_timestamp").alias("event_date"),
    )
    return conform(out, SCHEMA)


SUITE = (
    TableSuite(NAME, key=("event_id",))
    .foreign_key("date_key", "enhanced.shared.dim_date")
    .foreign_key("shipment_id", "enhanced.logistics.fct_shipment", severity="warn")
    .in_range("event_sequence", 1, None)
    .invariant("first_scan_has_no_gap", "(event_sequence = 1) = (hours_since_previous IS NULL)")
    .invariant("scans_in_time_order", "hours_since_previous IS NULL OR hours_since_previous >= 0")
)

TABLE = Table(
    name=NAME,
    schema=SCHEMA,
    description="Carrier tracking scans of shipments, in journey order, with the gap between scans.",
    grain="one row per tracking event",
    keys=("event_id",),
    partition_by=("event_date",),
    product=C360,
    owner="customer-analytics",
    inputs={"events": "sanitized.logistics.tracking_events"},
    build=build,
    publish="partitions",
    suite=SUITE,
    # A shipment's scans are placed in its journey together; a re-sent scan can name another shipment.
    incremental=Incremental(key="shipment_id", ids={"events": "event_id"}),
    freshness_hours=36,
)
