"""The Spark path: AQI as native column expressions generated from the standard's tables.

No Python UDFs, and no decimal arithmetic on the common path. A plain number (up to 9
integer digits and 20 decimals, no sign or exponent: nearly every reading, and every double
Spark prints without an exponent) is split into its digits with string functions and
truncated in scaled 64-bit integers, ``t = floor(c * 10**decimals)``, as the integer kernel
(:mod:`c360.aqi.kernel`) does; the TAD's equation is then exact integer division. Any other
text (signs, exponents, words, NaN) takes a CASE branch that plain values never enter: the
validation regexes and exact ``DecimalType`` arithmetic of the decimal core's rules.

Bands, note and error entries are literal arrays indexed by small integer codes, so each
field is one short expression, and no expression falls back to interpretation (no
higher-order functions). The whole plan still makes one whole-stage method of ~40 KB, above
what HotSpot JIT-compiles (8000 bytes): c360's session sets ``spark.sql.codegen.hugeMethodLimit``
to 8000 so that Spark runs such a stage with per-operator compiled code (docs/aqi.md).
Results equal :mod:`c360.aqi.core` bit for bit; tests/aqi/test_aqi_spark.py holds every
path together. Input rows keep their columns and
order; the result columns are appended.
"""

from __future__ import annotations

from decimal import Decimal
from typing import TYPE_CHECKING

from c360.aqi.core import RESULT_FIELDS
from c360.aqi.standards import FieldTable, Standard
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
    from pyspark.sql import Column, DataFrame, SparkSession
    from pyspark.sql import types as T

_TMP = "__aqi_"
_MAX_EXPONENT = 3  # unit conversions are powers of ten up to 1000 (CONVERSIONS)
# Error kinds and note kinds by code, as the kernel numbers them (0: none).
_KIND = {"empty": 1, "non_numeric": 2, "not_finite": 3, "negative": 4, "out_of_range": 5,
         "unknown_unit": 6, "unit_not_convertible": 7}  # fmt: skip
_BELOW, _CAPPED, _DEFERRED, _FALLBACK, _ABOVE_RANGE, _PENDING = 1, 2, 3, 4, 5, 99


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
    stage = _long_inputs(df, standard, input_cols) if long_form else _wide_inputs(df, standard, input_cols)
    stage = _sub_indices(stage, standard, input_cols)
    result = _result(standard, long_form)
    return stage.select(*[F.col(c) for c in input_cols], *[result[name].alias(name) for name in RESULT_FIELDS])


# ----------------------------------------------------------------------------- names


def _col(kind: str, name: str) -> Column:
    from pyspark.sql import functions as F

    return F.col(f"{_TMP}{kind}_{name}")


def _kept(input_cols: list[str], extra: list[str]) -> list[Column]:
    from pyspark.sql import functions as F

    return [F.col(c) for c in input_cols] + [F.col(c) for c in extra]


def _lit_array(values: list[object], cast: str) -> Column:
    """A literal array (folded to a constant), indexed with ``element_at`` (1-based)."""
    from pyspark.sql import functions as F

    return F.array(*[F.lit(v) for v in values]).cast(cast)


def _pow10(top: int) -> Column:
    return _lit_array([10**i for i in range(top + 1)], "array<long>")


# ----------------------------------------------------------------------------- stage 1: values


def _wide_inputs(df: DataFrame, standard: Standard, input_cols: list[str]) -> DataFrame:
    """Each field's truncated concentration ``t_<field>`` (long) and error code ``e_<field>``."""
    from pyspark.sql import functions as F

    given = [t for t in standard.fields if t.name in df.columns]
    df = df.select(*_kept(input_cols, []), *[_trimmed(F.col(t.name)).alias(f"{_TMP}s_{t.name}") for t in given])
    digits = max([t.decimals for t in given] + [1])
    df = df.select(*_kept(input_cols, [f"{_TMP}s_{t.name}" for t in given]),
                   *[x for t in given for x in _plain(_col("s", t.name), t.name, digits)])  # fmt: skip
    out: list[Column] = []
    for table in standard.fields:
        if table.name not in df.columns:
            out += [F.lit(None).cast("long").alias(f"{_TMP}u_{table.name}"), F.lit(0).alias(f"{_TMP}e_{table.name}")]
            continue
        u, e = _values(table.name, digits, F.lit(table.decimals), {table.decimals}, None, None)
        out += [u.alias(f"{_TMP}u_{table.name}"), e.alias(f"{_TMP}e_{table.name}")]
    df = df.select(*_kept(input_cols, []), *out)
    return df.select(
        *_kept(input_cols, []),
        *[x for t in standard.fields for x in (
            F.when(_col("e", t.name) == F.lit(0), _col("u", t.name)).alias(f"{_TMP}t_{t.name}"), _col("e", t.name),
        )],
    )  # fmt: skip


def _long_inputs(df: DataFrame, standard: Standard, input_cols: list[str]) -> DataFrame:
    """The long form: the row's key names its field; its value is read in that field's unit."""
    from pyspark.sql import functions as F

    averaging = F.col("averaging") if "averaging" in df.columns else F.lit("")
    unit = F.col("unit") if "unit" in df.columns else F.lit(None)
    key = F.concat(_token(F.col("pollutant")), F.lit("_"), _averaging(averaging))
    wanted = F.element_at(
        F.create_map(*[x for t in standard.fields for x in (F.lit(t.name), F.lit(normalize_unit(t.unit)))]), key
    )
    decimals = F.element_at(
        F.create_map(*[x for t in standard.fields for x in (F.lit(t.name), F.lit(t.decimals))]), key
    )
    df = df.select(*_kept(input_cols, []), key.alias(f"{_TMP}key"), wanted.alias(f"{_TMP}wanted"),
                   decimals.alias(f"{_TMP}dec"), _trimmed(F.col("value")).alias(f"{_TMP}s_value"),
                   unit.cast("string").alias(f"{_TMP}unit"))  # fmt: skip
    exponent, unit_error = _unit_exponent(F.col(f"{_TMP}unit"), F.col(f"{_TMP}wanted"))
    digits = max(t.decimals for t in standard.fields) + _MAX_EXPONENT
    carried = [f"{_TMP}key", f"{_TMP}dec", f"{_TMP}s_value"]
    df = df.select(*_kept(input_cols, carried), exponent.alias(f"{_TMP}exp"), unit_error.alias(f"{_TMP}uerr"),
                   *_plain(_col("s", "value"), "value", digits))  # fmt: skip
    u, e = _values("value", digits, F.col(f"{_TMP}dec"), {f.decimals for f in standard.fields},
                   F.col(f"{_TMP}exp"), F.col(f"{_TMP}uerr"))  # fmt: skip
    df = df.select(*_kept(input_cols, [f"{_TMP}key"]), u.alias(f"{_TMP}u_value"), e.alias(f"{_TMP}e_value"))
    key = F.col(f"{_TMP}key")
    out: list[Column] = [key]
    for table in standard.fields:
        mine = key == F.lit(table.name)
        out += [F.when(mine & (_col("e", "value") == F.lit(0)), _col("u", "value")).alias(f"{_TMP}t_{table.name}"),
                F.when(mine, _col("e", "value")).otherwise(F.lit(0)).alias(f"{_TMP}e_{table.name}")]  # fmt: skip
    return df.select(*_kept(input_cols, []), *out)


def _trimmed(raw: Column) -> Column:
    """The value's text, as the decimal path reads it (a double: its shortest decimal form)."""
    from pyspark.sql import functions as F

    return F.trim(raw.cast("string"))


def _plain(s: Column, name: str, digits: int) -> list[Column]:
    """``p_<name>``: the text is a plain number (up to 9 integer digits, an optional point and
    up to 20 decimals), told without a regex; ``y_<name>``: then ``floor(x * 10**digits)``."""
    from pyspark.sql import functions as F

    whole = F.substring_index(s, ".", 1)
    size = F.length(whole)
    plain = (
        F.translate(s, "0123456789", "").isin("", ".")
        & (size >= F.lit(1))
        & (size <= F.lit(9))
        & (F.length(s) <= size + F.lit(21))
    )
    fraction = F.rpad(s.substr(size + F.lit(2), F.lit(digits)), digits, "0")
    scaled = whole.cast("long") * F.lit(10**digits) + fraction.cast("long")
    return [plain.alias(f"{_TMP}p_{name}"), F.when(plain, scaled).alias(f"{_TMP}y_{name}")]


def _values(name: str, digits: int, decimals: Column, all_decimals: set[int], exponent: Column | None,
            unit_error: Column | None) -> tuple[Column, Column]:  # fmt: skip
    """(``u``: floor(c * 10**decimals) in the standard's unit, meaningful where the error code
    is 0; the error code, 0 for none). Each is one expression with the rare texts' rules in a
    branch of its own, so that plain values never evaluate them.

    ``exponent``: the unit conversion as a power of ten (long form); ``unit_error``: the unit's
    error code, which counts only for a value that parses (the decimal path's order).
    """
    from pyspark.sql import functions as F

    s, plain, y = _col("s", name), _col("p", name), _col("y", name)
    k = decimals if exponent is None else decimals + exponent
    pow10 = _pow10(max(digits + _MAX_EXPONENT, 9 + max(all_decimals)))
    fast_t = F.call_function("div", y, F.element_at(pow10, F.lit(digits + 1) - k))
    fast_kind: Column = F.lit(0)
    if exponent is not None:
        assert unit_error is not None
        limit = F.element_at(pow10, F.lit(10) + decimals)  # c * 10**exp >= 1e9  <=>  t >= 10**(9 + decimals)
        fast_kind = F.when(unit_error != F.lit(0), unit_error).when(fast_t >= limit, F.lit(_KIND["out_of_range"]))
        fast_kind = fast_kind.otherwise(F.lit(0))
    slow_t, slow_kind = _slow(s, decimals, all_decimals, exponent, unit_error)
    kind = F.when(s.isNull(), F.lit(0)).when(plain, fast_kind).otherwise(slow_kind)
    return F.when(plain, fast_t).otherwise(slow_t), kind


def _slow(s: Column, decimals: Column, all_decimals: set[int], exponent: Column | None,
          unit_error: Column | None) -> tuple[Column, Column]:  # fmt: skip
    """Any other text, with the decimal core's rules: the validation regexes, the value as
    ``DECIMAL(30, 20)`` (half up, as :func:`c360.aqi.validate.parse_number` quantizes), the
    exact unit conversion, and truncation by ``floor`` at the field's decimals."""
    from pyspark.sql import functions as F

    number = F.abs(s.try_cast(f"decimal({10 + INPUT_SCALE},{INPUT_SCALE})"))
    if exponent is not None:
        factor = F.when(exponent == F.lit(0), F.lit(Decimal(1)))
        for value in sorted({v for v in CONVERSIONS.values()}):
            factor = factor.when(exponent == F.lit(int(value.adjusted())), F.lit(value))
        number = number * factor.otherwise(F.lit(Decimal(1)))
    converted = number.cast(f"decimal({13 + INPUT_SCALE + _MAX_EXPONENT},{INPUT_SCALE + _MAX_EXPONENT})")
    kind = (
        F.when(s == F.lit(""), F.lit(_KIND["empty"]))
        .when(s.rlike("(?i)" + NON_FINITE_PATTERN), F.lit(_KIND["not_finite"]))
        .when(~s.rlike(NUMBER_PATTERN), F.lit(_KIND["non_numeric"]))
        .when(s.rlike(NEGATIVE_PATTERN), F.lit(_KIND["negative"]))
        .when(number.isNull(), F.lit(_KIND["out_of_range"]))
    )
    if unit_error is not None:
        kind = kind.when(unit_error != F.lit(0), unit_error)
    kind = kind.when(converted >= F.lit(MAX_VALUE), F.lit(_KIND["out_of_range"])).otherwise(F.lit(0))
    t = None
    for d in sorted(all_decimals):
        scaled = (F.floor(converted, F.lit(d)) * F.lit(Decimal(10) ** d)).cast("long")
        t = F.when(decimals == F.lit(d), scaled) if t is None else t.when(decimals == F.lit(d), scaled)
    assert t is not None
    return t, kind


def _token(col: Column) -> Column:
    from pyspark.sql import functions as F

    return F.regexp_replace(F.lower(F.coalesce(col.cast("string"), F.lit(""))), "[^a-z0-9]", "")


def _averaging(col: Column) -> Column:
    from pyspark.sql import functions as F

    return F.regexp_replace(_token(col), AVERAGING_PATTERN, "$1h")


def _unit_exponent(text: Column, wanted: Column) -> tuple[Column, Column]:
    """(conversion as a power of ten, unit error code) of a long-form row whose field wants ``wanted``."""
    from pyspark.sql import functions as F

    given = F.regexp_replace(F.translate(F.lower(text), "µμ³", "uu3"), "[^a-z0-9]", "")
    same = text.isNull() | (F.trim(text) == F.lit("")) | (given == wanted)
    exponent = F.when(same, F.lit(0))
    convertible = F.lit(False)
    for (src, dst), value in CONVERSIONS.items():
        pair = (given == F.lit(src)) & (wanted == F.lit(dst))
        exponent = exponent.when(pair, F.lit(int(value.adjusted())))
        convertible = convertible | pair
    kind = (
        F.when(same, F.lit(0))
        .when(~given.isin(*KNOWN_UNITS), F.lit(_KIND["unknown_unit"]))
        .when(~convertible, F.lit(_KIND["unit_not_convertible"]))
        .otherwise(F.lit(0))
    )
    return exponent.otherwise(F.lit(0)), kind


# ----------------------------------------------------------------------------- stage 2: sub-indices


def _sub_indices(stage: DataFrame, standard: Standard, input_cols: list[str]) -> DataFrame:
    """Sub-indices (``i_``) and note codes (``n_``) from each field's own table; then the
    fields that defer to another; then each pollutant's index (``p_``) and the record's."""
    from pyspark.sql import functions as F

    names = standard.field_names()
    carried = [f"{_TMP}{k}_{n}" for n in names for k in ("t", "e")]
    carried += [f"{_TMP}key"] if f"{_TMP}key" in stage.columns else []
    stage = stage.select(*_kept(input_cols, carried), *[_band(_col("t", t.name), t).alias(f"{_TMP}b_{t.name}")
                                                        for t in standard.fields])  # fmt: skip
    own = []
    for table in standard.fields:
        index, note = _table_index(_col("t", table.name), _col("b", table.name), table, standard.index_rounding)
        own += [index.alias(f"{_TMP}i_{table.name}"), note.alias(f"{_TMP}n_{table.name}")]
    stage = stage.select(*_kept(input_cols, carried), *own)
    resolved = []
    for table in standard.fields:
        index, note = _col("i", table.name), _col("n", table.name)
        if table.above == "defer":
            target = _col("i", table.defer_to or "")
            above = note == F.lit(_PENDING)
            index = F.when(above & target.isNull(), F.lit(table.fallback).cast("long")).otherwise(index)
            note = (
                F.when(above & target.isNotNull(), F.lit(_DEFERRED))
                .when(above, F.lit(_FALLBACK if table.fallback is not None else _ABOVE_RANGE))
                .otherwise(note)
            )
        resolved += [index.alias(f"{_TMP}i_{table.name}"), note.alias(f"{_TMP}n_{table.name}")]
    stage = stage.select(*_kept(input_cols, carried), *resolved)
    pollutants = {
        p: _greatest([_col("i", t.name) for t in standard.fields if t.pollutant == p]) for p in standard.pollutants()
    }
    indices = [f"{_TMP}{k}_{n}" for n in names for k in ("i", "n")]
    stage = stage.select(
        *_kept(input_cols, carried + indices), *[c.alias(f"{_TMP}p_{p}") for p, c in pollutants.items()]
    )
    aqi = _greatest([_col("p", p) for p in standard.pollutants()])
    return stage.select("*", aqi.alias(f"{_TMP}aqi"))


def _band(t: Column, table: FieldTable) -> Column:
    """The band of a truncated concentration: 0 below the table, 1..n, n + 1 above it."""
    from pyspark.sql import functions as F

    from c360.aqi.kernel import _band_arrays

    lo, hi, _, _ = _band_arrays(table)
    band = F.when(t.isNull(), F.lit(None)).when(t < F.lit(int(lo[0])), F.lit(0))
    for b, high in enumerate(hi.tolist()):
        band = band.when(t <= F.lit(high), F.lit(b + 1))
    return band.otherwise(F.lit(len(hi) + 1))


def _table_index(t: Column, band: Column, table: FieldTable, rounding: str) -> tuple[Column, Column]:
    """(sub-index from the field's own table, note code); 99 marks a pending defer.

    The band's constants come from literal arrays, so the TAD's
    equation is written once: with ``D = hi - lo`` and ``A = Ilo*D + (Ihi-Ilo)*(t-lo)`` (all
    scaled integers), the index is ``floor((2A + D) / 2D)`` (half up) or ``ceil(A / D)``.
    """
    from pyspark.sql import functions as F

    from c360.aqi.kernel import _band_arrays

    lo, hi, ilo, ihi = (a.tolist() for a in _band_arrays(table))
    n = len(hi)
    top = F.least(band, F.lit(n))  # above the table: its top band (extrapolation)
    slope = F.element_at(_lit_array([ihi[b] - ilo[b] for b in range(n)], "array<long>"), top)
    span = F.element_at(_lit_array([hi[b] - lo[b] for b in range(n)], "array<long>"), top)
    base = F.element_at(_lit_array([ilo[b] * (hi[b] - lo[b]) - (ihi[b] - ilo[b]) * lo[b] for b in range(n)],
                                   "array<long>"), top)  # fmt: skip
    a = base + slope * t
    index = _floor_div(a * F.lit(2) + span, span * F.lit(2)) if rounding == "half_up" else -_floor_div(-a, span)
    inside = (band >= F.lit(1)) & (band <= F.lit(n))
    note = F.when(band == F.lit(0), F.lit(_BELOW))
    if table.above == "extrapolate":
        index = F.when(band >= F.lit(1), index)
    elif table.above == "cap":
        index = F.when(inside, index).when(band > F.lit(n), F.lit(ihi[-1]).cast("long"))
        note = note.when(band > F.lit(n), F.lit(_CAPPED))
    else:
        index = F.when(inside, index)
        note = note.when(band > F.lit(n), F.lit(_PENDING))
    return index, note.otherwise(F.lit(0))


def _floor_div(a: Column, b: Column) -> Column:
    """Python's ``a // b`` for ``b > 0`` on longs (``div`` truncates towards zero)."""
    from pyspark.sql import functions as F

    return F.call_function("div", a - F.pmod(a, b), b)


def _greatest(cols: list[Column]) -> Column:
    from pyspark.sql import functions as F

    return cols[0] if len(cols) == 1 else F.greatest(*cols)


# ----------------------------------------------------------------------------- stage 3: results


def _result(standard: Standard, long_form: bool) -> dict[str, Column]:
    """The record's result columns: constant texts picked by index, lists joined from parts."""
    from pyspark.sql import functions as F

    from c360.aqi.kernel import KINDS, NOTE_KINDS, _texts

    names = standard.field_names()
    pollutants = standard.pollutants()
    aqi = F.col(f"{_TMP}aqi")

    category = color = None
    for cat in standard.categories:
        cond = aqi <= F.lit(cat.high) if cat.high is not None else aqi.isNotNull()
        category = F.when(cond, F.lit(cat.name)) if category is None else category.when(cond, F.lit(cat.name))
        color = F.when(cond, F.lit(cat.color)) if color is None else color.when(cond, F.lit(cat.color))
    assert category is not None and color is not None  # a standard has at least one category

    # Dominant pollutants: a bit per pollutant, the list picked from every combination.
    mask = _sum([F.when(_col("p", p) == aqi, F.lit(1 << i)).otherwise(F.lit(0)) for i, p in enumerate(pollutants)])
    if standard.dominant_above is not None:
        mask = F.when(aqi > F.lit(standard.dominant_above), mask).otherwise(F.lit(0))
    combos = [[p for i, p in enumerate(pollutants) if code >> i & 1] for code in range(1 << len(pollutants))]
    dominant = F.element_at(_string_lists(combos), mask + F.lit(1))

    # Sub-indices: the present fields' names picked the same way, their values with the absent removed.
    present = _sum([F.when(_col("i", n).isNotNull(), F.lit(1 << f)).otherwise(F.lit(0)) for f, n in enumerate(names)])
    keys = F.element_at(
        _string_lists([[n for f, n in enumerate(names) if code >> f & 1] for code in range(1 << len(names))]),
        present + F.lit(1),
    )
    # when/otherwise rather than coalesce: the values stay nullable, as the other paths type them.
    values = F.array(*[F.when(_col("i", n).isNull(), F.lit(-1)).otherwise(_col("i", n)) for n in names])
    values = F.array_remove(values, -1)
    sub_indices = F.map_from_arrays(keys, values)

    texts = _texts(standard)
    empty = F.array().cast(_ENTRY_LIST)

    def entries(lookup: dict[tuple[int, int], tuple[str, str, str]], f: int, size: int) -> Column:
        placeholder = (names[f], "", "")
        return F.array(*[_entry(*lookup.get((f, code), placeholder)) for code in range(1, size)])

    def one(cond: Column, entry: Column) -> Column:
        return F.when(cond, F.array(entry)).otherwise(empty)

    beyond = aqi > F.lit(standard.index_top)
    note_parts = [
        one(_col("n", n) > F.lit(0), F.element_at(entries(texts.note_entries, f, len(NOTE_KINDS)), _col("n", n)))
        for f, n in enumerate(names)
    ]
    note_parts.append(one(beyond, _entry(None, "beyond_index", standard.beyond_message())))
    any_note = (_greatest([_col("n", n) for n in names]) > F.lit(0)) | F.coalesce(beyond, F.lit(False))
    notes = F.when(any_note, F.concat(*note_parts)).otherwise(empty)

    any_value = _any([_col("t", n).isNotNull() for n in names])
    any_error = _greatest([_col("e", n) for n in names]) > F.lit(0)
    error_parts = [
        one(_col("e", n) > F.lit(0), F.element_at(entries(texts.error_entries, f, len(KINDS)), _col("e", n)))
        for f, n in enumerate(names)
    ]
    if long_form:
        key = F.col(f"{_TMP}key")
        unknown = ~key.isin(*names)
        message = F.concat(key, F.lit(": " + ERROR_MESSAGES["unknown_field"]))
        error_parts.append(one(unknown, F.struct(key.alias("field"), F.lit("unknown_field").alias("kind"),
                                                 message.alias("message"))))  # fmt: skip
        any_error = any_error | unknown
    no_pollutants = ~any_value & ~any_error
    error_parts.append(one(no_pollutants, _entry(None, "no_pollutants", NO_POLLUTANTS)))
    errors = F.when(any_error | no_pollutants, F.concat(*error_parts)).otherwise(empty)

    return {
        "aqi": aqi,
        "category": category,
        "color": color,
        "dominant_pollutant": dominant,
        "sub_indices": sub_indices,
        "notes": notes,
        "errors": errors,
        "status": F.when(aqi.isNull() & (any_error | no_pollutants), F.lit("invalid")).otherwise(F.lit("ok")),
    }


_ENTRY_LIST = "array<struct<field:string,kind:string,message:string>>"


def _entry(field: str | None, kind: str, message: str) -> Column:
    from pyspark.sql import functions as F

    return F.struct(
        F.lit(field).cast("string").alias("field"), F.lit(kind).alias("kind"), F.lit(message).alias("message")
    )


def _string_lists(lists: list[list[str]]) -> Column:
    from pyspark.sql import functions as F

    return F.array(*[F.array(*[F.lit(x) for x in items]).cast("array<string>") for items in lists])


def _sum(cols: list[Column]) -> Column:
    out = cols[0]
    for col in cols[1:]:
        out = out + col
    return out


def _any(conds: list[Column]) -> Column:
    out = conds[0]
    for cond in conds[1:]:
        out = out | cond
    return out


def calculate_df_arrow(df: DataFrame, standard: Standard) -> DataFrame:
    """The same results through the integer kernel in Spark's Python workers (``mapInArrow``).

    One implementation for every path; the price is a Python worker per task and the Arrow
    transfer both ways. benchmarks/bench_aqi.py measures it against :func:`calculate_df`.
    """
    schema = _kernel_schema(df, standard)

    def run(batches):  # type: ignore[no-untyped-def]
        from c360.aqi.frames import calculate_arrow

        for batch in batches:
            yield calculate_arrow(batch, standard)

    return df.mapInArrow(run, schema)


def calculate_df_local(df: DataFrame, standard: Standard) -> DataFrame:
    """The same results through the integer kernel in the driver's process: the frame's rows
    are collected as Arrow, scored, and handed back to Spark as a local frame.

    For a frame small enough to collect, such as a day's few station-hours: the first Python
    task of a process waits about a second for Spark to start its Python workers, more than
    such a frame takes to score. The caller knows the size; nothing here checks it."""
    from c360.aqi.frames import calculate_arrow

    schema = _kernel_schema(df, standard)
    return df.sparkSession.createDataFrame(calculate_arrow(df.toArrow(), standard), schema)  # type: ignore[arg-type]


JVM_KERNEL_CLASS = "c360.aqi.AqiKernel"  # c360/jvm/AqiKernel.java, in c360's jar (c360.spark.local_fs_jar)
_JVM_TEXT_TYPES = ("string", "tinyint", "smallint", "int", "bigint", "void")  # read as their text's bytes


def _jvm_reads(dtype: str) -> bool:
    """Whether the JVM kernel reads a field of Spark type ``dtype`` as the other paths do: texts and
    integers through their text, doubles and decimals as numbers (as the kernel reads float64
    and decimal128 Arrow columns). Floats are left out: the Python kernel reads a float32
    through pyarrow's text of it."""
    return dtype in _JVM_TEXT_TYPES or dtype == "double" or dtype.startswith("decimal")


def jvm_kernel_applies(df: DataFrame, standard: Standard) -> bool:
    """Whether :func:`calculate_df_jvm` computes ``df`` in the JVM: a wide frame whose fields are
    texts, integers, doubles or decimals, in a session whose driver loads c360's jar (a session
    c360 configured)."""
    from c360.spark import _driver_loads

    if _long_form(df, standard):
        return False
    types = dict(df.dtypes)
    if not all(_jvm_reads(types[n]) for n in standard.field_names() if n in types):
        return False
    return _driver_loads(df.sparkSession.sparkContext._jvm, JVM_KERNEL_CLASS)


def calculate_df_jvm(df: DataFrame, standard: Standard) -> DataFrame:
    """The same results computed in Spark's own tasks by c360's JVM kernel: a Java port of the
    integer kernel's evaluation, given the standard's tables and texts by :func:`jvm_spec`. No
    Python worker, no Arrow transfer and no generated code of the size that defeats HotSpot
    (docs/aqi.md). A frame it cannot take (:func:`jvm_kernel_applies`: the long form, floats,
    a session without c360's jar) goes to :func:`calculate_df_arrow` instead."""
    from pyspark.sql import functions as F

    if not jvm_kernel_applies(df, standard):
        return calculate_df_arrow(df, standard)
    name = _register_jvm_kernel(df.sparkSession, standard)
    input_cols = [c for c in df.columns if c not in RESULT_FIELDS]
    types = dict(df.dtypes)

    def field(name: str) -> Column:
        # A text as it is (the kernel reads its UTF-8 bytes, with no Java string made), an integer
        # as its text; doubles and decimals as they are; an absent field as no value.
        if name not in types:
            return F.lit(None).cast("string")
        return F.col(name).cast("string") if types[name] in _JVM_TEXT_TYPES else F.col(name)

    result = f"{_TMP}result"
    fields = [field(n) for n in standard.field_names()]
    scored = df.select(*[F.col(c) for c in input_cols], F.call_function(name, *fields).alias(result))
    return scored.select(*[F.col(c) for c in input_cols], *[F.col(f"{result}.{n}").alias(n) for n in RESULT_FIELDS])


def _register_jvm_kernel(spark: SparkSession, standard: Standard) -> str:
    """The SQL function name of ``standard``'s JVM kernel, registered in ``spark``: asked at each
    call (a few milliseconds, and never a name left over from a stopped session), registered once
    per session (the name is the digest of the kernel's spec)."""
    import hashlib

    spec = jvm_spec(standard)
    name = "c360_aqi_" + hashlib.sha256(spec.encode()).hexdigest()[:16]
    if spark.catalog.functionExists(name):
        return name  # registering it again would log Spark's "replaced a previously registered function"
    jvm = spark.sparkContext._jvm
    assert jvm is not None  # noqa: S101 - a live session has its gateway
    jvm.c360.aqi.AqiExpression.register(spark._jsparkSession, name, spec, _result_type().json())
    return name


def jvm_spec(standard: Standard) -> str:
    """``standard`` as the JVM kernel reads it (JSON): each field's bands as the scaled longs of
    :func:`c360.aqi.kernel._band_arrays`, its rules, and every note and error entry by code,
    from the texts the other paths use (:func:`c360.aqi.kernel._texts`)."""
    import json

    from c360.aqi.kernel import KINDS, NOTE_KINDS, _band_arrays, _texts

    texts = _texts(standard)
    names = standard.field_names()
    pollutants = standard.pollutants()
    fields = []
    for f, table in enumerate(standard.fields):
        lo, hi, ilo, ihi = _band_arrays(table)
        fields.append({
            "name": table.name,
            "decimals": table.decimals,
            "c_low": lo.tolist(), "c_high": hi.tolist(), "i_low": ilo.tolist(), "i_high": ihi.tolist(),
            "above": {"extrapolate": 0, "cap": 1, "defer": 2}[table.above],
            "defer_to": names.index(table.defer_to) if table.above == "defer" and table.defer_to else -1,
            "fallback": -1 if table.fallback is None else table.fallback,
            "pollutant": pollutants.index(table.pollutant),
            "notes": [texts.note_entries.get((f, code)) for code in range(len(NOTE_KINDS))],
            "errors": [texts.error_entries.get((f, code)) for code in range(len(KINDS))],
        })  # fmt: skip
    return json.dumps({
        "fields": fields,
        "order": [names.index(t.name) for t in standard.evaluation_order()],
        "pollutants": list(pollutants),
        "categories": [{"name": c.name, "color": c.color, "high": c.high} for c in standard.categories],
        "rounding": standard.index_rounding,
        "index_top": standard.index_top,
        "dominant_above": standard.dominant_above,
        "beyond": [None, "beyond_index", standard.beyond_message()],
        "no_pollutants": [None, "no_pollutants", NO_POLLUTANTS],
        "number_pattern": NUMBER_PATTERN,
        "non_finite_pattern": NON_FINITE_PATTERN,
        "negative_pattern": NEGATIVE_PATTERN,
    })  # fmt: skip


def _kernel_schema(df: DataFrame, standard: Standard) -> T.StructType:
    """``df``'s columns and the result columns, typed as :func:`calculate_df` types them."""
    from pyspark.sql import types as T

    _long_form(df, standard)  # the same refusal as the native path for a frame with no AQI input column
    kept = [f for f in df.schema.fields if f.name not in RESULT_FIELDS]
    return T.StructType([*kept, *_result_type().fields])


def _result_type() -> T.StructType:
    """The result columns' types: the native path's exactly, so that any path's frame can
    replace another's."""
    from pyspark.sql import types as T

    entry = T.ArrayType(T.StructType([T.StructField(n, T.StringType()) for n in ("field", "kind", "message")]))
    return T.StructType([
        T.StructField("aqi", T.LongType()),
        T.StructField("category", T.StringType()),
        T.StructField("color", T.StringType()),
        T.StructField("dominant_pollutant", T.ArrayType(T.StringType())),
        T.StructField("sub_indices", T.MapType(T.StringType(), T.LongType())),
        T.StructField("notes", entry),
        T.StructField("errors", entry),
        T.StructField("status", T.StringType()),
    ])  # fmt: skip
