"""Declaring a table's quality suite, in code, next to the table's definition.

A :class:`TableSuite` is an immutable value: every helper returns a new suite, so a
module can build its suite once at import (no Spark, no Great Expectations imported
here) and every run sees the same declaration::

    SUITE = (
        TableSuite("enhanced.sales.fct_sales_line", key=("order_id", "line_no"))
        .foreign_key("customer_key", "enhanced.customer.dim_customer")
        .in_range("quantity", 1, 10_000)
        .invariant("line_amount", "line_amount = quantity * unit_price - discount")
        .row_count_vs_previous(0.5, 2.0, severity="warn")
    )

Expectations GX can evaluate on a Spark DataFrame are stored as a GX expectation type
plus kwargs (evaluated by GX); the others (foreign keys, row-level SQL invariants) are
evaluated with one Spark aggregate of our own and reported in the same result shape.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import timedelta
from enum import StrEnum
from typing import TYPE_CHECKING, Any

from c360.storage.names import TableName

if TYPE_CHECKING:
    from pyspark.sql import DataFrame


class Severity(StrEnum):
    """``error`` blocks publishing; ``warn`` is recorded and never blocks."""

    ERROR = "error"
    WARN = "warn"


class Kind(StrEnum):
    """How an expectation is evaluated."""

    GX = "gx"  # a Great Expectations expectation, evaluated by GX on the DataFrame
    ROW_COUNT_VS_PREVIOUS = "row_count_vs_previous"  # bounds from the previous run, then GX
    FRESHNESS = "freshness"  # max(column) vs the run date, then GX
    FOREIGN_KEY = "foreign_key"  # Spark anti-join against the referenced keys
    INVARIANT = "invariant"  # Spark aggregate of a SQL boolean expression per row


class AnomalyPolicy(StrEnum):
    """What a metric anomaly does to the run: nothing, a warning, or block publishing."""

    OFF = "off"
    WARN = "warn"
    ERROR = "error"


class SuiteDeclarationError(ValueError):
    """A suite declaration that cannot be evaluated (duplicate names, bad bounds, ...)."""


@dataclass(frozen=True)
class Expectation:
    """One declared expectation; ``name`` is unique within its suite and stable across runs."""

    name: str
    kind: Kind
    severity: Severity
    columns: tuple[str, ...] = ()
    gx_type: str | None = None
    gx_kwargs: Mapping[str, Any] = field(default_factory=dict)
    # FOREIGN_KEY: a table name or a DataFrame; INVARIANT: the SQL predicate;
    # ROW_COUNT_VS_PREVIOUS: (min_ratio, max_ratio); FRESHNESS: max_age.
    ref: Any = None
    ref_columns: tuple[str, ...] = ()
    predicate: str | None = None
    ratio_bounds: tuple[float | None, float | None] = (None, None)
    max_age: timedelta | None = None
    description: str = ""


def _columns(columns: str | Iterable[str]) -> tuple[str, ...]:
    cols = (columns,) if isinstance(columns, str) else tuple(columns)
    if not cols:
        raise SuiteDeclarationError("an expectation needs at least one column")
    return cols


@dataclass(frozen=True)
class TableSuite:
    """The quality contract of one table: expectations, metrics to track, anomaly policy.

    ``key`` adds ``not_null`` and ``unique`` expectations for the key columns (error).
    ``measures`` are summed into the metrics history; ``null_rate_columns`` default to
    every column of the validated frame; ``anomaly_metrics`` default to every metric.
    """

    table: str
    key: tuple[str, ...] = ()
    measures: tuple[str, ...] = ()
    null_rate_columns: tuple[str, ...] | None = None
    anomaly_policy: AnomalyPolicy = AnomalyPolicy.WARN
    anomaly_metrics: tuple[str, ...] | None = None
    expectations: tuple[Expectation, ...] = ()

    def __post_init__(self) -> None:
        TableName.parse(self.table)
        object.__setattr__(self, "key", tuple(self.key))
        object.__setattr__(self, "measures", tuple(self.measures))
        object.__setattr__(self, "anomaly_policy", AnomalyPolicy(self.anomaly_policy))
        if self.key and not any(e.name == f"unique({','.join(self.key)})" for e in self.expectations):
            keyed = (
                *(self._make_not_null(c, Severity.ERROR) for c in self.key),
                self._make_unique(self.key, Severity.ERROR),
            )
            object.__setattr__(self, "expectations", (*keyed, *self.expectations))
        names = [e.name for e in self.expectations]
        dupes = sorted({n for n in names if names.count(n) > 1})
        if dupes:
            raise SuiteDeclarationError(f"{self.table}: expectation names must be unique, repeated: {dupes}")

    # ------------------------------------------------------------ building
    def with_expectation(self, expectation: Expectation) -> TableSuite:
        """A new suite with one more expectation (names must stay unique)."""
        return dataclasses.replace(self, expectations=(*self.expectations, expectation))

    def not_null(self, column: str, *, severity: Severity | str = Severity.ERROR) -> TableSuite:
        return self.with_expectation(self._make_not_null(column, Severity(severity)))

    def unique(self, columns: str | Sequence[str], *, severity: Severity | str = Severity.ERROR) -> TableSuite:
        """Rows sharing a (non-null) key all count as unexpected: 2 rows with key 7 -> 2."""
        return self.with_expectation(self._make_unique(_columns(columns), Severity(severity)))

    def in_range(
        self,
        column: str,
        min_value: float | str | None = None,
        max_value: float | str | None = None,
        *,
        strict: bool = False,
        severity: Severity | str = Severity.ERROR,
        name: str | None = None,
    ) -> TableSuite:
        """Values between the bounds (inclusive unless ``strict``); nulls are not checked here."""
        if min_value is None and max_value is None:
            raise SuiteDeclarationError(f"in_range({column}) needs a min_value or a max_value")
        kwargs: dict[str, Any] = {"column": column, "min_value": min_value, "max_value": max_value}
        if strict:
            kwargs |= {"strict_min": True, "strict_max": True}
        return self.gx(
            "expect_column_values_to_be_between",
            name=name or f"in_range({column})",
            severity=severity,
            **kwargs,
        )

    def in_set(
        self,
        column: str,
        values: Iterable[object],
        *,
        severity: Severity | str = Severity.ERROR,
        name: str | None = None,
    ) -> TableSuite:
        """Values from an enumeration; nulls are not checked here."""
        value_set = sorted(set(values), key=str)
        return self.gx(
            "expect_column_values_to_be_in_set",
            name=name or f"in_set({column})",
            severity=severity,
            column=column,
            value_set=value_set,
        )

    def row_count(
        self,
        min_value: int | None = None,
        max_value: int | None = None,
        *,
        severity: Severity | str = Severity.ERROR,
    ) -> TableSuite:
        """Absolute row-count bounds of the validated frame."""
        return self.gx(
            "expect_table_row_count_to_be_between",
            name="row_count",
            severity=severity,
            min_value=min_value,
            max_value=max_value,
        )

    def row_count_vs_previous(
        self,
        min_ratio: float | None = 0.5,
        max_ratio: float | None = 2.0,
        *,
        severity: Severity | str = Severity.ERROR,
    ) -> TableSuite:
        """Row count within ``[min_ratio, max_ratio] x`` the previous published run's count.

        The previous count comes from the metrics history (the latest earlier run date);
        the first run passes with "no previous run" as observed value.
        """
        if min_ratio is None and max_ratio is None:
            raise SuiteDeclarationError("row_count_vs_previous needs min_ratio or max_ratio")
        if min_ratio is not None and max_ratio is not None and min_ratio > max_ratio:
            raise SuiteDeclarationError(f"row_count_vs_previous: min_ratio {min_ratio} > max_ratio {max_ratio}")
        return self.with_expectation(
            Expectation(
                name="row_count_vs_previous",
                kind=Kind.ROW_COUNT_VS_PREVIOUS,
                severity=Severity(severity),
                ratio_bounds=(min_ratio, max_ratio),
                description=f"row count between {min_ratio} and {max_ratio} x the previous run",
            )
        )

    def fresh(self, column: str, max_age: timedelta, *, severity: Severity | str = Severity.ERROR) -> TableSuite:
        """The newest ``column`` value is at most ``max_age`` older than the end of the run date.

        Measured against the run date, never the wall clock, so a backfill of an old
        date judges that date's data the way the original run did.
        """
        return self.with_expectation(
            Expectation(
                name=f"fresh({column})",
                kind=Kind.FRESHNESS,
                severity=Severity(severity),
                columns=(column,),
                max_age=max_age,
                description=f"max({column}) no older than {max_age} before the end of the run date",
            )
        )

    def foreign_key(
        self,
        columns: str | Sequence[str],
        ref: str | DataFrame,
        ref_columns: str | Sequence[str] | None = None,
        *,
        severity: Severity | str = Severity.ERROR,
        name: str | None = None,
    ) -> TableSuite:
        """Every non-null ``columns`` value exists in ``ref`` (a table name or a DataFrame).

        A table name is read at validation time (latest version); rows whose key has a
        null part are not checked (declare ``not_null`` for that).
        """
        cols = _columns(columns)
        ref_cols = cols if ref_columns is None else _columns(ref_columns)
        if len(ref_cols) != len(cols):
            raise SuiteDeclarationError(f"foreign_key{cols}: {len(ref_cols)} reference columns for {len(cols)} columns")
        if isinstance(ref, str):
            TableName.parse(ref)
            target = ref
        else:
            target = "dataframe"
        return self.with_expectation(
            Expectation(
                name=name or f"foreign_key({','.join(cols)}->{target})",
                kind=Kind.FOREIGN_KEY,
                severity=Severity(severity),
                columns=cols,
                ref=ref,
                ref_columns=ref_cols,
                description=f"({', '.join(cols)}) resolves in {target} ({', '.join(ref_cols)})",
            )
        )

    def invariant(
        self,
        name: str,
        predicate: str,
        *,
        severity: Severity | str = Severity.ERROR,
        description: str = "",
    ) -> TableSuite:
        """A row rule as a Spark SQL boolean expression; rows where it is false or null fail."""
        if not predicate.strip():
            raise SuiteDeclarationError(f"invariant {name!r} needs a predicate")
        return self.with_expectation(
            Expectation(
                name=name,
                kind=Kind.INVARIANT,
                severity=Severity(severity),
                predicate=predicate,
                description=description or predicate,
            )
        )

    def gx(
        self,
        gx_type: str,
        *,
        name: str | None = None,
        severity: Severity | str = Severity.ERROR,
        **kwargs: Any,
    ) -> TableSuite:
        """Any Great Expectations 1.x expectation by its snake_case type and kwargs."""
        if not gx_type.startswith("expect_"):
            raise SuiteDeclarationError(f"{gx_type!r} is not a Great Expectations expectation type")
        column = kwargs.get("column")
        cols = (column,) if isinstance(column, str) else tuple(kwargs.get("column_list", ()))
        label = name or (f"{gx_type}({','.join(cols)})" if cols else gx_type)
        return self.with_expectation(
            Expectation(
                name=label,
                kind=Kind.GX,
                severity=Severity(severity),
                columns=cols,
                gx_type=gx_type,
                gx_kwargs=kwargs,
            )
        )

    # ------------------------------------------------------------ internals
    @staticmethod
    def _make_not_null(column: str, severity: Severity) -> Expectation:
        return Expectation(
            name=f"not_null({column})",
            kind=Kind.GX,
            severity=severity,
            columns=(column,),
            gx_type="expect_column_values_to_not_be_null",
            gx_kwargs={"column": column},
        )

    @staticmethod
    def _make_unique(columns: tuple[str, ...], severity: Severity) -> Expectation:
        kwargs: dict[str, Any]
        if len(columns) == 1:
            gx_type, kwargs = "expect_column_values_to_be_unique", {"column": columns[0]}
        else:  # GX's compound check refuses one column, the single-column check several
            gx_type, kwargs = "expect_compound_columns_to_be_unique", {"column_list": list(columns)}
        return Expectation(
            name=f"unique({','.join(columns)})",
            kind=Kind.GX,
            severity=severity,
            columns=columns,
            gx_type=gx_type,
            gx_kwargs=kwargs,
        )
