"""The Spark path: AQI as native column expressions generated from the standard's tables.

No Python UDFs: every band becomes a ``F.when`` branch with decimal literals, and the
TAD's equation is evaluated as exact ``DecimalType`` arithmetic (products and an integral
division by remainder), so results equal :mod:`c360.aqi.core` bit for bit. Input rows keep
their columns and order; the result columns are appended.
"""

from __future__ import annotations

from decimal import Decimal
from typing import TYPE_CHECKING

from c360.aqi.core import RESULT_FIELDS
from c360.aqi.standards import Band, FieldTable, Standard
from c360.aqi.validate import (
    AVERAGING_PATTERN,
    CONVERSIONS,
    ERROR_MESSAGES,
    INPUT_SCALE,
    KNOWN_UNITS,
    MAX_VALUE,
    NEGATIVE_PATTERN,
    NO_POLLUTANTS,
    NON_FINITE_PATTERN,
    NUMBER_PATTERN,
    normalize_unit,
)

if TYPE_CHECKING:
    from pyspark.sql import Column, DataFrame

_TMP = "__aqi_"


def _long_form(df: DataFrame, standard: Standard) -> bool:
    """Whether ``df`` is in long form (pollutant/value rows); refuses a frame with no AQI input column."""
    long_form = "pollutant" in df.columns and "value" in df.columns
    names = standard.field_names()
    if not long_form and not set(names) & set(df.columns):
        raise ValueError(
            f"no AQI input columns: expected some of {', '.join(names)} (wide form) "
            "or pollutant/averaging/value/unit (long form)"
        )
    return long_form


def calculate_df(df: DataFrame, standard: Standard) -> DataFrame:
    """A wide or long DataFrame -> the same rows with the AQI result columns appended."""
    from pyspark.sql import functions as F

    long_form = _long_form(df, standard)
    input_cols = [c for c in df.columns if c not in RESULT_FIELDS]
    stage = _concentrations(df, standard, long_form, input_cols)
    stage = _sub_indices(stage, standard)
    result = _result(standard, long_form)
    return stage.select(*[F.col(c) for c in input_cols], *[result[name].alias(name) for name in RESULT_FIELDS])


def _concentrations(df: DataFrame, standard: Standard, long_form: bool, input_cols: list[str]) -> DataFrame:
    """Stage 1: validated, converted, truncated concentrations and input error kinds per field."""
    from pyspark.sql import functions as F

    parsed: list[Column] = []
    if long_form:
        # Parse the one value per row once, in the unit of the field its key names.
        averaging = F.col("averaging") if "averaging" in df.columns else F.lit("")
        unit = F.col("unit") if "unit" in df.columns else F.lit(None)
        key = F.concat(_token(F.col("pollutant")), F.lit("_"), _averaging(averaging))
        wanted = F.element_at(
            F.create_map(*[x for t in standard.fields for x in (F.lit(t.name), F.lit(normalize_unit(t.unit)))]),
            key,
        )
        df = df.select("*", key.alias(f"{_TMP}key"), wanted.alias(f"{_TMP}unit"))
        key, wanted = F.col(f"{_TMP}key"), F.col(f"{_TMP}unit")
        factor, unit_error = _unit_factor(unit, wanted)
        df = _parse(df, [("value", F.col("value"), factor, unit_error)])
        parsed.append(key)
    else:
        df = _parse(
            df,
            [(t.name, F.col(t.name) if t.name in df.columns else F.lit(None), None, None) for t in standard.fields],
        )
    for table in standard.fields:
        if long_form:
            mine = key == F.lit(table.name)
            value = F.when(mine, F.col(f"{_TMP}v_value"))
            kind = F.when(mine, F.col(f"{_TMP}k_value"))
        else:
            value, kind = F.col(f"{_TMP}v_{table.name}"), F.col(f"{_TMP}k_{table.name}")
        truncated = F.floor(value, F.lit(table.decimals)).cast(f"decimal({10 + table.decimals},{table.decimals})")
        parsed += [F.when(kind.isNull(), truncated).alias(_t(table)), kind.alias(_e(table))]
    return df.select(*[F.col(c) for c in input_cols], *parsed)


def _sub_indices(stage: DataFrame, standard: Standard) -> DataFrame:
    """Stage 2: sub-indices from each field's own table; stage 3: the fields that defer to another."""
    from pyspark.sql import functions as F

    for deferring in (False, True):
        extra = []
        for table in standard.fields:
            if (table.above == "defer") != deferring:
                continue
            index, note = _table_index(F.col(_t(table)), table, standard)
            if deferring:
                target = F.col(_i(standard.field(table.defer_to or "")))
                above = note == F.lit("above")
                fallback = F.lit(table.fallback).cast("long")
                index = F.when(above & target.isNull(), fallback).otherwise(index)
                note = (
                    F.when(above & target.isNotNull(), F.lit("deferred"))
                    .when(above & F.lit(table.fallback is not None), F.lit("fallback"))
                    .when(above, F.lit("above_range"))
                    .otherwise(note)
                )
            extra += [index.alias(_i(table)), note.alias(_n(table))]
        stage = stage.select("*", *extra)
    # The overall index: the highest sub-index of any pollutant, materialised once for every result column.
    return stage.select("*", _greatest(list(_pollutant_indices(standard).values())).alias(f"{_TMP}aqi"))


def _pollutant_indices(standard: Standard) -> dict[str, Column]:
    """Each pollutant's index: the highest of its fields' sub-indices."""
    from pyspark.sql import functions as F

    return {p: _greatest([F.col(_i(t)) for t in standard.fields if t.pollutant == p]) for p in standard.pollutants()}


def _result(standard: Standard, long_form: bool) -> dict[str, Column]:
    """Stage 4: the record's result columns, over the stages' columns."""
    from pyspark.sql import functions as F

    pollutant_index = _pollutant_indices(standard)
    aqi = F.col(f"{_TMP}aqi")

    category = color = None
    for cat in standard.categories:
        cond = aqi <= F.lit(cat.high) if cat.high is not None else aqi.isNotNull()
        category = F.when(cond, F.lit(cat.name)) if category is None else category.when(cond, F.lit(cat.name))
        color = F.when(cond, F.lit(cat.color)) if color is None else color.when(cond, F.lit(cat.color))

    dominant = F.array_compact(F.array(*[F.when(idx == aqi, F.lit(p)) for p, idx in pollutant_index.items()]))
    if standard.dominant_above is not None:
        dominant = F.when(aqi > F.lit(standard.dominant_above), dominant).otherwise(F.array().cast("array<string>"))

    sub_indices = F.map_filter(
        F.create_map(*[x for t in standard.fields for x in (F.lit(t.name), F.col(_i(t)))]),
        lambda _k, v: v.isNotNull(),
    )

    notes = [
        F.when(
            F.col(_n(t)).isNotNull(),
            _entry(F.lit(t.name), F.col(_n(t)), _note_message(F.col(_n(t)), t)),
        )
        for t in standard.fields
    ]
    notes.append(
        F.when(
            aqi > F.lit(standard.index_top),
            _entry(F.lit(None), F.lit("beyond_index"), F.lit(standard.beyond_message())),
        )
    )

    error_messages = F.create_map(*[x for k, m in ERROR_MESSAGES.items() for x in (F.lit(k), F.lit(m))])
    errors = [
        F.when(
            F.col(_e(t)).isNotNull(),
            _entry(
                F.lit(t.name),
                F.col(_e(t)),
                F.concat(F.lit(f"{t.name}: "), F.element_at(error_messages, F.col(_e(t)))),
            ),
        )
        for t in standard.fields
    ]
    any_value = _any([F.col(_t(t)).isNotNull() for t in standard.fields])
    any_error = _any([F.col(_e(t)).isNotNull() for t in standard.fields])
    if long_form:
        key_col = F.col(f"{_TMP}key")
        unknown = ~key_col.isin(*standard.field_names())
        errors.append(
            F.when(
                unknown,
                _entry(
                    key_col,
                    F.lit("unknown_field"),
                    F.concat(key_col, F.lit(": " + ERROR_MESSAGES["unknown_field"])),
                ),
            )
        )
        any_error = any_error | unknown
    errors.append(
        F.when(
            ~any_value & ~any_error,
            _entry(F.lit(None), F.lit("no_pollutants"), F.lit(NO_POLLUTANTS)),
        )
    )
    error_array = F.array_compact(F.array(*errors))

    assert category is not None and color is not None  # a standard has at least one category
    result = {
        "aqi": aqi,
        "category": category,
        "color": color,
        "dominant_pollutant": dominant,
        "sub_indices": sub_indices,
        "notes": F.array_compact(F.array(*notes)),
        "errors": error_array,
        "status": F.when(aqi.isNull() & (F.size(error_array) > 0), F.lit("invalid")).otherwise(F.lit("ok")),
    }
    return result


def _t(table: FieldTable) -> str:
    return f"{_TMP}t_{table.name}"


def _e(table: FieldTable) -> str:
    return f"{_TMP}e_{table.name}"


def _i(table: FieldTable) -> str:
    return f"{_TMP}i_{table.name}"


def _n(table: FieldTable) -> str:
    return f"{_TMP}n_{table.name}"


def _entry(field: Column, kind: Column, message: Column) -> Column:
    from pyspark.sql import functions as F

    return F.struct(field.cast("string").alias("field"), kind.alias("kind"), message.alias("message"))


def _greatest(cols: list[Column]) -> Column:
    from pyspark.sql import functions as F

    return cols[0] if len(cols) == 1 else F.greatest(*cols)


def _any(conds: list[Column]) -> Column:
    out = conds[0]
    for cond in conds[1:]:
        out = out | cond
    return out


def _token(col: Column) -> Column:
    from pyspark.sql import functions as F

    return F.regexp_replace(F.lower(F.coalesce(col.cast("string"), F.lit(""))), "[^a-z0-9]", "")


def _averaging(col: Column) -> Column:
    from pyspark.sql import functions as F

    return F.regexp_replace(_token(col), AVERAGING_PATTERN, "$1h")


def _unit_factor(unit: Column, wanted: Column) -> tuple[Column, Column]:
    """(conversion factor, unit error kind) of a long-form row whose field wants ``wanted``."""
    from pyspark.sql import functions as F

    text = unit.cast("string")
    given = F.regexp_replace(F.translate(F.lower(text), "µμ³", "uu3"), "[^a-z0-9]", "")
    same = text.isNull() | (F.trim(text) == F.lit("")) | (given == wanted)
    factor = F.when(same, F.lit(Decimal(1)))
    convertible = F.lit(False)
    for (src, dst), value in CONVERSIONS.items():
        pair = (given == F.lit(src)) & (wanted == F.lit(dst))
        factor = factor.when(pair, F.lit(value))
        convertible = convertible | pair
    kind = (
        F.when(same, F.lit(None))
        .when(~given.isin(*KNOWN_UNITS), F.lit("unknown_unit"))
        .when(~convertible, F.lit("unit_not_convertible"))
    )
    return factor.otherwise(F.lit(Decimal(1))), kind


def _parse(df: DataFrame, specs: list[tuple[str, Column, Column | None, Column | None]]) -> DataFrame:
    """Add ``v_<name>`` (concentration in the standard's unit) and ``k_<name>`` (error kind).

    ``specs``: (name, raw column of any type, unit factor, unit error kind). Everything goes
    through its string form, as the decimal path does: a double becomes its shortest decimal
    text (0.205, not 0.2049999...), NaN and Infinity stay words. Three selects, so that each
    intermediate is computed once and no generated method outgrows the JVM's 64 KB limit.
    """
    from pyspark.sql import functions as F

    def c(kind: str, name: str) -> Column:
        return F.col(f"{_TMP}{kind}_{name}")

    df = df.select(
        "*",
        *[x for name, raw, _, _ in specs for x in (
            raw.cast("string").isNull().alias(f"{_TMP}null_{name}"),
            F.trim(raw.cast("string")).alias(f"{_TMP}s_{name}"),
        )],
    )  # fmt: skip
    decimal = f"decimal({10 + INPUT_SCALE},{INPUT_SCALE})"
    df = df.select("*", *[F.abs(c("s", name).try_cast(decimal)).alias(f"{_TMP}d_{name}") for name, *_ in specs])
    out = []
    for name, _, factor, unit_error in specs:
        trimmed, number = c("s", name), c("d", name)
        converted = number if factor is None else number * factor
        converted = converted.cast(f"decimal({13 + INPUT_SCALE + 3},{INPUT_SCALE + 3})")
        kind = (
            F.when(c("null", name), F.lit(None))
            .when(trimmed == F.lit(""), F.lit("empty"))
            .when(trimmed.rlike("(?i)" + NON_FINITE_PATTERN), F.lit("not_finite"))
            .when(~trimmed.rlike(NUMBER_PATTERN), F.lit("non_numeric"))
            .when(trimmed.rlike(NEGATIVE_PATTERN), F.lit("negative"))
            .when(number.isNull(), F.lit("out_of_range"))
        )
        if unit_error is not None:
            kind = kind.when(unit_error.isNotNull(), unit_error)
        kind = kind.when(converted >= F.lit(MAX_VALUE), F.lit("out_of_range"))
        out += [converted.alias(f"{_TMP}v_{name}"), kind.alias(f"{_TMP}k_{name}")]
    return df.select("*", *out)


def _index(band: Band, c: Column, rounding: str) -> Column:
    """The TAD equation on decimals: floor((2A + D) / 2D) or ceil(A / D), as in the core."""
    from pyspark.sql import functions as F

    d = band.c_high - band.c_low
    a = F.lit(band.i_low * d) + F.lit(Decimal(band.i_high - band.i_low)) * (c - F.lit(band.c_low))
    if rounding == "half_up":
        num, den = a * F.lit(Decimal(2)) + F.lit(d), F.lit(2 * d)
        return ((num - num % den) / den).cast("long")
    rem = a % F.lit(d)
    return ((a - rem) / F.lit(d)).cast("long") + F.when(rem > F.lit(Decimal(0)), F.lit(1)).otherwise(F.lit(0))


def _table_index(c: Column, table: FieldTable, standard: Standard) -> tuple[Column, Column]:
    """(sub-index from the field's own table, note kind); 'above' marks a pending defer."""
    from pyspark.sql import functions as F

    rounding = standard.index_rounding
    index = F.when(c < F.lit(table.low), F.lit(None).cast("long"))
    for band in table.bands:
        index = index.when(c <= F.lit(band.c_high), _index(band, c, rounding))
    top = table.bands[-1]
    if table.above == "extrapolate":
        index = index.when(c.isNotNull(), _index(top, c, rounding))
        note = F.when(c < F.lit(table.low), F.lit("below_range"))
    elif table.above == "cap":
        index = index.when(c.isNotNull(), F.lit(top.i_high).cast("long"))
        note = F.when(c < F.lit(table.low), F.lit("below_range")).when(c > F.lit(top.c_high), F.lit("capped"))
    else:
        note = F.when(c < F.lit(table.low), F.lit("below_range")).when(c > F.lit(top.c_high), F.lit("above"))
    return index, note


def _note_message(kind: Column, table: FieldTable) -> Column:
    from pyspark.sql import functions as F

    return (
        F.when(kind == F.lit("below_range"), F.lit(table.below_message()))
        .when(kind == F.lit("deferred"), F.lit(table.deferred_message() if table.defer_to else ""))
        .otherwise(F.lit(table.above_message()))
    )


def calculate_df_arrow(df: DataFrame, standard: Standard) -> DataFrame:
    """The same results through the integer kernel in Spark's Python workers (``mapInArrow``).

    One implementation for every path; the price is a Python worker per task and the Arrow
    transfer both ways. benchmarks/bench_aqi.py measures it against :func:`calculate_df`.
    """
    from pyspark.sql import types as T

    _long_form(df, standard)  # the same refusal as the native path for a frame with no AQI input column
    # The native path's types exactly, so that either path's frame can replace the other's.
    entry = T.ArrayType(T.StructType([T.StructField(n, T.StringType()) for n in ("field", "kind", "message")]))
    result_fields = [
        T.StructField("aqi", T.LongType()),
        T.StructField("category", T.StringType()),
        T.StructField("color", T.StringType()),
        T.StructField("dominant_pollutant", T.ArrayType(T.StringType())),
        T.StructField("sub_indices", T.MapType(T.StringType(), T.LongType())),
        T.StructField("notes", entry),
        T.StructField("errors", entry),
        T.StructField("status", T.StringType()),
    ]
    kept = [f for f in df.schema.fields if f.name not in RESULT_FIELDS]
    schema = T.StructType([*kept, *result_fields])

    def run(batches):  # type: ignore[no-untyped-def]
        from c360.aqi.frames import calculate_arrow

        for batch in batches:
            yield calculate_arrow(batch, standard)

    return df.mapInArrow(run, schema)
