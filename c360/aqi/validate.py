"""Input rules shared by both paths: what a valid concentration is, units, field names.

The regular expressions here are written in the subset Python and Java agree on, because
the Spark path applies them with ``rlike``/``regexp_replace``; the decimal path applies
them with :mod:`re`. One definition keeps the two paths from drifting apart.
"""

from __future__ import annotations

import math
import numbers
import re
from decimal import ROUND_HALF_UP, Context, Decimal
from typing import Any

# A plain decimal number, optional sign and a short exponent; no thousands separators,
# no decimal comma ("12,5" is ambiguous, so it is rejected rather than guessed).
NUMBER_PATTERN = r"^[+-]?([0-9]+[.]?[0-9]*|[.][0-9]+)([eE][+-]?[0-9]{1,4})?$"
NON_FINITE_PATTERN = r"^[+-]?(nan|inf|infinity)$"  # matched case-insensitively
# A minus sign before a non-zero digit of the mantissa: "-0" and "-0.0e5" are zero, not negative.
NEGATIVE_PATTERN = r"^-0*[.]?0*[1-9]"

# Values are read to INPUT_SCALE decimal places (half up), then truncated per the standard.
INPUT_SCALE = 20
INPUT_QUANTUM = Decimal(1).scaleb(-INPUT_SCALE)
# Raw values must fit DECIMAL(30, 20); in the standard's unit they must stay below MAX_VALUE.
RAW_LIMIT = Decimal("1e10")
MAX_VALUE = Decimal("1e9")
# Enough digits that no conversion or interpolation step ever rounds.
CTX = Context(prec=60)

_NUMBER = re.compile(NUMBER_PATTERN)
_NON_FINITE = re.compile(NON_FINITE_PATTERN, re.IGNORECASE)
_NEGATIVE = re.compile(NEGATIVE_PATTERN)

ERROR_MESSAGES = {
    "empty": "empty value",
    "non_numeric": "not a number",
    "not_finite": "not a finite number",
    "negative": "negative concentration",
    "out_of_range": "implausibly large concentration (1e9 or more in the standard's unit)",
    "unknown_field": "not a pollutant and averaging period of the standard",
    "unknown_unit": "unknown unit",
    "unit_not_convertible": ("unit cannot be converted to the standard's unit without temperature and pressure"),
}
NO_POLLUTANTS = (
    "record has no pollutant values: give one field per pollutant and averaging period (wide form) "
    "or pollutant, averaging and value (long form); see docs/aqi.md, Input shapes"
)


def error(field: str | None, kind: str, message: str | None = None) -> dict[str, Any]:
    """One error entry; the message for field errors is ``"<field>: <reason>"``."""
    if message is None:
        message = f"{field}: {ERROR_MESSAGES[kind]}"
    return {"field": field, "kind": kind, "message": message}


def plain_number(value: object) -> object:
    """A scalar of another library (NumPy's np.float64, np.int64, np.float32, np.bool_: a record
    built from a frame's values) as Python's int, float or bool, the number the frame path reads;
    anything else as it is. np.float64 is a float whose repr is "np.float64(35.5)" under NumPy 2,
    and np.int64 no int at all."""
    if type(value) in (str, float, int, Decimal, bool) or value is None:
        return value
    if type(value).__module__ == "numpy":
        import numpy as np

        if isinstance(value, np.floating) and value.dtype.itemsize < 8:
            # A float32's shortest text, as Arrow and Spark cast a float32 column: 0.055, not
            # the double 0.054999999701976776 (a breakpoint's AQI 51 against 50).
            return float(str(value))
        if isinstance(value, np.generic):  # a scalar, never an array (which is no number)
            return value.item()  # np.bool_ too, which JSON could not write either
        return value
    if isinstance(value, numbers.Integral):
        return int(value)
    if isinstance(value, numbers.Real):
        return float(value)
    return value


def parse_number(value: object) -> tuple[Decimal | None, str | None]:
    """A raw input value -> (decimal at INPUT_SCALE, None) or (None, error kind).

    ``None`` means "not measured" and is not an error. Binary floats go through their
    shortest repr, as Spark's double-to-string cast does, so 0.205 stays 0.205.
    """
    if value is None:
        return None, None
    if isinstance(value, bool):
        return None, "non_numeric"
    value = plain_number(value)
    if isinstance(value, float):
        if not math.isfinite(value):
            return None, "not_finite"
        value = repr(value)
    if isinstance(value, int):
        value = str(value)
    if isinstance(value, Decimal):
        if not value.is_finite():
            return None, "not_finite"
        value = str(value)
    if not isinstance(value, str):
        return None, "non_numeric"
    text = value.strip(" ")
    if not text:
        return None, "empty"
    if _NON_FINITE.match(text):
        return None, "not_finite"
    if not _NUMBER.match(text):
        return None, "non_numeric"
    if _NEGATIVE.match(text):
        return None, "negative"
    number = Decimal(text)  # the pattern admits only what Decimal parses
    if number.copy_abs() >= RAW_LIMIT:  # before quantize: "1e9999" must not be expanded
        return None, "out_of_range"
    number = number.quantize(INPUT_QUANTUM, rounding=ROUND_HALF_UP, context=CTX)
    if number.copy_abs() >= RAW_LIMIT:  # 9999999999.999...9 rounds up past DECIMAL(30, 20)
        return None, "out_of_range"
    return abs(number), None  # abs: "-0" is zero


def normalize_unit(unit: str) -> str:
    """'µg/m³', 'ug/m3', 'μg m-3'... -> 'ugm3' (the spelling-free key units are compared by)."""
    return re.sub(r"[^a-z0-9]", "", unit.lower().translate(_UNIT_CHARS))


_UNIT_CHARS = str.maketrans({"µ": "u", "μ": "u", "³": "3"})
KNOWN_UNITS = ("ppm", "ppb", "ugm3", "mgm3")
# Only conversions that need no temperature, pressure or molar mass.
CONVERSIONS = {
    ("ppb", "ppm"): Decimal("0.001"),
    ("ppm", "ppb"): Decimal("1000"),
    ("ugm3", "mgm3"): Decimal("0.001"),
    ("mgm3", "ugm3"): Decimal("1000"),
}

AVERAGING_PATTERN = r"^([0-9]+)(h|hr|hrs|hour|hours)$"


def normalize_token(text: str) -> str:
    """'PM2.5' -> 'pm25', 'O3' -> 'o3': pollutant names compared without punctuation."""
    return re.sub(r"[^a-z0-9]", "", text.lower())


def normalize_averaging(text: str) -> str:
    """'24-hour', '24 hr', '24h' -> '24h'."""
    return re.sub(AVERAGING_PATTERN, r"\1h", normalize_token(text))
