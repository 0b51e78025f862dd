"""Air-quality source contracts: the station catalogue (CSV) and hourly sensor readings (JSON).

A reading arrives as one JSON object per station and hour with a list of measurements in
the sensor's units. The contract's ``extract`` turns it into one row per station-hour with
one column per pollutant in the AQI standard's units (PM in ug/m3, O3 and CO in ppm, SO2
and NO2 in ppb), so a reading in ppb where ppm is expected is converted, not lost. It also
flags what can only be seen across rows of the delivery: a sensor that reports one value
for 24 hours (stuck) and readings delivered out of time order. Everything else (types,
ranges, duplicates, unknown stations) is the generic sanitize machinery.
"""

from __future__ import annotations

import zoneinfo
from collections.abc import Callable
from decimal import Decimal

from pyspark.sql import Column, DataFrame, Window
from pyspark.sql import functions as F

from c360.contracts.model import Col, Contract, FkPolicy, ForeignKey, Rule, Std

# Pollutant -> the unit its sanitized column holds (the US EPA AQI breakpoint units).
CANONICAL_UNITS: dict[str, str] = {
    "pm25": "ug/m3",
    "pm10": "ug/m3",
    "o3": "ppm",
    "co": "ppm",
    "so2": "ppb",
    "no2": "ppb",
}
POLLUTANTS: tuple[str, ...] = tuple(CANONICAL_UNITS)
# (delivered unit, canonical unit) -> factor. Only conversions that need no temperature or
# pressure; ppb <-> ug/m3 needs both and is refused (the value cannot be typed).
UNIT_FACTORS: dict[tuple[str, str], Decimal] = {
    ("ppb", "ppm"): Decimal("0.001"),
    ("ppm", "ppb"): Decimal("1000"),
    ("mg/m3", "ug/m3"): Decimal("1000"),
}
# A sensor repeating one value for this many distinct hours is stuck, not measuring.
STUCK_HOURS = 24
_OFFSET_RE = r"(Z|[+-][0-9]{2}:?[0-9]{2})$"
_NUMBER_RE = r"^[+-]?([0-9]+(\.[0-9]*)?|\.[0-9]+)([eE][+-]?[0-9]+)?$"
_RECORD_SCHEMA = (
    "station_id string, timestamp string, measurements array<struct<pollutant: string, value: string, unit: string>>"
)


def stuck_column(pollutant: str) -> str:
    return f"{pollutant}_stuck"


def _normalise_unit(unit: Column) -> Column:
    """``µg/m³``, ``ug/m3``, ``UG/M3`` -> ``ug/m3``; ``PPB`` -> ``ppb``."""
    u = F.lower(F.regexp_replace(F.trim(unit), r"\s+", ""))
    return F.translate(u, "µμ³", "uu3")


def _normalise_pollutant(name: Column) -> Column:
    """``PM2.5``, ``pm_25``, ``O3`` -> ``pm25``, ``o3``."""
    return F.regexp_replace(F.lower(name), r"[^a-z0-9]", "")


def _is_pollutant(p: str) -> Callable[[Column], Column]:
    # One parameter on purpose: F.filter passes the element index to a two-parameter function.
    return lambda m: _normalise_pollutant(m["pollutant"]) == p


def _canonical_value(value: Column, unit: Column, canonical: str) -> Column:
    """The value as text in the canonical unit; left untypable when the unit cannot be converted.

    ``value`` is the delivered number's text, ``unit`` the normalised unit. Conversion is
    decimal arithmetic on the delivered digits, so 23.4 ppb becomes exactly 0.0234 ppm. A
    value whose unit has no conversion (or that is not a number) is passed on with its unit
    appended: it fails typing and is quarantined as ``invalid_type:<pollutant>``.
    """
    factor = F.lit(None).cast("decimal(10,3)")
    for (src, dst), f in UNIT_FACTORS.items():
        if dst == canonical:
            factor = F.when(unit == src, F.lit(f).cast("decimal(10,3)")).otherwise(factor)
    converted = (value.cast("decimal(30,12)") * factor).cast("decimal(38,12)").cast("string")
    return (
        F.when(unit.isNull() | (unit == canonical), value)
        .when(value.rlike(_NUMBER_RE) & factor.isNotNull(), converted)
        .otherwise(F.concat(value, F.lit(" "), unit))
    )


def _stuck_flags(df: DataFrame) -> DataFrame:
    """``<pollutant>_stuck``: every value of the pollutant in the station's delivery is the same,
    over at least STUCK_HOURS distinct hours. Judged per extract, so the flag depends only on
    the delivery it is applied to."""
    keys = ["_extract_date", "__station"]
    aggs = []
    for p in POLLUTANTS:
        v = F.col(p).cast("double")
        aggs += [
            (F.min(v) == F.max(v)).alias(f"__same_{p}"),
            F.count_distinct(F.when(v.isNotNull(), F.col("__ts"))).alias(f"__hours_{p}"),
        ]
    per_station = df.filter(F.col("__station").isNotNull()).groupBy(*keys).agg(*aggs)
    joined = df.join(per_station, on=keys, how="left")
    flags = [
        F.when(F.col(p).isNotNull() & F.col(f"__same_{p}") & (F.col(f"__hours_{p}") >= STUCK_HOURS), F.lit("true"))
        .otherwise(F.lit("false"))
        .alias(stuck_column(p))
        for p in POLLUTANTS
    ]
    return joined.select(*df.columns, *flags)


def extract_readings(raw: DataFrame) -> DataFrame:
    """Raw readings (``record`` = the JSON text) -> contract columns as strings, plus flags.

    Out of order: a reading whose time is earlier than one delivered before it, or later
    than one delivered after it, by the same station in the same file (a swapped pair flags
    both readings; a repeated hour does not count).
    """
    rec = F.from_json(F.col("record"), _RECORD_SCHEMA)
    parsed = raw.select("*", rec.alias("__rec"))
    # One delivered (value, unit) per pollutant, as plain columns, so later expressions stay small.
    picked = []
    for p in POLLUTANTS:
        m = F.element_at(F.filter(F.col("__rec.measurements"), _is_pollutant(p)), 1)
        picked += [F.trim(m["value"]).alias(f"__v_{p}"), _normalise_unit(m["unit"]).alias(f"__u_{p}")]
    stamp = F.trim(F.col("__rec.timestamp"))
    parsed = parsed.select(
        *raw.columns,
        F.col("__rec.station_id").alias("station_id"),
        # A wall-clock time without an offset is ambiguous: left untypable (invalid_type:timestamp).
        F.when(stamp.rlike(_OFFSET_RE), stamp).otherwise(F.concat(stamp, F.lit(" (no UTC offset)"))).alias("timestamp"),
        *picked,
    )
    df = parsed.select(
        *raw.columns,
        "station_id",
        "timestamp",
        *[_canonical_value(F.col(f"__v_{p}"), F.col(f"__u_{p}"), u).alias(p) for p, u in CANONICAL_UNITS.items()],
        F.trim(F.col("station_id")).alias("__station"),
        F.to_timestamp("timestamp").alias("__ts"),
    )
    by_file = Window.partitionBy("_source_file", "__station").orderBy("_line_number")
    before = F.max("__ts").over(by_file.rowsBetween(Window.unboundedPreceding, -1))
    after = F.min("__ts").over(by_file.rowsBetween(1, Window.unboundedFollowing))
    disordered = F.col("__ts").isNotNull() & ((F.col("__ts") < before) | (F.col("__ts") > after))
    df = df.select("*", F.when(disordered, F.lit("true")).otherwise(F.lit("false")).alias("out_of_order"))
    return _stuck_flags(df).drop("__station", "__ts")


def _pollutant_col(p: str) -> Col:
    return Col(p, "double", ge=0, description=f"hourly mean {p} in {CANONICAL_UNITS[p]} (converted if sent otherwise)")


STATIONS = Contract(
    domain="air_quality",
    source="stations",
    description="Air-quality monitoring stations: location and IANA time zone; re-sent when they change.",
    key=("station_id",),
    columns=(
        Col("station_id", required=True, description="station id", pattern=r"^[A-Za-z0-9_-]+$"),
        Col("name", description="station name"),
        Col("latitude", "double", ge=-90, le=90, description="WGS84 latitude, decimal degrees"),
        Col("longitude", "double", ge=-180, le=180, description="WGS84 longitude, decimal degrees"),
        Col("city", description="city"),
        Col("country", std=Std.COUNTRY, description="ISO 3166-1 alpha-2 country code"),
        # Local days and hours are computed in this zone; an unknown zone would stop the run later.
        Col(
            "time_zone",
            required=True,
            enum=tuple(sorted(zoneinfo.available_timezones())),
            description="IANA time zone of the station",
        ),
    ),
)

READINGS = Contract(
    domain="air_quality",
    source="readings",
    description="Hourly sensor readings, one per station and hour, pollutants in the AQI standard's units.",
    key=("station_id", "timestamp"),
    format="json",
    extract=extract_readings,
    columns=(
        Col("station_id", required=True, description="station", pattern=r"^[A-Za-z0-9_-]+$"),
        Col("timestamp", "timestamp", required=True, description="start of the reading's hour (UTC)"),
        *(_pollutant_col(p) for p in POLLUTANTS),
        *(
            Col(stuck_column(p), "boolean", description=f"{p} repeated one value for {STUCK_HOURS}+ hours")
            for p in POLLUTANTS
        ),
        Col("out_of_order", "boolean", description="delivered out of time order among the station's readings"),
    ),
    rules=(
        Rule(
            "no_measurements",
            "coalesce(pm25, pm10, o3, co, so2, no2) IS NOT NULL",
            "at least one pollutant value",
        ),
        Rule("reading_in_future", "to_date(timestamp) <= _extract_date", "measured by the extract date"),
    ),
    foreign_keys=(ForeignKey("station_id", "air_quality.stations", "station_id", FkPolicy.QUARANTINE),),
)

AIR_QUALITY_CONTRACTS: tuple[Contract, ...] = (STATIONS, READINGS)  # parents first
