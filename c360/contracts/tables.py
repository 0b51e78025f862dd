"""The tables a source contract yields: raw, sanitized and quarantine, 1:1 with the source."""

from __future__ import annotations

from collections.abc import Iterable

from c360.contracts.model import Contract
from c360.registry import AIR_QUALITY, RETAIL_SOURCES, Retention, Table

# Raw rows are the evidence of what was delivered: kept two years. Quarantined rows are kept
# one year: long enough to re-process a fixed rule, short enough not to hoard bad data.
RAW_RETENTION = Retention(rows_days=730, row_date="_extract_date", versions_days=7)
QUARANTINE_RETENTION = Retention(rows_days=365, row_date="_extract_date", versions_days=7)


def _product(contract: Contract) -> str:
    return AIR_QUALITY if contract.domain == "air_quality" else RETAIL_SOURCES


def source_tables(contracts: Iterable[Contract]) -> list[Table]:
    """raw, sanitized and quarantine tables of every contract, in contract order."""
    tables: list[Table] = []
    for c in contracts:
        key = ("_source_checksum", "_line_number")
        tables.append(
            Table(
                name=c.raw_table,
                schema=c.raw_schema(),
                description=f"{c.description} Every delivered line, as received (identifiers sealed).",
                grain="one row per line of a delivered file",
                keys=key,
                product=_product(c),
                owner=c.owner,
                partition_by=("_extract_date",),
                freshness_hours=36,
                retention=RAW_RETENTION,
            )
        )
        tables.append(
            Table(
                name=c.sanitized_table,
                schema=c.sanitized_schema(),
                description=f"{c.description} Typed, validated and de-duplicated; identifiers as tokens.",
                grain="one row per delivered version of a source record",
                keys=(*c.key, "_extract_date"),
                product=_product(c),
                owner=c.owner,
                partition_by=("_extract_date",),
                sources=(c.raw_table,),
                freshness_hours=36,
            )
        )
        tables.append(
            Table(
                name=c.quarantine_table,
                schema=c.quarantine_schema(),
                description=f"{c.description} Rows that broke a rule, with every rule they broke.",
                grain="one row per rejected line",
                keys=("_source_file", "_line_number"),
                product=_product(c),
                owner=c.owner,
                partition_by=("_extract_date",),
                sources=(c.raw_table,),
                retention=QUARANTINE_RETENTION,
            )
        )
    return tables
