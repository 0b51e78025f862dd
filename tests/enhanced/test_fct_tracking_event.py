"""fct_tracking_event: latest version per scan, its place in the journey, late scans re-open days."""

from __future__ import annotations

from datetime import date

from chispa import assert_df_equality
from pyspark.sql import SparkSession

from c360.enhanced import fct_tracking_event
from c360.enhanced.common import affected_dates
from tests.enhanced.frames import D1, D2, D3, at, sanitized


def events(spark: SparkSession, rows: list[dict]) -> object:
    return sanitized(spark, "logistics.tracking_events", rows)


def scan(event_id: str, shipment: str, when: object, kind: str, extract: date, orphan: bool = False) -> dict:
    return {
        "event_id": event_id,
        "shipment_id": shipment,
        "event_timestamp": when,
        "event_type": kind,
        "shipment_id_is_orphan": orphan,
        "_extract_date": extract,
    }


def test_scans_in_journey_order_with_gaps_and_the_final_one(spark: SparkSession) -> None:
    rows = [
        scan("E1", "S1", at(D1, 8), "picked_up", D1),
        scan("E2", "S1", at(D1, 20), "in_transit", D1),
        scan("E2", "S1", at(D1, 20), "out_for_delivery", D2),  # a corrected re-send: the latest wins
        scan("E3", "S1", at(D2, 11, 30), "delivered", D2),
        scan("E9", "S9", at(D2, 9), "label_created", D2, orphan=True),  # shipment not delivered yet
    ]
    got = fct_tracking_event.build(events(spark, rows)).select(
        "event_id", "event_type", "event_sequence", "hours_since_previous", "is_final", "shipment_is_orphan",
        "source_extract_date", "event_date", "date_key",
    )  # fmt: skip
    expected = spark.createDataFrame(
        [
            ("E1", "picked_up", 1, None, False, False, D1, D1, 20240110),
            ("E2", "out_for_delivery", 2, 12.0, False, False, D2, D1, 20240110),
            ("E3", "delivered", 3, 15.5, True, False, D2, D2, 20240111),
            ("E9", "label_created", 1, None, False, True, D2, D2, 20240111),
        ],
        got.schema,
    )
    assert_df_equality(got, expected, ignore_row_order=True, ignore_nullable=True)
    assert fct_tracking_event.build(events(spark, rows)).columns == fct_tracking_event.SCHEMA.fieldNames()


def test_a_late_earlier_scan_renumbers_the_journey_and_reopens_its_days(spark: SparkSession) -> None:
    rows = [
        scan("E2", "S1", at(D2, 9), "in_transit", D2),
        scan("E1", "S1", at(D1, 9), "picked_up", D3),  # the first scan arrives two days late
    ]
    got = fct_tracking_event.build(events(spark, rows))
    seq = {r.event_id: (r.event_sequence, r.source_extract_date) for r in got.collect()}
    assert seq == {"E1": (1, D3), "E2": (2, D3)}
    # A run for D3 rewrites both scans' days, not only the day of its own extract.
    assert affected_dates(got, "event_date", [D3]) == [D1, D2, D3]


def test_the_table_is_registered_with_its_source_and_built_by_the_model_step() -> None:
    from c360.enhanced.model import model_tables
    from c360.registry import registry

    table = registry().get(fct_tracking_event.NAME)
    assert table.sources == ("sanitized.logistics.tracking_events",)
    names = [t.name for t in model_tables()]
    # Its gate checks shipments, so it is built after them.
    assert names.index("enhanced.logistics.fct_shipment") < names.index(fct_tracking_event.NAME)
