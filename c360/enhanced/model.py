"""The model step: sanitized tier -> Kimball star (and marts) for run dates, gated by quality.

Dimensions are rebuilt as of the last run date (deterministic surrogate keys, so a
rebuild gives the same keys); facts rewrite exactly the partitions the run dates'
extracts touched. Every table goes through write-audit-publish: computed, validated
against its suite, and committed only if the gate passes. A failed gate stops the
step before any later table is written; what was published stays as it was.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import date, timedelta
from types import ModuleType

from pyspark.sql import DataFrame, SparkSession

from c360.contracts import CONTRACTS
from c360.enhanced import (
    bridge_product_supplier,
    dim_channel,
    dim_customer,
    dim_date,
    dim_location,
    dim_product,
    dim_supplier,
    fct_app_session,
    fct_inventory_snapshot,
    fct_order,
    fct_sales_line,
    fct_shipment,
    fct_support_ticket,
)
from c360.enhanced.common import TableSpec, affected_dates, as_of, stale_dates
from c360.enhanced.marts import customer360_profile, sales_by_segment_daily
from c360.quality import TableSuite, publish
from c360.storage import CommitResult, DeltaStorage

# Orders arrive up to a few days late and returns weeks later (docs/source-data.md).
SALES_RESTATEMENT_DAYS = 30


# Every table build_model publishes, in publish order (the Airflow model task's Assets
# must name exactly these: tests/airflow/test_dags.py).
DIMENSIONS: tuple[ModuleType, ...] = (
    dim_date,
    dim_channel,
    dim_location,
    dim_customer,
    dim_product,
    dim_supplier,
    bridge_product_supplier,
)
FACTS: tuple[ModuleType, ...] = (
    fct_order,
    fct_sales_line,
    fct_support_ticket,
    fct_app_session,
    fct_shipment,
    fct_inventory_snapshot,
)
MARTS: tuple[ModuleType, ...] = (customer360_profile, sales_by_segment_daily)
TABLES = DIMENSIONS + FACTS + MARTS


@dataclass
class TableBuild:
    table: str
    rows: int
    committed: bool
    version: int
    partitions: int
    seconds: float = 0.0  # build (checkpoint) + quality gate + commit


@dataclass
class ModelReport:
    run_dates: list[date]
    tables: list[TableBuild] = field(default_factory=list)


def _sanitized(spark: SparkSession, storage: DeltaStorage, source: str, run_date: date) -> DataFrame:
    contract = CONTRACTS[source]
    if storage.exists(contract.sanitized_table):
        return as_of(storage.read(contract.sanitized_table), run_date)
    return spark.createDataFrame([], contract.sanitized_schema())


class _Publisher:
    def __init__(self, spark: SparkSession, storage: DeltaStorage, run_id: str, run_dates: Sequence[date]) -> None:
        self.spark, self.storage, self.run_id, self.run_dates = spark, storage, run_id, list(run_dates)
        self.report = ModelReport(self.run_dates)

    def whole(self, spec: TableSpec, suite: TableSuite, df: DataFrame) -> DataFrame:
        """Publish a whole table (dimensions); returns the published frame for later joins."""
        self.storage.ensure_table(
            spec.name, spec.schema, spec.partition_by, description=spec.description
        )
        started = time.perf_counter()
        df = df.localCheckpoint()
        self._publish(spec, suite, df, lambda d: self.storage.overwrite(d, spec.name), 0, started)
        return df

    def partitions(
        self,
        spec: TableSpec,
        suite: TableSuite,
        df: DataFrame,
        dates: Sequence[date] | None = None,
        started: float | None = None,
    ) -> DataFrame:
        """Publish the partitions the run dates touched (facts and marts); returns the whole built frame.

        ``started`` is when the table's build began, if that was before this call.
        """
        (column,) = spec.partition_by
        self.storage.ensure_table(
            spec.name, spec.schema, spec.partition_by, description=spec.description
        )
        started = time.perf_counter() if started is None else started
        df = df.localCheckpoint()
        if dates is None:
            dates = (
                affected_dates(df, column, self.run_dates) if "source_extract_date" in df.columns else self.run_dates
            )
        published = self.storage.read(spec.name)
        stale = stale_dates(df, published, spec.keys, column, max(self.run_dates), spec.foreign_keys)
        dates = sorted({*dates, *stale})
        part = df.filter(df[column].isin(*dates))
        specs = [{column: d} for d in dates]
        self._publish(
            spec,
            suite,
            part,
            lambda d: self.storage.replace_partitions(d, spec.name, partitions=specs),
            len(dates),
            started,
        )
        return df

    def _publish(
        self,
        spec: TableSpec,
        suite: TableSuite,
        df: DataFrame,
        write: Callable[[DataFrame], CommitResult],
        partitions: int,
        started: float,
    ) -> None:
        outcome = publish(self.storage, df, suite, write=write, run_id=self.run_id, run_date=max(self.run_dates))
        c = outcome.commit
        rows = int(outcome.report.metrics.get("row_count", c.rows_added))
        seconds = time.perf_counter() - started
        self.report.tables.append(TableBuild(spec.name, rows, c.committed, c.version, partitions, seconds))


def build_model(
    spark: SparkSession,
    storage: DeltaStorage,
    run_dates: Sequence[date],
    run_id: str,
    profile_dates: Sequence[date] | None = None,
) -> ModelReport:
    """Build the star (and marts) for the run dates; the last one is the as-of date of dimensions."""
    last = max(run_dates)
    pub = _Publisher(spark, storage, run_id, run_dates)

    def src(name: str) -> DataFrame:
        return _sanitized(spark, storage, name, last)

    pub.whole(dim_date.SPEC, dim_date.SUITE, dim_date.build(spark))
    pub.whole(dim_channel.SPEC, dim_channel.SUITE, dim_channel.build(spark))
    locations = pub.whole(
        dim_location.SPEC, dim_location.SUITE, dim_location.build(src("logistics.warehouse_locations"))
    )
    customers = pub.whole(
        dim_customer.SPEC,
        dim_customer.SUITE,
        dim_customer.build(src("customer.customers"), src("customer.loyalty_program")),
    )
    products = pub.whole(dim_product.SPEC, dim_product.SUITE, dim_product.build(src("products.products")))
    suppliers = pub.whole(dim_supplier.SPEC, dim_supplier.SUITE, dim_supplier.build(src("products.suppliers")))
    pub.whole(
        bridge_product_supplier.SPEC,
        bridge_product_supplier.SUITE,
        bridge_product_supplier.build(src("products.product_suppliers"), suppliers),
    )

    transactions, items = src("sales.transactions"), src("sales.transaction_items")
    orders = pub.partitions(fct_order.SPEC, fct_order.SUITE, fct_order.build(transactions, items, customers, locations))
    lines = pub.partitions(
        fct_sales_line.SPEC, fct_sales_line.SUITE, fct_sales_line.build(items, transactions, customers, products)
    )
    tickets = pub.partitions(
        fct_support_ticket.SPEC,
        fct_support_ticket.SUITE,
        fct_support_ticket.build(src("customer.support_tickets"), customers),
    )
    sessions = pub.partitions(
        fct_app_session.SPEC, fct_app_session.SUITE, fct_app_session.build(src("customer.app_usage"), customers)
    )
    pub.partitions(
        fct_shipment.SPEC,
        fct_shipment.SUITE,
        fct_shipment.build(src("logistics.shipments"), transactions, customers, locations),
    )
    pub.partitions(
        fct_inventory_snapshot.SPEC,
        fct_inventory_snapshot.SUITE,
        fct_inventory_snapshot.build(src("products.inventory"), products, locations),
    )

    # Marts read the facts as built for this run (as of its last date), never the published
    # tables, which may hold later versions when an older date is rebuilt.
    profile_started = time.perf_counter()
    profiles = [
        customer360_profile.build_customer360_profile(
            customers, orders, lines, tickets, sessions, as_of=d
        ).localCheckpoint()
        for d in sorted(run_dates if profile_dates is None else profile_dates)
    ]
    profile = profiles[0]
    for extra in profiles[1:]:
        profile = profile.unionByName(extra)
    pub.partitions(customer360_profile.SPEC, customer360_profile.SUITE, profile, started=profile_started)
    # Late orders and returns change past days' sales: rebuild the trailing window too.
    sales_days = sorted({d - timedelta(days=i) for d in run_dates for i in range(SALES_RESTATEMENT_DAYS)})
    pub.partitions(
        sales_by_segment_daily.SPEC,
        sales_by_segment_daily.SUITE,
        sales_by_segment_daily.build_sales_by_segment_daily(lines, products, customers, sales_days),
        dates=sales_days,
    )
    return pub.report
