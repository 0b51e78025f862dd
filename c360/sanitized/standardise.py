"""Standardisation and typing of delivered strings, as column expressions (no UDFs).

Every function maps a raw string column to its standard form; a value that cannot be
typed becomes NULL here and is reported by validation (raw value present, typed NULL).
"""

from __future__ import annotations

from pyspark.sql import Column
from pyspark.sql import functions as F

from c360.contracts import Col, Std

# Names and codes the source systems are seen to send -> ISO 3166-1 alpha-2.
COUNTRY_CODES: dict[str, str] = {
    "US": "US",
    "USA": "US",
    "UNITED STATES": "US",
    "UNITED STATES OF AMERICA": "US",
    "CA": "CA",
    "CAN": "CA",
    "CANADA": "CA",
    "MX": "MX",
    "MEX": "MX",
    "MEXICO": "MX",
    "GB": "GB",
    "UK": "GB",
    "GBR": "GB",
    "UNITED KINGDOM": "GB",
    "GREAT BRITAIN": "GB",
    "ENGLAND": "GB",
    "IE": "IE",
    "IRELAND": "IE",
    "FR": "FR",
    "FRA": "FR",
    "FRANCE": "FR",
    "DE": "DE",
    "DEU": "DE",
    "GERMANY": "DE",
    "ES": "ES",
    "ESP": "ES",
    "SPAIN": "ES",
    "IT": "IT",
    "ITA": "IT",
    "ITALY": "IT",
    "NL": "NL",
    "NLD": "NL",
    "NETHERLANDS": "NL",
    "BE": "BE",
    "BELGIUM": "BE",
    "CH": "CH",
    "SWITZERLAND": "CH",
    "AT": "AT",
    "AUSTRIA": "AT",
    "SE": "SE",
    "SWE": "SE",
    "SWEDEN": "SE",
    "NO": "NO",
    "NOR": "NO",
    "NORWAY": "NO",
    "DK": "DK",
    "DENMARK": "DK",
    "FI": "FI",
    "FINLAND": "FI",
    "PL": "PL",
    "POLAND": "PL",
    "PT": "PT",
    "PORTUGAL": "PT",
    "CN": "CN",
    "CHN": "CN",
    "CHINA": "CN",
    "JP": "JP",
    "JPN": "JP",
    "JAPAN": "JP",
    "KR": "KR",
    "SOUTH KOREA": "KR",
    "IN": "IN",
    "IND": "IN",
    "INDIA": "IN",
    "TW": "TW",
    "TAIWAN": "TW",
    "VN": "VN",
    "VIETNAM": "VN",
    "SG": "SG",
    "SINGAPORE": "SG",
    "AU": "AU",
    "AUS": "AU",
    "AUSTRALIA": "AU",
    "NZ": "NZ",
    "NEW ZEALAND": "NZ",
    "BR": "BR",
    "BRA": "BR",
    "BRAZIL": "BR",
    "AR": "AR",
    "ARGENTINA": "AR",
    "ZA": "ZA",
    "SOUTH AFRICA": "ZA",
}
_INT_RE = r"^[+-]?[0-9]+$"
_DECIMAL_RE = {2: r"^[+-]?[0-9]+(\.[0-9]{1,2})?$", 3: r"^[+-]?[0-9]+(\.[0-9]{1,3})?$"}
_NUMBER_RE = r"^[+-]?([0-9]+(\.[0-9]*)?|\.[0-9]+)([eE][+-]?[0-9]+)?$"


def clean(col: Column) -> Column:
    """Trim; an empty string means "not delivered"."""
    trimmed = F.trim(col)
    return F.when(trimmed == "", F.lit(None)).otherwise(trimmed)


def _map(values: dict[str, str], col: Column) -> Column:
    """The mapped value, or the value as sent (upper-cased) when the map does not know it,
    so validation sees and names it instead of it silently becoming NULL."""
    mapping = F.create_map(*[F.lit(x) for kv in sorted(values.items()) for x in kv])
    return F.coalesce(mapping[F.upper(col)], F.upper(col))


def standardise(c: Col, col: Column) -> Column:
    """The standard string form of a cleaned value (still a string)."""
    match c.std:
        case Std.LOWER | Std.EMAIL:
            return F.lower(col)
        case Std.UPPER | Std.CURRENCY:
            return F.upper(col)
        case Std.COUNTRY:
            return _map(COUNTRY_CODES, col)
        case Std.BOOL:
            return _map(
                {
                    "TRUE": "true",
                    "T": "true",
                    "YES": "true",
                    "Y": "true",
                    "1": "true",
                    "FALSE": "false",
                    "F": "false",
                    "NO": "false",
                    "N": "false",
                    "0": "false",
                },
                col,
            )
        case Std.PHONE:
            return e164(col)
        case _:
            return col


def e164(col: Column) -> Column:
    """Phone numbers to E.164 where the digits allow: +<digits>; 10 NANP digits get +1."""
    # "00" is the international call prefix: it stands for "+" and is not part of the number.
    international = F.regexp_replace(col, r"^\s*00", "+")
    digits = F.regexp_replace(international, r"[^0-9]", "")
    plus = F.trim(international).startswith("+")
    return (
        F.when(col.isNull(), F.lit(None))
        # Only separators may be dropped: a letter is a typo, not punctuation ("555-12X4").
        .when(~col.rlike(r"^\s*\+?[0-9 ().\-/]+$"), col)
        .when(plus, F.concat(F.lit("+"), digits))
        .when(F.length(digits) == 10, F.concat(F.lit("+1"), digits))
        .when((F.length(digits) == 11) & digits.startswith("1"), F.concat(F.lit("+"), digits))
        .otherwise(col)  # left as delivered; the format rule reports it
    )


def typed(c: Col, s: Column) -> Column:
    """Cast a standardised string to the contract type; NULL when it does not fit exactly."""
    match c.type:
        case "string":
            return s
        case "int" | "long":
            return F.when(s.rlike(_INT_RE), s.cast(c.spark_type))
        case "money":
            return F.when(s.rlike(_DECIMAL_RE[2]), s.cast(c.spark_type))
        case "decimal3":
            return F.when(s.rlike(_DECIMAL_RE[3]), s.cast(c.spark_type))
        case "double":
            return F.when(s.rlike(_NUMBER_RE), s.cast("double"))
        case "boolean":
            return s.cast("boolean")
        case "date":
            return F.coalesce(F.to_date(s, "yyyy-MM-dd"), F.to_date(s, "yyyy/MM/dd"))
        case "timestamp":
            # Naive times are UTC (the source systems' documented zone); offsets are honoured.
            return F.to_timestamp(s)
    raise ValueError(f"unknown contract type {c.type}")
