"""AQI standards as data: breakpoint tables with units, truncation and edge rules.

A standard is a JSON document (see ``c360/aqi/tables/``) read with every number as a
``Decimal``. Both computation paths (the decimal core and the Spark expressions) are
generated from the same :class:`Standard`, so adding a standard is adding a table, not
code. The loader checks the table's shape up front: a table that loads is one both paths
can compute exactly.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from decimal import Decimal
from functools import cache
from importlib import resources
from pathlib import Path
from typing import Any, Literal

IndexRounding = Literal["half_up", "ceiling"]
AboveRule = Literal["extrapolate", "cap", "defer"]

BUILTIN = ("us-epa-2024", "cn-hj633-2012")


class StandardError(ValueError):
    """A standard's table is malformed or inconsistent."""


@dataclass(frozen=True)
class Band:
    """One row of a breakpoint table: concentrations ``c_low..c_high`` map to ``i_low..i_high``."""

    c_low: Decimal
    c_high: Decimal
    i_low: int
    i_high: int


@dataclass(frozen=True)
class Category:
    name: str
    low: int
    high: int | None  # None: open-ended top category
    color: str


@dataclass(frozen=True)
class FieldTable:
    """Breakpoints of one pollutant at one averaging period, in the field's unit."""

    name: str
    pollutant: str
    averaging: str
    unit: str
    decimals: int  # concentrations are truncated to this many decimal places before lookup
    bands: tuple[Band, ...]
    above: AboveRule
    defer_to: str | None = None
    fallback: int | None = None

    @property
    def low(self) -> Decimal:
        return self.bands[0].c_low

    @property
    def high(self) -> Decimal:
        return self.bands[-1].c_high

    @property
    def quantum(self) -> Decimal:
        return Decimal(1).scaleb(-self.decimals)

    # The reasons below are part of the result; both paths take them from here.
    def below_message(self) -> str:
        return f"{self.name} below {self.low} {self.unit}: the standard defines no {self.averaging} sub-index"

    def deferred_message(self) -> str:
        return f"{self.name} above {self.high} {self.unit}: no {self.averaging} sub-index, {self.defer_to} decides"

    def above_message(self) -> str:
        if self.above == "cap":
            top = self.bands[-1].i_high
            return f"{self.name} above {self.high} {self.unit}: sub-index capped at {top}"
        if self.fallback is not None:
            return (
                f"{self.name} above {self.high} {self.unit} and no {self.defer_to} sub-index: "
                f"the index is {self.fallback}"
            )
        return (
            f"{self.name} above {self.high} {self.unit}: the standard defines no "
            f"{self.averaging} sub-index and there is no {self.defer_to} sub-index"
        )


@dataclass(frozen=True)
class Standard:
    id: str
    name: str
    source: str
    index_rounding: IndexRounding
    index_top: int  # an AQI above this is "beyond the index" (still the top category)
    dominant_above: int | None  # report dominant pollutants only above this AQI (HJ 633)
    categories: tuple[Category, ...]
    fields: tuple[FieldTable, ...]

    def __post_init__(self) -> None:
        object.__setattr__(self, "_by_name", {f.name: f for f in self.fields})

    def field(self, name: str) -> FieldTable:
        return self._by_name[name]  # type: ignore[attr-defined]

    def field_names(self) -> tuple[str, ...]:
        return tuple(f.name for f in self.fields)

    def pollutants(self) -> tuple[str, ...]:
        return tuple(dict.fromkeys(f.pollutant for f in self.fields))

    def category(self, aqi: int) -> Category:
        for cat in self.categories:
            if cat.high is None or aqi <= cat.high:
                return cat
        raise StandardError(f"{self.id}: no category for AQI {aqi}")  # unreachable after validation

    def evaluation_order(self) -> tuple[FieldTable, ...]:
        """Fields whose above-rule defers to another field come after that field."""
        return tuple(f for f in self.fields if f.above != "defer") + tuple(f for f in self.fields if f.above == "defer")

    def beyond_message(self) -> str:
        return f"AQI above {self.index_top} is beyond the index; reported in the top category"


def _dec(value: Any, where: str) -> Decimal:
    if isinstance(value, bool) or not isinstance(value, (int, str, Decimal)):
        raise StandardError(f"{where}: expected a number, got {value!r}")
    try:
        out = Decimal(value)
    except ArithmeticError as exc:
        raise StandardError(f"{where}: {value!r} is not a number") from exc
    if not out.is_finite():
        raise StandardError(f"{where}: {value!r} is not finite")
    return out


def _int(value: Any, where: str) -> int:
    number = _dec(value, where)
    if number != number.to_integral_value():
        raise StandardError(f"{where}: index values are integers, got {value!r}")
    return int(number)


def _field(name: str, spec: dict[str, Any]) -> FieldTable:
    where = f"field {name}"
    decimals = _int(spec["decimals"], f"{where}.decimals")
    if not 0 <= decimals <= 6:
        raise StandardError(f"{where}: decimals must be 0..6")
    bands = tuple(
        Band(_dec(lo, where), _dec(hi, where), _int(ilo, where), _int(ihi, where)) for lo, hi, ilo, ihi in spec["bands"]
    )
    if not bands:
        raise StandardError(f"{where}: no bands")
    quantum = Decimal(1).scaleb(-decimals)
    for i, band in enumerate(bands):
        for c in (band.c_low, band.c_high):
            if c < 0 or c.quantize(quantum) != c:
                raise StandardError(f"{where}: breakpoint {c} is negative or finer than {quantum}")
        if not (band.c_low < band.c_high and band.i_low < band.i_high):
            raise StandardError(f"{where}: band {i} is not increasing")
        if i:
            prev = bands[i - 1]
            # Discrete tables (EPA) leave exactly one truncation step between rows;
            # continuous ones (HJ 633) share the breakpoint. Anything else has holes.
            if band.c_low - prev.c_high not in (Decimal(0), quantum):
                raise StandardError(f"{where}: gap between {prev.c_high} and {band.c_low}")
            if band.i_low < prev.i_high:
                raise StandardError(f"{where}: index ranges overlap at band {i}")
    above = spec.get("above", {}).get("rule", "extrapolate")
    if above not in ("extrapolate", "cap", "defer"):
        raise StandardError(f"{where}: unknown above rule {above!r}")
    defer_to = spec["above"].get("to") if above == "defer" else None
    fallback = spec["above"].get("fallback") if above == "defer" else None
    return FieldTable(
        name=name,
        pollutant=str(spec["pollutant"]),
        averaging=str(spec["averaging"]),
        unit=str(spec["unit"]),
        decimals=decimals,
        bands=bands,
        above=above,
        defer_to=defer_to,
        fallback=None if fallback is None else _int(fallback, f"{where}.fallback"),
    )


def parse_standard(doc: dict[str, Any]) -> Standard:
    """Build a :class:`Standard` from its JSON document (numbers already ``Decimal``)."""
    try:
        fields = tuple(_field(name, spec) for name, spec in doc["fields"].items())
        categories = tuple(
            Category(
                name=str(c["name"]),
                low=_int(c["low"], "category"),
                high=None if c["high"] is None else _int(c["high"], "category"),
                color=str(c["color"]),
            )
            for c in doc["categories"]
        )
        rounding = doc.get("index_rounding", "half_up")
        if rounding not in ("half_up", "ceiling"):
            raise StandardError(f"unknown index_rounding {rounding!r}")
        dominant_above = doc.get("dominant_above")
        standard = Standard(
            id=str(doc["id"]),
            name=str(doc["name"]),
            source=str(doc.get("source", "")),
            index_rounding=rounding,
            index_top=_int(doc["index_top"], "index_top"),
            dominant_above=None if dominant_above is None else _int(dominant_above, "dominant_above"),
            categories=categories,
            fields=fields,
        )
    except (KeyError, TypeError) as exc:
        raise StandardError(f"malformed standard: missing or wrong {exc}") from exc
    names = set(standard.field_names())
    for f in fields:
        if f.above == "defer":
            target = f.defer_to
            if target not in names or standard.field(target).above == "defer":
                raise StandardError(f"field {f.name}: defers to {target!r}, which must be a non-deferring field")
    if not categories or categories[0].low != 0 or categories[-1].high is not None:
        raise StandardError("categories must start at 0 and end open-ended")
    for a, b in zip(categories, categories[1:], strict=False):
        if a.high is None or b.low != a.high + 1:
            raise StandardError(f"categories {a.name} and {b.name} are not contiguous")
    return standard


@cache
def load_standard(name_or_path: str | Path = "us-epa-2024") -> Standard:
    """A built-in standard by id (``us-epa-2024``, ``cn-hj633-2012``) or one from a JSON file."""
    if isinstance(name_or_path, str) and name_or_path in BUILTIN:
        text = resources.files("c360.aqi").joinpath("tables", f"{name_or_path}.json").read_text("utf-8")
    else:
        path = Path(name_or_path)
        if not path.is_file():
            raise StandardError(f"unknown standard {name_or_path!r}; built in: {', '.join(BUILTIN)}")
        text = path.read_text("utf-8")
    return parse_standard(json.loads(text, parse_float=Decimal, parse_int=Decimal))


def resolve_standard(standard: str | Path | Standard) -> Standard:
    return standard if isinstance(standard, Standard) else load_standard(standard)
