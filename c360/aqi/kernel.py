"""The exact integer kernel: a whole column batch of readings -> AQI results, vectorised.

Truncated concentrations are fixed-point numbers, so the TAD's equation is exact in scaled
64-bit integers: a field with ``d`` decimals holds ``floor(c * 10**d)``, and the rounded
index is ``floor((2A + D) / 2D)`` (half up) or ``ceil(A / D)`` (ceiling), with ``D`` and
``A`` the scaled terms of :func:`c360.aqi.core.interpolate`. Every bound stays far inside
int64: values are below 1e9 in the standard's unit (``MAX_VALUE``), so ``c * 10**6 < 1e15``
and ``A < 500 * 1e15``.

Parsing is vectorised with pyarrow compute: a plain number (up to 9 integer digits, up to 20
decimals, no sign or exponent: nearly every reading) is split into its digits and read as
``floor(x * 10**9)``, exactly. Anything else (signs, exponents, NaN, words, ``".5"``) goes
through :func:`c360.aqi.validate.parse_number`, the decimal path's own rule, value by value;
so the error kinds and messages are the decimal core's whatever the input kind. The tests
check this kernel against :mod:`c360.aqi.core` on a hypothesis sample and every band edge.
"""

from __future__ import annotations

import functools
import json
import os
from collections.abc import Callable
from dataclasses import dataclass
from decimal import ROUND_FLOOR, Decimal
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from c360.aqi.core import note_message
from c360.aqi.standards import FieldTable, Standard
from c360.aqi.validate import (
    AVERAGING_PATTERN,
    CONVERSIONS,
    CTX,
    ERROR_MESSAGES,
    KNOWN_UNITS,
    MAX_VALUE,
    NO_POLLUTANTS,
    parse_number,
)

SCALE = 9  # plain numbers are read as floor(x * 10**SCALE)
_FAST = r"^(?P<i>[0-9]{1,9})(?:[.](?P<f>[0-9]{0,20}))?$"
# Error kinds of one value, by code (0: no error). unknown_field is the long form's key error.
KINDS = (
    "",
    "empty",
    "non_numeric",
    "not_finite",
    "negative",
    "out_of_range",
    "unknown_unit",
    "unit_not_convertible",
)
_KIND_CODE = {k: i for i, k in enumerate(KINDS)}
NOTE_KINDS = ("", "below_range", "capped", "deferred", "fallback", "above_range")
_NONE = -1  # no index


@dataclass
class ParsedColumn:
    """One input column read as numbers, per slot.

    A slot is a distinct input value when the column repeats its values (``codes`` maps each
    row to its slot, the last slot being "no value"), else a row (``codes`` is None). The
    arrays are per slot: ``y = floor(x * 10**9)`` for plain numbers, ``exact`` (slot ->
    Decimal at the input scale) for the rest, ``kind`` the error codes. Readings repeat (a
    sensor reports a few thousand distinct values), so the exact parsing and the band lookup
    run once per distinct value and the rows only gather the outcome.
    """

    present: np.ndarray  # bool: a value was given (not null)
    y: np.ndarray  # int64, valid where fast
    fast: np.ndarray  # bool
    exact: dict[int, Decimal]
    kind: np.ndarray  # int8 error code
    codes: np.ndarray | None = None  # intp: row -> slot; None: a slot per row

    def rows(self) -> ParsedColumn:
        """The same column with one slot per row (the long form converts units row by row)."""
        codes = self.codes
        if codes is None:
            return self
        exact: dict[int, Decimal] = {}
        if self.exact:
            slots = np.fromiter(self.exact, np.int64, len(self.exact))
            for row in np.flatnonzero(np.isin(codes, slots)).tolist():
                exact[row] = self.exact[int(codes[row])]
        return ParsedColumn(self.present[codes], self.y[codes], self.fast[codes], exact, self.kind[codes])


DISTINCT_SAMPLE = 8192  # rows looked at to decide whether a column repeats its values


def parse_column(values: pa.Array | pa.ChunkedArray) -> ParsedColumn:
    """Any Arrow column -> numbers and error kinds, with the decimal path's rules."""
    if isinstance(values, pa.ChunkedArray):
        values = values.combine_chunks() if values.num_chunks != 1 else values.chunk(0)
    n = len(values)
    if pa.types.is_null(values.type):
        return ParsedColumn(np.zeros(1, bool), np.zeros(1, np.int64), np.zeros(1, bool), {}, np.zeros(1, np.int8),
                            np.zeros(n, np.intp))  # fmt: skip
    if pa.types.is_decimal128(values.type):
        # Readings repeat: hashing 16-byte decimals and parsing each distinct one once costs
        # less than rescaling every row (~1.2x on the benchmark's records).
        dictionary = pc.dictionary_encode(values) if _repeats(values) else None
        parsed = _parse_decimal(values if dictionary is None else dictionary.dictionary)
        if parsed is not None:
            return parsed if dictionary is None else _per_slot(parsed, dictionary)
    try:
        if pa.types.is_dictionary(values.type):
            encoded = values
        else:
            encoded = pc.dictionary_encode(values) if _repeats(values) else None
        text = values if encoded is None else encoded.dictionary
        if not (_textual(text.type) or pa.types.is_float64(text.type)):
            text = pc.cast(text, pa.string())  # float32, integers...: their text
    except (pa.ArrowInvalid, pa.ArrowNotImplementedError, pa.ArrowTypeError):
        # Lists, structs...: not a number, whatever they hold.
        present = values.is_valid().to_numpy(zero_copy_only=False)
        kind = np.where(present, _KIND_CODE["non_numeric"], 0).astype(np.int8)
        return ParsedColumn(present, np.zeros(n, np.int64), np.zeros(n, bool), {}, kind)
    present, y, fast, exact, kind = _parse_float(text) if pa.types.is_float64(text.type) else _parse_text(text)
    if encoded is None:
        return ParsedColumn(present, y, fast, exact, kind)
    return _per_slot(ParsedColumn(present, y, fast, exact, kind), encoded)


def _per_slot(parsed: ParsedColumn, encoded: pa.DictionaryArray) -> ParsedColumn:
    """A parsed dictionary -> the column's slots: one per dictionary entry, then "no value"."""
    size = len(encoded.dictionary)
    codes = encoded.indices.fill_null(size).to_numpy(zero_copy_only=False).astype(np.intp, copy=False)
    return ParsedColumn(
        np.append(parsed.present, False), np.append(parsed.y, 0), np.append(parsed.fast, False), parsed.exact,
        np.append(parsed.kind, 0).astype(np.int8), codes,
    )  # fmt: skip


def _parse_decimal(values: pa.Array) -> ParsedColumn | None:
    """A decimal128 column read without text: a truncating cast to scale 9 is ``floor(x * 10**9)``
    for ``0 <= x < 1e9`` (read from the low word); a negative value (the sign of the input's
    high word, so even -1e-20 counts) is the error; anything else (1e9 or more: valid in a unit
    converted down) goes through :func:`parse_number` value by value. None: a column whose
    values do not fit decimal128(38, 9), read as text instead."""
    try:
        scaled = pc.cast(values, pa.decimal128(38, SCALE), safe=False)
    except (pa.ArrowInvalid, pa.ArrowNotImplementedError):
        return None
    present = values.is_valid().to_numpy(zero_copy_only=False)
    low, high = _words(scaled)
    negative = present & (_words(values)[1] < 0)
    fast = present & ~negative & (high == 0) & (low >= 0) & (low < 10 ** (SCALE + 9))
    kind = np.where(negative, _KIND_CODE["negative"], 0).astype(np.int8)
    exact = _parse_exactly(values, np.flatnonzero(present & ~fast & ~negative), kind)
    return ParsedColumn(present, np.where(fast, low, 0), fast, exact, kind)


def _parse_exactly(values: pa.Array, rows: np.ndarray, kind: np.ndarray) -> dict[int, Decimal]:
    """The values the vectorised parse could not take, through the exact parser one by one:
    their numbers by row, and their error kinds written into ``kind``."""
    exact: dict[int, Decimal] = {}
    if not len(rows):
        return exact
    for row, value in zip(rows.tolist(), values.take(pa.array(rows)).to_pylist(), strict=True):
        number, error_kind = parse_number(value)
        if error_kind is not None:
            kind[row] = _KIND_CODE[error_kind]
        else:
            exact[row] = number  # type: ignore[assignment]
    return exact


def _words(values: pa.Array) -> tuple[np.ndarray, np.ndarray]:
    """The low and high 64-bit words of a decimal128 array's values (little-endian)."""
    words = np.frombuffer(values.buffers()[1], "<i8")[2 * values.offset : 2 * (values.offset + len(values))]
    return words[0::2], words[1::2]


def _repeats(values: pa.Array) -> bool:
    """Whether a column repeats its values enough that working per distinct value pays: judged
    on its first rows (hashing a million distinct texts costs more than parsing them)."""
    if len(values) <= DISTINCT_SAMPLE:
        return True
    sample = values.slice(0, DISTINCT_SAMPLE)
    return len(pc.unique(sample)) < 0.9 * DISTINCT_SAMPLE


def _textual(t: pa.DataType) -> bool:
    return pa.types.is_string(t) or pa.types.is_large_string(t)


FLOAT_GRID_LIMIT = 1e6  # below it, a double on the 1e-9 grid has at most 15 significant digits


def _parse_float(values: pa.Array) -> tuple[np.ndarray, np.ndarray, np.ndarray, dict[int, Decimal], np.ndarray]:
    """Doubles -> (present, y, fast, exact, kind) as :func:`parse_number` reads them (through
    their shortest repr), without making the text.

    For ``0 <= d < 1e6``, with ``p = d * 1e9`` and ``M = rint(p)``: if ``M / 1e9 == d`` (an
    IEEE division, correctly rounded), the decimal ``M * 1e-9`` rounds to ``d`` and has at most
    15 significant digits, so it *is* the shortest repr's value (two such decimals cannot round
    to one double) and ``y = M``. Otherwise the repr has more than 9 decimals and no multiple
    of 1e-9 lies between it and ``d`` (that multiple would round to ``d`` and be ``M``), so
    ``y = floor(d * 1e9)``, which ``floor(p)`` is whenever ``p`` is not within its rounding
    error (or 1e-9, where the repr's rounding to 20 decimals could carry) of an integer. Every
    other value (near an integer, 1e6 or more, negative, NaN, infinite) goes through
    :func:`parse_number` one by one. Tested against it on random doubles of every magnitude.
    """
    n = len(values)
    present = values.is_valid().to_numpy(zero_copy_only=False)
    d = values.to_numpy(zero_copy_only=False)
    with np.errstate(invalid="ignore"):
        usable = present & (d >= 0) & (d < FLOAT_GRID_LIMIT)  # NaN compares false
    d = np.where(usable, d, 0.0)
    p = d * 1e9
    m = np.rint(p)
    on_grid = usable & (m / 1e9 == d)
    below = np.floor(p)
    frac = p - below
    margin = np.maximum(4 * np.spacing(p), 1e-9)
    off_grid = usable & ~on_grid & (frac > margin) & (1 - frac > margin)
    fast = on_grid | off_grid
    y = np.where(on_grid, m, np.where(off_grid, below, 0)).astype(np.int64)
    kind = np.zeros(n, np.int8)
    exact = _parse_exactly(values, np.flatnonzero(present & ~fast), kind)
    return present, y, fast, exact, kind


def _parse_text(values: pa.Array) -> tuple[np.ndarray, np.ndarray, np.ndarray, dict[int, Decimal], np.ndarray]:
    """Distinct texts -> (present, y, fast, exact, kind), exactly.

    Plain numbers (``_FAST``) are cast to ``decimal128(18, 9)`` with truncation, which is
    ``floor(x * 10**9)`` for them, and read as int64 from the decimal's low word (they are
    below 1e18). Anything else goes through :func:`parse_number`, value by value.
    """
    n = len(values)
    text = pc.utf8_trim(values, " ")
    present = values.is_valid().to_numpy(zero_copy_only=False)
    fast = pc.fill_null(pc.match_substring_regex(text, _FAST), False).to_numpy(zero_copy_only=False)
    y = np.zeros(n, np.int64)
    if fast.any():
        plain = pc.if_else(pa.array(fast), text, pa.nulls(n, text.type))
        scaled = pc.cast(plain, pa.decimal128(18, SCALE), safe=False)
        words = np.frombuffer(scaled.buffers()[1], "<i8")[2 * scaled.offset : 2 * (scaled.offset + n)]
        y = np.where(fast, words[::2], 0)
    kind = np.zeros(n, np.int8)
    exact = _parse_exactly(values, np.flatnonzero(present & ~fast), kind)
    return present, y, fast, exact, kind


@dataclass
class FieldInput:
    """One field's concentrations in the standard's unit: ``t = floor(c * 10**decimals)``,
    per slot (see :class:`ParsedColumn`)."""

    has: np.ndarray  # bool: a valid value
    t: np.ndarray  # int64
    kind: np.ndarray  # int8 error code
    codes: np.ndarray | None = None  # intp: row -> slot; None: a slot per row

    def rows(self, per_slot: np.ndarray) -> np.ndarray:
        return per_slot if self.codes is None else per_slot[self.codes]


def field_values(parsed: ParsedColumn, table: FieldTable, exponent: np.ndarray | int = 0) -> FieldInput:
    """Scale, convert (``* 10**exponent``, the unit factor) and truncate one parsed column."""
    kind = parsed.kind.copy()
    exp = np.broadcast_to(np.asarray(exponent, np.int64), kind.shape)
    # converted >= MAX_VALUE (1e9)  <=>  y * 10**exp >= 10**(SCALE + 9)
    if isinstance(exponent, int):  # one unit for the column (the wide form): scalar arithmetic
        limit: np.ndarray | int = 10 ** (SCALE + 9 - exponent)
        divisor: np.ndarray | int = 10 ** (SCALE - table.decimals - exponent)
    else:
        limit, divisor = 10 ** (SCALE + 9 - exp), 10 ** (SCALE - table.decimals - exp)
    big = parsed.fast & (kind == 0) & (parsed.y >= limit)
    kind[big] = _KIND_CODE["out_of_range"]
    t = parsed.y // divisor
    for row, number in parsed.exact.items():
        if kind[row]:
            continue
        converted = CTX.multiply(number, Decimal(10) ** int(exp[row]))
        if converted >= MAX_VALUE:
            kind[row] = _KIND_CODE["out_of_range"]
            continue
        t[row] = int(converted.scaleb(table.decimals).to_integral_value(rounding=ROUND_FLOOR))
    has = parsed.present & (kind == 0)
    return FieldInput(has, np.where(has, t, 0), kind, parsed.codes)


@dataclass
class Results:
    """The kernel's output for a batch, as arrays (one row per input record)."""

    standard: Standard
    sub: np.ndarray  # (fields, n) int64 sub-indices, -1: none
    note: np.ndarray  # (fields, n) int8 note codes
    error: np.ndarray  # (fields, n) int8 error codes
    aqi: np.ndarray  # (n,) int64, -1: none
    category: np.ndarray  # (n,) int64 category position, -1: none
    dominant: np.ndarray  # (pollutants, n) bool
    no_pollutants: np.ndarray  # (n,) bool
    unknown_key: np.ndarray | None = None  # (n,) object: the long form's unknown field key, or None

    def __len__(self) -> int:
        return len(self.aqi)

    @property
    def status_invalid(self) -> np.ndarray:
        has_error = (self.error != 0).any(axis=0) | self.no_pollutants
        if self.unknown_key is not None:
            has_error |= self.unknown_key != None  # noqa: E711 - elementwise
        return (self.aqi < 0) & has_error

    def take(self, rows: np.ndarray) -> Results:
        """The results of some rows, in the given order."""
        unknown = None if self.unknown_key is None else self.unknown_key[rows]
        return Results(self.standard, self.sub[:, rows], self.note[:, rows], self.error[:, rows], self.aqi[rows],
                       self.category[rows], self.dominant[:, rows], self.no_pollutants[rows], unknown)  # fmt: skip


def evaluate(inputs: dict[str, FieldInput], standard: Standard, n: int) -> Results:
    """Sub-indices, deferral and capping, overall index, category and dominant pollutants."""
    names = standard.field_names()
    sub = np.full((len(names), n), _NONE, np.int64)
    note = np.zeros((len(names), n), np.int8)
    error = np.zeros((len(names), n), np.int8)
    row_of = {name: i for i, name in enumerate(names)}
    any_value = np.zeros(n, bool)
    any_error = np.zeros(n, bool)
    for table in standard.evaluation_order():
        i = row_of[table.name]
        value = inputs.get(table.name)
        if value is None:
            continue
        # Per slot (a distinct input value), then gathered to the rows.
        index, kind = _table_index(table, value.t, standard.index_rounding)
        kind = np.where(value.has, kind, 0).astype(np.int8)
        index = np.where(value.has, index, _NONE)
        state = np.where(value.has, 1, np.where(value.kind != 0, 2, 0)).astype(np.int8)
        error[i] = value.rows(value.kind)
        index, kind, state = value.rows(index), value.rows(kind), value.rows(state)
        any_value |= state == 1
        any_error |= state == 2
        if table.above == "defer":
            above = np.flatnonzero(kind == 99)
            target = sub[row_of[table.defer_to or ""]][above] >= 0
            kind[above[target]] = 3
            if table.fallback is not None:
                index[above[~target]] = table.fallback
                kind[above[~target]] = 4
            else:
                kind[above[~target]] = 5
        sub[i], note[i] = index, kind
    pollutants = standard.pollutants()
    by_pollutant = np.full((len(pollutants), n), _NONE, np.int64)
    for p, pollutant in enumerate(pollutants):
        rows = [row_of[t.name] for t in standard.fields if t.pollutant == pollutant]
        by_pollutant[p] = sub[rows].max(axis=0)
    aqi = by_pollutant.max(axis=0) if len(pollutants) else np.full(n, _NONE, np.int64)
    highs = np.array([c.high if c.high is not None else np.iinfo(np.int64).max for c in standard.categories])
    category = np.where(aqi >= 0, np.searchsorted(highs, aqi, side="left"), _NONE)
    dominant = (by_pollutant == aqi) & (aqi >= 0)
    if standard.dominant_above is not None:
        dominant &= aqi > standard.dominant_above
    return Results(standard, sub, note, error, aqi, category, dominant, ~any_value & ~any_error)


_BANDS: dict[int, tuple[FieldTable, tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]]] = {}


def _band_arrays(table: FieldTable) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """A table's bands as scaled int64 arrays (low and high concentration, low and high index),
    made once per table object (hashing a table costs as much as making them)."""
    cached = _BANDS.get(id(table))
    if cached is None or cached[0] is not table:
        cached = _BANDS[id(table)] = (table, _make_band_arrays(table))
    return cached[1]


def _make_band_arrays(table: FieldTable) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    scale = 10**table.decimals
    lo = np.array([int(b.c_low * scale) for b in table.bands], np.int64)
    hi = np.array([int(b.c_high * scale) for b in table.bands], np.int64)
    ilo = np.array([b.i_low for b in table.bands], np.int64)
    ihi = np.array([b.i_high for b in table.bands], np.int64)
    return lo, hi, ilo, ihi


def _table_index(table: FieldTable, t: np.ndarray, rounding: str) -> tuple[np.ndarray, np.ndarray]:
    """(sub-index, note code) of one field; note 99 marks a pending defer ("above")."""
    lo, hi, ilo, ihi = _band_arrays(table)
    band = np.searchsorted(hi, t, side="left")
    above = band >= len(hi)
    band = np.minimum(band, len(hi) - 1)  # above: the top band (extrapolation)
    d = hi[band] - lo[band]
    a = ilo[band] * d + (ihi[band] - ilo[band]) * (t - lo[band])
    index = (2 * a + d) // (2 * d) if rounding == "half_up" else -((-a) // d)
    kind = np.zeros(len(t), np.int8)
    below = t < lo[0]
    if table.above == "cap":
        index = np.where(above, ihi[-1], index)
        kind[above] = 2
    elif table.above == "defer":
        index = np.where(above, _NONE, index)
        kind[above] = 99
    index = np.where(below, _NONE, index)
    kind[below] = 1
    return index, kind


# ----------------------------------------------------------------------------- inputs


def _normalize(col: pa.Array, drop: str) -> pa.Array:
    text = pc.fill_null(pc.cast(col, pa.string()), "")
    return pc.replace_substring_regex(pc.utf8_lower(text), drop, "")


def evaluate_table(table: pa.Table, standard: Standard) -> Results:
    """An Arrow table in the wide form (a column per field) or the long form
    (``pollutant``, ``value``, optional ``averaging`` and ``unit``) -> :class:`Results`."""
    n = table.num_rows
    if "pollutant" in table.column_names and "value" in table.column_names:
        return _evaluate_long(table, standard)
    names = standard.field_names()
    if not set(names) & set(table.column_names):
        raise ValueError(
            f"no AQI input columns: expected some of {', '.join(names)} (wide form) "
            "or pollutant/averaging/value/unit (long form)"
        )
    inputs = {
        t.name: field_values(parse_column(table.column(t.name)), t)
        for t in standard.fields
        if t.name in table.column_names
    }
    return evaluate(inputs, standard, n)


def _evaluate_long(table: pa.Table, standard: Standard) -> Results:
    n = table.num_rows
    averaging = table.column("averaging") if "averaging" in table.column_names else pa.nulls(n, pa.string())
    key_token = _normalize(table.column("pollutant"), "[^a-z0-9]")
    avg_token = pc.replace_substring_regex(_normalize(averaging, "[^a-z0-9]"), AVERAGING_PATTERN, r"\1h")
    keys = pc.binary_join_element_wise(key_token, avg_token, "_")
    keys_np = np.asarray(keys.to_numpy(zero_copy_only=False), dtype=object)
    # Unit factor as a power of ten, and the unit's own error, per row.
    unit = table.column("unit") if "unit" in table.column_names else pa.nulls(n, pa.string())
    unit_text = pc.cast(unit, pa.string())
    blank = pc.fill_null(pc.equal(pc.utf8_trim(unit_text, " "), ""), True).to_numpy(zero_copy_only=False)
    given = pc.replace_substring_regex(
        pc.replace_substring(pc.replace_substring(pc.replace_substring(
            pc.utf8_lower(pc.fill_null(unit_text, "")), "µ", "u"), "μ", "u"), "³", "3"),
        "[^a-z0-9]", "",
    )  # fmt: skip
    given_np = np.asarray(given.to_numpy(zero_copy_only=False), dtype=object)
    parsed = parse_column(table.column("value")).rows()
    inputs: dict[str, FieldInput] = {}
    known = np.zeros(n, bool)
    for field in standard.fields:
        mine = keys_np == field.name
        known |= mine
        wanted = "".join(ch for ch in field.unit.lower().replace("µ", "u").replace("μ", "u").replace("³", "3")
                         if ch.isascii() and ch.isalnum())  # fmt: skip
        exponent = np.zeros(n, np.int64)
        unit_kind = np.where(blank | (given_np == wanted), 0, _KIND_CODE["unknown_unit"]).astype(np.int8)
        for (src, dst), factor in CONVERSIONS.items():
            if dst == wanted:
                pair = (given_np == src) & ~blank
                exponent[pair] = int(factor.adjusted())
                unit_kind[pair] = 0
        unknown = unit_kind != 0
        unit_kind[unknown & np.isin(given_np, KNOWN_UNITS)] = _KIND_CODE["unit_not_convertible"]
        exponent[unknown] = 0
        value = field_values(parsed, field, exponent)
        kind = np.where(mine, value.kind, 0).astype(np.int8)
        # a unit error only for a value that parsed (the decimal path's order)
        unit_applies = mine & parsed.present & (parsed.kind == 0) & (unit_kind != 0)
        kind[unit_applies] = unit_kind[unit_applies]
        has = mine & value.has & (unit_kind == 0)
        inputs[field.name] = FieldInput(has, np.where(has, value.t, 0), kind, value.codes)
    results = evaluate(inputs, standard, n)
    unknown_key = np.where(known, np.array(None, dtype=object), keys_np)
    results.unknown_key = unknown_key
    results.no_pollutants &= known
    return results


# ----------------------------------------------------------------------------- outputs

_ENTRY = pa.struct([("field", pa.string()), ("kind", pa.string()), ("message", pa.string())])
RESULT_SCHEMA = pa.schema(
    [
        ("aqi", pa.int64()),
        ("category", pa.string()),
        ("color", pa.string()),
        ("dominant_pollutant", pa.list_(pa.string())),
        ("sub_indices", pa.map_(pa.string(), pa.int64())),
        ("notes", pa.list_(_ENTRY)),
        ("errors", pa.list_(_ENTRY)),
        ("status", pa.string()),
    ]
)


@dataclass(frozen=True)
class _Texts:
    """Every constant string of the results of one standard, computed once."""

    note_entries: dict[tuple[int, int], tuple[str, str, str]]  # (field row, note code) -> entry
    error_entries: dict[tuple[int, int], tuple[str, str, str]]


def _texts(standard: Standard) -> _Texts:
    notes, errors = {}, {}
    for i, table in enumerate(standard.fields):
        for code, kind in enumerate(NOTE_KINDS[1:], 1):
            if kind == "deferred" and not table.defer_to:
                continue
            notes[(i, code)] = (table.name, kind, note_message(table, kind))
        for code, kind in enumerate(KINDS[1:], 1):
            errors[(i, code)] = (table.name, kind, f"{table.name}: {ERROR_MESSAGES[kind]}")
    return _Texts(notes, errors)


def _entries(results: Results) -> tuple[list[list[dict[str, Any]]], list[list[dict[str, Any]]]]:
    """Notes and errors per row as the decimal core writes them (field order, then extras)."""
    standard = results.standard
    texts = _texts(standard)
    n = len(results)
    notes: list[list[dict[str, Any]]] = [[] for _ in range(n)]
    errors: list[list[dict[str, Any]]] = [[] for _ in range(n)]
    for target, codes, lookup in (
        (notes, results.note, texts.note_entries),
        (errors, results.error, texts.error_entries),
    ):
        fields, rows = np.nonzero(codes)
        order = np.lexsort((fields, rows))
        for f, r in zip(fields[order].tolist(), rows[order].tolist(), strict=True):
            name, kind, message = lookup[(f, int(codes[f, r]))]
            target[r].append({"field": name, "kind": kind, "message": message})
    beyond = {"field": None, "kind": "beyond_index", "message": standard.beyond_message()}
    for r in np.flatnonzero(results.aqi > standard.index_top).tolist():
        notes[r].append(dict(beyond))
    if results.unknown_key is not None:
        message = ERROR_MESSAGES["unknown_field"]
        for r in np.flatnonzero(results.unknown_key != None).tolist():  # noqa: E711
            key = results.unknown_key[r]
            errors[r].append({"field": key, "kind": "unknown_field", "message": f"{key}: {message}"})
    for r in np.flatnonzero(results.no_pollutants).tolist():
        errors[r].append({"field": None, "kind": "no_pollutants", "message": NO_POLLUTANTS})
    return notes, errors


def to_records(results: Results) -> list[dict[str, Any]]:
    """One dict of result fields per row, equal to :func:`c360.aqi.core.compute`'s."""
    standard = results.standard
    names = standard.field_names()
    pollutants = standard.pollutants()
    notes, errors = _entries(results)
    invalid = results.status_invalid
    out = []
    sub_t = results.sub.T.tolist()
    dom_t = results.dominant.T.tolist()
    for r, (aqi, cat) in enumerate(zip(results.aqi.tolist(), results.category.tolist(), strict=True)):
        category = standard.categories[cat] if cat >= 0 else None
        out.append(
            {
                "aqi": aqi if aqi >= 0 else None,
                "category": category.name if category else None,
                "color": category.color if category else None,
                "dominant_pollutant": [p for p, d in zip(pollutants, dom_t[r], strict=True) if d],
                "sub_indices": {name: i for name, i in zip(names, sub_t[r], strict=True) if i >= 0},
                "notes": notes[r],
                "errors": errors[r],
                "status": "invalid" if invalid[r] else "ok",
            }
        )
    return out


def to_arrow(results: Results) -> pa.Table:
    """The result columns as an Arrow table (the Spark path's column types).

    Strings are taken from small dictionaries by index arrays (``take``), never per row; list
    offsets come from per-row counts, and list items from one mask over the row-major
    (row, field) grid, so no step loops over rows in Python.
    """
    standard = results.standard
    n = len(results)
    names = pa.array(standard.field_names(), pa.string())
    pollutants = pa.array(standard.pollutants(), pa.string())
    has_aqi = results.aqi >= 0
    cat_index = pa.array(np.where(has_aqi, results.category, 0), pa.int32(), mask=~has_aqi)
    category = pa.array([c.name for c in standard.categories], pa.string()).take(cat_index)
    color = pa.array([c.color for c in standard.categories], pa.string()).take(cat_index)

    offs, cols, _ = _grid(results.dominant, n)
    dominant = pa.ListArray.from_arrays(offs, pollutants.take(cols))
    offs, cols, flat = _grid(results.sub >= 0, n)
    sub_values = np.ascontiguousarray(results.sub.T).ravel()[flat]
    sub_indices = pa.MapArray.from_arrays(offs, names.take(cols), pa.array(sub_values, pa.int64()))
    notes, errors = _entry_lists(results)
    status = pa.array(["ok", "invalid"], pa.string()).take(pa.array(results.status_invalid.astype(np.int8)))
    return pa.table(
        [
            pa.array(results.aqi, pa.int64(), mask=~has_aqi),
            category,
            color,
            dominant,
            sub_indices,
            notes,
            errors,
            status,
        ],
        schema=RESULT_SCHEMA,
    )


def _grid(present: np.ndarray, n: int) -> tuple[pa.Array, pa.Array, np.ndarray]:
    """A (slots, rows) mask -> list offsets, each entry's slot (a row's entries in slot order)
    and each entry's position in the row-major (row, slot) grid."""
    by_row = np.ascontiguousarray(present.T)
    flat = np.flatnonzero(by_row)
    width = len(present)
    offsets = np.zeros(n + 1, np.int32)
    np.cumsum(present.sum(axis=0, dtype=np.int32), out=offsets[1:])
    cols = flat.astype(np.int32) % np.int32(max(width, 1))
    return pa.array(offsets), pa.array(cols), flat


# An entry slot of the notes or errors lists: a per-row id into the entry table, -1 for none.
_Slot = np.ndarray


def _entry_lists(results: Results) -> tuple[pa.Array, pa.Array]:
    """Notes and errors as Arrow list<struct> columns, built from index arrays (no row loop).

    Each entry is an id into a table of (field, kind, message) strings; a row's entries come
    in slot order: the fields in order, then the unknown long-form key, then the record-level
    entry (beyond_index for notes, no_pollutants for errors), as :func:`_entries` orders them.
    """
    standard = results.standard
    texts = _texts(standard)

    def field_slots(codes: np.ndarray, lookup: dict[tuple[int, int], tuple[str, str, str]],
                    table: list[tuple[str | None, str, str]]) -> list[_Slot]:  # fmt: skip
        slots = []
        for f in range(len(codes)):
            lut = np.full(max(len(NOTE_KINDS), len(KINDS)), -1, np.int32)
            for (field, code), entry in lookup.items():
                if field == f:
                    lut[code] = len(table)
                    table.append(entry)
            slots.append(lut[codes[f]])
        return slots

    def constant(mask: np.ndarray, entry: tuple[str | None, str, str], table: list) -> _Slot:  # type: ignore[type-arg]
        table.append(entry)
        return np.where(mask, len(table) - 1, -1).astype(np.int32)

    def build(slots: list[_Slot], table: list[tuple[str | None, str, str]]) -> pa.Array:
        ids = np.stack(slots) if slots else np.zeros((0, len(results)), np.int32)
        offsets, _, flat = _grid(ids >= 0, len(results))
        chosen = np.ascontiguousarray(ids.T).ravel()[flat]
        entries = pa.StructArray.from_arrays(
            [pa.array([e[i] for e in table], pa.string()) for i in range(3)], fields=list(_ENTRY)
        )
        return pa.ListArray.from_arrays(offsets, entries.take(pa.array(chosen)))

    note_table: list[tuple[str | None, str, str]] = []
    note_slots = field_slots(results.note, texts.note_entries, note_table)
    beyond = (None, "beyond_index", standard.beyond_message())
    note_slots.append(constant(results.aqi > standard.index_top, beyond, note_table))
    notes = build(note_slots, note_table)

    error_table: list[tuple[str | None, str, str]] = []
    error_slots = field_slots(results.error, texts.error_entries, error_table)
    if results.unknown_key is not None:
        mask = np.asarray(results.unknown_key != None, bool)  # noqa: E711
        message = ERROR_MESSAGES["unknown_field"]
        slot = np.full(len(results), -1, np.int32)
        slot[mask] = len(error_table) + np.arange(int(mask.sum()), dtype=np.int32)
        error_table.extend((k, "unknown_field", f"{k}: {message}") for k in results.unknown_key[mask].tolist())
        error_slots.append(slot)
    no_pollutants = (None, "no_pollutants", NO_POLLUTANTS)
    error_slots.append(constant(results.no_pollutants, no_pollutants, error_table))
    return notes, build(error_slots, error_table)


# ----------------------------------------------------------------------------- JSON text


def _json(value: object) -> str:
    return json.dumps(value, ensure_ascii=False)


def to_json_fragments(results: Results) -> pa.Array:
    """Each row's result fields as JSON text, without the opening brace: exactly
    ``json.dumps(record, ensure_ascii=False, separators=(",", ":"))[1:]`` of the row's
    :func:`to_records` dict, so it can close an echoed input object.

    Built column-wise: every constant piece (a category, a note, an error) is encoded once
    by :func:`json.dumps` and taken by index; only the integers are formatted per row.
    """
    standard = results.standard
    n = len(results)
    has_aqi = results.aqi >= 0

    def pick(texts: list[str], index: np.ndarray) -> pa.Array:
        return pa.array(texts, pa.string()).take(pa.array(index.astype(np.int32)))

    def integers(values: np.ndarray, missing: np.ndarray) -> pa.Array:
        return pc.cast(pa.array(values, pa.int64(), mask=missing), pa.string())

    aqi = pc.fill_null(integers(results.aqi, ~has_aqi), "null")
    category_index = np.where(has_aqi, results.category, len(standard.categories))
    category = pick([_json(c.name) for c in standard.categories] + ["null"], category_index)
    color = pick([_json(c.color) for c in standard.categories] + ["null"], category_index)
    pollutants = standard.pollutants()
    code = np.zeros(n, np.int64)
    for p in range(len(pollutants)):
        code |= results.dominant[p].astype(np.int64) << p
    combos, position = np.unique(code, return_inverse=True)
    dominant = pick(
        ["[" + ",".join(_json(x) for p, x in enumerate(pollutants) if c >> p & 1) + "]" for c in combos.tolist()],
        position.reshape(-1),
    )
    # Lists: every entry carries its trailing comma, joined, then the last comma dropped.
    subs = [
        pc.binary_join_element_wise(_json(name) + ":", integers(results.sub[f], results.sub[f] < 0), ",", "")
        for f, name in enumerate(standard.field_names())
        if (results.sub[f] >= 0).any()
    ]
    notes = _json_entries(results, notes=True)
    errors = _json_entries(results, notes=False)
    status = pick(['"ok"', '"invalid"'], results.status_invalid.astype(np.int8))
    pieces: list[Any] = ['"aqi":', aqi, ',"category":', category, ',"color":', color, ',"dominant_pollutant":',
                         dominant, ',"sub_indices":{', _close_list(subs, n), '},"notes":[', notes, '],"errors":[',
                         errors, '],"status":', status, "}"]  # fmt: skip
    return pc.binary_join_element_wise(*pieces, "")


def _close_list(items: list[pa.Array], n: int) -> pa.Array:
    """Entries that each end with a comma (null: no entry) -> the row's entries, comma-separated."""
    if not items:
        return pa.array([""] * n, pa.string())
    joined = pc.binary_join_element_wise(*(pc.fill_null(item, "") for item in items), "")
    return pc.utf8_slice_codeunits(joined, 0, -1)


def _json_entries(results: Results, notes: bool) -> pa.Array:
    """The notes or errors list's items as JSON, in the order :func:`_entries` gives them."""
    standard = results.standard
    n = len(results)
    texts = _texts(standard)
    lookup, codes = (texts.note_entries, results.note) if notes else (texts.error_entries, results.error)

    def entry(field: str | None, kind: str, message: str) -> str:
        return json.dumps({"field": field, "kind": kind, "message": message}, ensure_ascii=False, separators=(",", ":"))

    items: list[pa.Array] = []
    for f in range(len(codes)):
        if not codes[f].any():
            continue
        table = [None] * (max(len(NOTE_KINDS), len(KINDS)))
        for (field, code), value in lookup.items():
            if field == f:
                table[code] = entry(*value) + ","  # type: ignore[call-overload]
        items.append(pa.array(table, pa.string()).take(pa.array(codes[f].astype(np.int32))))

    def constant(mask: np.ndarray, text: str) -> None:
        if mask.any():
            items.append(pa.array(np.where(mask, text + ",", np.array(None, dtype=object)), pa.string()))

    if notes:
        constant(results.aqi > standard.index_top, entry(None, "beyond_index", standard.beyond_message()))
    else:
        if results.unknown_key is not None:
            mask = np.asarray(results.unknown_key != None, bool)  # noqa: E711
            if mask.any():
                message = ERROR_MESSAGES["unknown_field"]
                dynamic = np.full(n, None, object)
                dynamic[mask] = [entry(k, "unknown_field", f"{k}: {message}") + "," for k in results.unknown_key[mask]]
                items.append(pa.array(dynamic, pa.string()))
        constant(results.no_pollutants, entry(None, "no_pollutants", NO_POLLUTANTS))
    return _close_list(items, n)


def to_json_lines(results: Results, bodies: pa.Array) -> bytes:
    """JSON Lines text: each row's ``body`` (an input object without its closing brace),
    then its result fields (as :func:`to_json_fragments`), then a newline.

    Every line is a concatenation of a few pieces drawn from tables: the body; the index with
    its category and color (a text per index value); the dominant pollutants (a text per set);
    one ``"field":index`` entry per sub-index (a text per value); and the tail (notes, errors,
    status: a text per distinct combination of codes in the batch, from :func:`to_records` on
    one representative row). The first four tables depend only on the standard and grow as
    larger values come; one ``take`` over all of them lays out the whole text. Unknown
    long-form keys (a text per row) fall back to :func:`to_json_fragments`.
    """
    n = len(results)
    if results.unknown_key is not None and (results.unknown_key != None).any():  # noqa: E711
        comma = pc.if_else(pc.ends_with(bodies, "{"), "", ",")
        lines = pc.binary_join_element_wise(bodies, comma, to_json_fragments(results), "\n", "")
        return _text_of(lines)
    pieces = _json_pieces(results.standard)
    tables: list[pa.Array] = [bodies.cast(pa.string())]
    ids: list[np.ndarray] = [np.arange(n, dtype=np.int64)]
    base = n

    def add(table: pa.Array, index: np.ndarray) -> None:
        nonlocal base
        tables.append(table)
        ids.append(np.where(index >= 0, base + index, -1))
        base += len(table)

    def lookup(fixed: pa.Array, key: np.ndarray, present: np.ndarray | None, text: Callable[[int], str]) -> None:
        """Keys below the fixed table's length index it; larger ones (an index extrapolated
        far beyond the scale) get a text per distinct key."""
        nonlocal base
        inside = key < len(fixed)
        add(fixed, np.where(inside if present is None else inside & present, key, -1))
        outside = ~inside if present is None else ~inside & present
        if outside.any():
            keys, position = np.unique(key[outside], return_inverse=True)
            index = np.full(n, -1, np.int64)
            index[outside] = position.reshape(-1)
            add(pa.array([text(k) for k in keys.tolist()], pa.string()), index)

    empty = pc.ends_with(bodies, "{").to_numpy(zero_copy_only=False)
    lookup(pieces.heads, (results.aqi + 1) * 2 + empty, None, pieces.head)
    dominant = np.zeros(n, np.int64)
    for p in range(len(results.dominant)):
        dominant |= results.dominant[p].astype(np.int64) << p
    add(pieces.dominant, dominant)
    present = results.sub >= 0
    first_present = np.argmax(present, axis=0)
    for f, name in enumerate(results.standard.field_names()):
        if present[f].any():
            key = results.sub[f] * 2 + (first_present == f)
            lookup(
                pieces.subs[name],
                key,
                present[f],
                functools.partial(_sub_index_text, _json(name) + ":"),
            )
    # The tail's key: codes are below 8 (three bits each), plus the two record-level flags.
    words = [results.no_pollutants.astype(np.int64) | ((results.aqi > results.standard.index_top) << 1)]
    shift = 2
    for codes in (*results.note, *results.error):
        if shift > 60:
            words.append(np.zeros(n, np.int64))
            shift = 0
        words[-1] |= codes.astype(np.int64) << shift
        shift += 3
    key = words[0] if len(words) == 1 else np.stack(words, axis=1)
    _, first, inverse = np.unique(key, return_index=True, return_inverse=True, axis=0 if len(words) > 1 else None)
    dumps = json.JSONEncoder(ensure_ascii=False, separators=(",", ":")).encode
    tails = [
        "}," + dumps({"notes": r["notes"], "errors": r["errors"], "status": r["status"]})[1:] + "\n"
        for r in to_records(results.take(first))
    ]
    add(pa.array(tails, pa.string()), inverse.reshape(-1))
    order = np.stack(ids, axis=1).reshape(-1)
    return _text_of(pa.concat_arrays(tables).take(pa.array(order[order >= 0])))


def _sub_index_text(prefix: str, key: int) -> str:
    """The ``"field":index`` entry of a sub-index key (``index * 2 + first``) beyond the fixed table."""
    return ("" if key & 1 else ",") + prefix + str(key >> 1)


class _JsonPieces:
    """The standard-only pieces of :func:`to_json_lines`, built once per standard per process:
    texts for every index up to twice the scale's top (larger ones are made per batch)."""

    def __init__(self, standard: Standard) -> None:
        self.standard = standard
        pollutants = standard.pollutants()
        self.dominant = _strings(
            [',"dominant_pollutant":[' + ",".join(_json(x) for p, x in enumerate(pollutants) if code >> p & 1)
             + '],"sub_indices":{' for code in range(2 ** len(pollutants))]
        )  # fmt: skip
        self._highs = np.array([c.high if c.high is not None else np.iinfo(np.int64).max for c in standard.categories])
        size = 2 * (standard.index_top + 1)
        # Row (aqi + 1) * 2 + empty: the index -1 (none) .. size, after a comma unless the body is empty.
        self.heads = _strings([self.head(k) for k in range(2 * (size + 1))])
        # Row v * 2 + first: "name":v after a comma unless it is the first entry.
        self.subs = {
            name: _strings([t for v in range(size) for t in (f",{_json(name)}:{v}", f"{_json(name)}:{v}")])
            for name in standard.field_names()
        }

    def head(self, key: int) -> str:
        aqi, comma = key // 2 - 1, "" if key & 1 else ","
        if aqi < 0:
            return comma + '"aqi":null,"category":null,"color":null'
        c = self.standard.categories[int(np.searchsorted(self._highs, aqi, side="left"))]
        return comma + f'"aqi":{aqi},"category":{_json(c.name)},"color":{_json(c.color)}'


_PIECES: dict[int, _JsonPieces] = {}


def _strings(texts: list[str]) -> pa.Array:
    """``pa.array(texts, pa.string())`` built from its buffers. ``pa.array`` first asks whether
    its input is a pandas object, and that question imports pandas (0.19 s) in a process that
    has not: :func:`prepare_json_lines` runs in the caller's process, which may never need it."""
    data = [t.encode("utf-8") for t in texts]
    offsets = np.zeros(len(data) + 1, np.int32)
    np.cumsum([len(d) for d in data], out=offsets[1:])
    return pa.Array.from_buffers(pa.string(), len(data), [None, pa.py_buffer(offsets), pa.py_buffer(b"".join(data))])


class _NoPandas:
    """A finder that refuses to import pandas (:func:`refuse_pandas`)."""

    def find_spec(self, name: str, path: object = None, target: object = None) -> None:
        if name == "pandas" or name.startswith("pandas."):
            raise ImportError("c360's AQI workers do not import pandas")
        return None


def refuse_pandas() -> None:
    """In one of c360's own worker processes (the JSON path's), refuse to import pandas.

    The kernel never uses pandas, but pyarrow imports it to ask whether its input is a pandas
    object (``pa.array``) and to cache pandas' constants (``to_numpy``): 0.19 s of CPU in each
    worker's first block, about a seventh of a million records' run. pyarrow goes on without
    pandas when the import fails: its Python side remembers that, its C++ side asks again at
    each ``to_numpy``, which a refusing finder answers at once. A process that has imported
    pandas already (inherited from its parent) keeps it.
    """
    import sys

    if "pandas" not in sys.modules and not any(isinstance(f, _NoPandas) for f in sys.meta_path):
        sys.meta_path.insert(0, _NoPandas())


def use_system_allocator() -> None:
    """Arrow's buffers from the C library's allocator instead of Arrow's default (mimalloc),
    unless ``ARROW_DEFAULT_MEMORY_POOL`` names one: for c360's own short-lived processes (the
    JSON path's workers, ``c360 aqi compute``), not in a caller's process.

    Measured on this kernel (docs/benchmarks.md, AQI calculator): with mimalloc a process's
    first large batch cost 1.5-2.5x its later ones, and the later ones about 10% more.
    """
    if not os.environ.get("ARROW_DEFAULT_MEMORY_POOL"):
        pa.set_memory_pool(pa.system_memory_pool())


def prepare_json_lines(standard: Standard) -> None:
    """Build the standard's texts that :func:`to_json_lines` lays out, in a process about to
    fork workers: each inherits them instead of building its own (about 20 ms of a worker's
    first block)."""
    _json_pieces(standard)


def _json_pieces(standard: Standard) -> _JsonPieces:
    pieces = _PIECES.get(id(standard))
    if pieces is None or pieces.standard is not standard:
        pieces = _PIECES[id(standard)] = _JsonPieces(standard)
    return pieces


def _text_of(lines: pa.Array) -> bytes:
    """The concatenated bytes of a string array (its value buffer between its first and last offsets)."""
    if len(lines) == 0:
        return b""
    offsets = np.frombuffer(lines.buffers()[1], np.int32)
    first, last = int(offsets[lines.offset]), int(offsets[lines.offset + len(lines)])
    return bytes(memoryview(lines.buffers()[2])[first:last])
