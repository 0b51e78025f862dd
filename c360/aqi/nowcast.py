"""NowCast: the hourly AQI as AirNow reports it, for PM2.5, PM10 and O3.

References (listed with their sections in docs/aqi.md, "NowCast"):

- PM2.5 and PM10: EPA, "The NowCast Method" (fact sheet, "Calculating the NowCast", steps
  1-8), pointed to by the TAD (EPA-454/B-18-007, part I "Reporting the AQI", Figure 3): the
  12 most recent hours, weight factor ``w = cmin / cmax`` bounded below by 0.5,
  ``NowCast = sum(w**k * c_k) / sum(w**k)`` over the valid hours (k hours ago).
- O3: AirNow-Tech, "AirNow Updates to Ozone Real-time Reporting and Daily Reporting"
  (2016-04-21), section "Ozone NowCast", steps 1-5: the 8 most recent hours, no minimum
  weight factor. (EPA's 2019 regression O3 NowCast needs two weeks of site history and is
  not implemented.)
- Minimum data, all three (AirNow-Tech, "The NowCast for PM2.5 and PM10", "Completeness
  criteria"): 2 of the 3 most recent hours valid, else no NowCast. The NowCast is computed
  from the raw hourly values and truncated only by the AQI lookup.

The weights are rational (powers of ``cmin/cmax``), so this reference computes exactly with
fractions and truncates to the AQI table's decimals: a NowCast of exactly 35.5 is 35.5,
never 35.4999... Spark's twin (:func:`nowcast_column`) computes in doubles and rounds to
``ROUND_DECIMALS`` before the AQI's truncation; the tests hold the two together.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from decimal import Decimal
from fractions import Fraction
from typing import TYPE_CHECKING, cast

if TYPE_CHECKING:
    from pyspark.sql import DataFrame


@dataclass(frozen=True)
class NowCastRule:
    pollutant: str
    hours: int  # the window: this many most recent hours
    min_weight: Fraction | None  # lower bound of the weight factor (None: no minimum)
    field: str  # the AQI table the NowCast is looked up in


RULES = {
    "pm25": NowCastRule("pm25", 12, Fraction(1, 2), "pm25_24h"),
    "pm10": NowCastRule("pm10", 12, Fraction(1, 2), "pm10_24h"),
    "o3": NowCastRule("o3", 8, None, "o3_8h"),
}
RECENT_HOURS, RECENT_MIN_VALID = 3, 2  # 2 of the 3 most recent hours must be valid
ROUND_DECIMALS = 8  # Spark's double result is rounded to this before the AQI truncates it


def _rule(pollutant: str) -> NowCastRule:
    if pollutant not in RULES:
        raise ValueError(f"no NowCast for {pollutant!r}: it is defined for {', '.join(sorted(RULES))}")
    return RULES[pollutant]


def _concentration(hour: int, value: object) -> Fraction:
    """An hour's value as an exact number: a non-negative finite number, or its text."""
    from c360.aqi.validate import parse_number

    number, problem = parse_number(value)
    if problem is not None:
        raise ValueError(f"hour {hour} ({value!r}) is not a concentration ({problem}): give a number >= 0, or None")
    return Fraction(str(number))


def nowcast(recent: Sequence[object | None], pollutant: str) -> Decimal | None:
    """The NowCast of the hours ``recent[0]`` (current hour), ``recent[1]`` (an hour ago)...

    ``None`` marks a missing (or invalid) hour. Values beyond the rule's window are ignored.
    Returns the exact weighted average as a Decimal (rounded to 28 digits only when the
    fraction has no finite decimal form), or None when the minimum-data rule fails.
    """
    rule = _rule(pollutant)
    window = list(recent[: rule.hours])
    if sum(v is not None for v in window[:RECENT_HOURS]) < RECENT_MIN_VALID:
        return None
    values = [(k, _concentration(k, v)) for k, v in enumerate(window) if v is not None]
    cmax = max(c for _, c in values)
    cmin = min(c for _, c in values)
    weight = Fraction(1) if cmax == 0 else cmin / cmax  # 1 - (cmax - cmin) / cmax
    if rule.min_weight is not None:
        weight = max(weight, rule.min_weight)
    num = sum(weight**k * c for k, c in values)
    den = sum(weight**k for k, _ in values)
    result = cast(Fraction, num / den)  # Fractions all through: weight, values and their powers
    return Decimal(result.numerator) / Decimal(result.denominator)


def nowcast_series(hour_no: Sequence[int], values: Sequence[object | None], pollutant: str) -> list[Decimal | None]:
    """The NowCast at every hour of one station's series (hours as integers, any order;
    an hour absent from ``hour_no`` is a missing hour)."""
    by_hour = dict(zip(hour_no, values, strict=True))
    rule = _rule(pollutant)
    return [nowcast([by_hour.get(h - k) for k in range(rule.hours)], pollutant) for h in hour_no]


def with_nowcast(df: DataFrame, value: str, pollutant: str, out: str, partition: str = "station_id",
                 order: str = "hour_no") -> DataFrame:  # fmt: skip
    """Spark: ``df`` plus column ``out``, the NowCast of ``value`` at each row, over a complete
    hourly grid (``order`` holds hour numbers; missing hours are rows with NULL values).

    Native column expressions: the window's valid hours are collected with their hour, and
    the weighted sums are array aggregates.
    """
    from pyspark.sql import Window
    from pyspark.sql import functions as F

    rule = _rule(pollutant)
    by_station = Window.partitionBy(partition).orderBy(order)
    window = by_station.rangeBetween(-(rule.hours - 1), 0)
    recent = by_station.rangeBetween(-(RECENT_HOURS - 1), 0)
    c = F.col(value).cast("double")
    point = F.when(c.isNotNull(), F.struct((F.col(order) - F.lit(0)).alias("h"), c.alias("c")))
    tmp = f"__nowcast_{out}"
    staged = df.select(
        "*",
        F.collect_list(point).over(window).alias(f"{tmp}_points"),
        F.max(c).over(window).alias(f"{tmp}_max"),
        F.min(c).over(window).alias(f"{tmp}_min"),
        (F.count(c).over(recent) >= RECENT_MIN_VALID).alias(f"{tmp}_enough"),
    )
    cmax, cmin = F.col(f"{tmp}_max"), F.col(f"{tmp}_min")
    weight = F.when(cmax == 0, F.lit(1.0)).otherwise(cmin / cmax)
    if rule.min_weight is not None:
        weight = F.greatest(weight, F.lit(float(rule.min_weight)))
    staged = staged.withColumn(f"{tmp}_w", weight)
    w, now = F.col(f"{tmp}_w"), F.col(order)
    terms = F.transform(
        F.col(f"{tmp}_points"), lambda p: F.struct(F.pow(w, now - p["h"]).alias("w"), p["c"].alias("c"))
    )
    num = F.aggregate(terms, F.lit(0.0), lambda acc, t: acc + t["w"] * t["c"])
    den = F.aggregate(terms, F.lit(0.0), lambda acc, t: acc + t["w"])
    result = F.when(F.col(f"{tmp}_enough"), F.round(num / den, ROUND_DECIMALS))
    return staged.select(*df.columns, result.alias(out))
