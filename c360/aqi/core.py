"""The decimal core: one input record -> one AQI result, in exact decimal arithmetic.

Binary floats get boundary cases wrong (0.205 is 0.20499... as a double), so values stay
``Decimal`` from parsing to the final integer, and every formula here has an exact twin
in :mod:`c360.aqi.spark`.
"""

from __future__ import annotations

from decimal import ROUND_DOWN, Decimal
from typing import Any

from c360.aqi.standards import Band, FieldTable, Standard
from c360.aqi.validate import (
    CONVERSIONS,
    CTX,
    KNOWN_UNITS,
    MAX_VALUE,
    NO_POLLUTANTS,
    error,
    normalize_averaging,
    normalize_token,
    normalize_unit,
    parse_number,
)

RESULT_FIELDS = (
    "aqi",
    "category",
    "color",
    "dominant_pollutant",
    "sub_indices",
    "notes",
    "errors",
    "status",
)


def is_long_form(record: dict[str, Any]) -> bool:
    """Long form: one measurement per record, named by ``pollutant`` + ``averaging``."""
    return "pollutant" in record and "value" in record


def field_key(pollutant: object, averaging: object) -> str:
    return f"{normalize_token(str(pollutant or ''))}_{normalize_averaging(str(averaging or ''))}"


def read_values(record: dict[str, Any], standard: Standard) -> tuple[dict[str, Decimal], list[dict[str, Any]]]:
    """A wide or long record -> (valid concentrations in the fields' units, errors)."""
    values: dict[str, Decimal] = {}
    errors: list[dict[str, Any]] = []
    if is_long_form(record):
        key = field_key(record.get("pollutant"), record.get("averaging"))
        try:
            table = standard.field(key)
        except KeyError:
            errors.append(error(key, "unknown_field"))
            return values, errors
        factor, unit_error = _unit_factor(record.get("unit"), table)
        number, kind = parse_number(record.get("value"))
        if kind is None and number is not None and unit_error is not None:
            kind = unit_error
        pairs = [(table, number, kind, factor)]
    else:
        pairs = []
        for table in standard.fields:
            number, kind = parse_number(record.get(table.name))
            pairs.append((table, number, kind, Decimal(1)))
    for table, number, kind, factor in pairs:
        if kind is None and number is not None:
            number = CTX.multiply(number, factor)
            if number >= MAX_VALUE:
                kind = "out_of_range"
        if kind is not None:
            errors.append(error(table.name, kind))
        elif number is not None:
            values[table.name] = number
    return values, errors


def _unit_factor(unit: object, table: FieldTable) -> tuple[Decimal, str | None]:
    if unit is None or (isinstance(unit, str) and not unit.strip(" ")):
        return Decimal(1), None  # no unit given: the standard's unit
    given, wanted = normalize_unit(str(unit)), normalize_unit(table.unit)
    if given == wanted:
        return Decimal(1), None
    if given not in KNOWN_UNITS:
        return Decimal(1), "unknown_unit"
    factor = CONVERSIONS.get((given, wanted))
    return (Decimal(1), "unit_not_convertible") if factor is None else (factor, None)


def interpolate(band: Band, c: Decimal, rounding: str) -> int:
    """The TAD's equation, exactly: I = (Ihi-Ilo)/(BPhi-BPlo) * (C-BPlo) + Ilo, then rounded.

    With D = BPhi-BPlo and A = Ilo*D + (Ihi-Ilo)*(C-BPlo) (both exact), the rounded index is
    floor((2A + D) / 2D) for half-up and ceil(A / D) for ceiling: integer division only.
    """
    d = band.c_high - band.c_low
    a = CTX.add(CTX.multiply(band.i_low, d), CTX.multiply(band.i_high - band.i_low, c - band.c_low))
    if rounding == "half_up":
        return int(CTX.divide_int(CTX.add(CTX.multiply(2, a), d), CTX.multiply(2, d)))
    quotient, remainder = CTX.divmod(a, d)
    return int(quotient) + (1 if remainder else 0)


def truncate(value: Decimal, table: FieldTable) -> Decimal:
    return value.quantize(table.quantum, rounding=ROUND_DOWN, context=CTX)


def table_index(table: FieldTable, value: Decimal, rounding: str) -> tuple[int | None, str | None]:
    """Sub-index of one field from its own table -> (index, note kind).

    Returns ("above", ...) semantics through the note kind ``"above"`` for defer rules,
    which the caller resolves once the other field is known.
    """
    c = truncate(value, table)
    if c < table.low:
        return None, "below_range"
    for band in table.bands:
        if c <= band.c_high:
            return interpolate(band, c, rounding), None
    if table.above == "extrapolate":
        return interpolate(table.bands[-1], c, rounding), None
    if table.above == "cap":
        return table.bands[-1].i_high, "capped"
    return None, "above"


def compute(values: dict[str, Decimal], errors: list[dict[str, Any]], standard: Standard) -> dict[str, Any]:
    """Valid concentrations (+ input errors) -> the result fields of one record."""
    indices: dict[str, int | None] = {}
    note_kinds: dict[str, str] = {}
    for table in standard.evaluation_order():
        if table.name not in values:
            continue
        index, kind = table_index(table, values[table.name], standard.index_rounding)
        if kind == "above":  # defer: the other averaging period decides if it can
            if indices.get(table.defer_to or "") is not None:
                kind = "deferred"
            elif table.fallback is not None:
                index, kind = table.fallback, "fallback"
            else:
                kind = "above_range"
        indices[table.name] = index
        if kind is not None:
            note_kinds[table.name] = kind
    sub_indices: dict[str, int] = {
        name: index for name in standard.field_names() if (index := indices.get(name)) is not None
    }
    notes: list[dict[str, Any]] = [
        {
            "field": name,
            "kind": note_kinds[name],
            "message": note_message(standard.field(name), note_kinds[name]),
        }
        for name in standard.field_names()
        if name in note_kinds
    ]
    by_pollutant: dict[str, int] = {}
    for name, index in sub_indices.items():
        pollutant = standard.field(name).pollutant
        by_pollutant[pollutant] = max(index, by_pollutant.get(pollutant, index))
    aqi = max(by_pollutant.values()) if by_pollutant else None
    if not values and not errors:
        errors = [*errors, error(None, "no_pollutants", NO_POLLUTANTS)]
    if aqi is None:
        return {
            "aqi": None,
            "category": None,
            "color": None,
            "dominant_pollutant": [],
            "sub_indices": sub_indices,
            "notes": notes,
            "errors": errors,
            "status": "invalid" if errors else "ok",
        }
    if aqi > standard.index_top:
        notes.append({"field": None, "kind": "beyond_index", "message": standard.beyond_message()})
    category = standard.category(aqi)
    show_dominant = standard.dominant_above is None or aqi > standard.dominant_above
    return {
        "aqi": aqi,
        "category": category.name,
        "color": category.color,
        "dominant_pollutant": [p for p in standard.pollutants() if by_pollutant.get(p) == aqi] if show_dominant else [],
        "sub_indices": sub_indices,
        "notes": notes,
        "errors": errors,
        "status": "ok",
    }


def note_message(table: FieldTable, kind: str) -> str:
    if kind == "below_range":
        return table.below_message()
    if kind == "deferred":
        return table.deferred_message()
    return table.above_message()  # capped, fallback, above_range


def evaluate(record: object, standard: Standard) -> dict[str, Any]:
    """One input record (a JSON object) -> the input's fields plus the result fields."""
    if not isinstance(record, dict):
        result = compute({}, [error(None, "not_an_object", "record is not a JSON object")], standard)
        return {"_input": record, **result}
    values, errors = read_values(record, standard)
    return {**record, **compute(values, errors, standard)}
