"""The Spark path: whole frames against expected frames, and identical to the JSON path."""

from __future__ import annotations

import json
import random
import sys
from decimal import Decimal
from pathlib import Path

import polars as pl
import pyarrow as pa
import pyarrow.csv as pcsv
import pyarrow.parquet as pq
import pytest
from chispa import assert_df_equality
from pyspark.sql import functions as F
from pyspark.sql import types as T

from c360.aqi import calculate, load_standard
from c360.aqi.core import RESULT_FIELDS, evaluate
from c360.aqi.spark import calculate_df, jvm_kernel_applies
from c360.aqi.validate import NO_POLLUTANTS

# Compiled, as calculate runs in a process c360 starts (the test session interprets expressions):
# the native path's generated code is what its plan limits (c360.spark, hugeMethodLimit) are for.
pytestmark = pytest.mark.usefixtures("compiled_expressions")

ENTRY = T.ArrayType(
    T.StructType(
        [
            T.StructField("field", T.StringType()),
            T.StructField("kind", T.StringType()),
            T.StructField("message", T.StringType()),
        ]
    )
)
RESULT_SCHEMA = [
    T.StructField("aqi", T.LongType()),
    T.StructField("category", T.StringType()),
    T.StructField("color", T.StringType()),
    T.StructField("dominant_pollutant", T.ArrayType(T.StringType())),
    T.StructField("sub_indices", T.MapType(T.StringType(), T.LongType())),
    T.StructField("notes", ENTRY),
    T.StructField("errors", ENTRY),
    T.StructField("status", T.StringType()),
]


def test_wide_dataframe_gets_result_columns(spark) -> None:
    schema = T.StructType(
        [
            T.StructField("station", T.StringType()),
            T.StructField("pm25_24h", T.StringType()),
            T.StructField("o3_8h", T.DoubleType()),
            T.StructField("so2_1h", T.LongType()),
        ]
    )
    df = spark.createDataFrame(
        [
            ("a", "35.45", None, None),
            ("b", "12,5", 0.205, None),
            ("c", None, None, 400),
            ("d", None, None, None),
        ],
        schema,
    )
    deferred = "o3_8h above 0.200 ppm: the standard defines no 8h sub-index and there is no o3_1h sub-index"
    fallback = "so2_1h above 304 ppb and no so2_24h sub-index: the index is 200"
    expected = spark.createDataFrame(
        [
            (
                "a", "35.45", None, None, 100, "Moderate", "#FFFF00", ["pm25"], {"pm25_24h": 100},
                [], [], "ok",
            ),
            (
                "b", "12,5", 0.205, None, None, None, None, [], {},
                [("o3_8h", "above_range", deferred)],
                [("pm25_24h", "non_numeric", "pm25_24h: not a number")],
                "invalid",
            ),
            (
                "c", None, None, 400, 200, "Unhealthy", "#FF0000", ["so2"], {"so2_1h": 200},
                [("so2_1h", "fallback", fallback)], [], "ok",
            ),
            (
                "d", None, None, None, None, None, None, [], {}, [],
                [(None, "no_pollutants", NO_POLLUTANTS)],
                "invalid",
            ),
        ],
        T.StructType(schema.fields + RESULT_SCHEMA),
    )  # fmt: skip
    assert_df_equality(calculate(df), expected, ignore_nullable=True)


def test_long_dataframe_converts_units(spark) -> None:
    df = spark.createDataFrame(
        [
            ("O3", "8-hour", "71", "ppb"),
            ("PM2.5", "24h", "0.0091", "mg/m³"),
            ("o3", "8h", "120", "ug/m3"),
            ("lead", "3mo", "1", None),
        ],
        "pollutant string, averaging string, value string, unit string",
    )
    rows = calculate(df).select("sub_indices", "errors").collect()
    assert [(r.sub_indices, [e.kind for e in r.errors]) for r in rows] == [
        ({"o3_8h": 101}, []),
        ({"pm25_24h": 51}, []),
        ({}, ["unit_not_convertible"]),
        ({}, ["unknown_field"]),
    ]


def _random_value(rng: random.Random, table) -> str | None:
    roll = rng.random()
    if roll < 0.25:
        return None
    if roll < 0.32:
        return rng.choice(["12,5", "NaN", "", "abc", "-3", "1e12", " 7 ", "-0", "inf", "+4.", ".5e1"])
    if roll < 0.55:  # a breakpoint, or one truncation step either side of it
        band = rng.choice(table.bands)
        edge = rng.choice([band.c_low, band.c_high]) + rng.choice([-1, 0, 0, 1]) * table.quantum
        return str(max(edge, Decimal(0)))
    top = float(table.high) * 1.6
    return f"{rng.uniform(0, top):.{rng.randint(0, table.decimals + 3)}f}"


def _random_records(n: int, standard, seed: int) -> list[dict]:
    rng = random.Random(seed)
    return [{"id": i, **{t.name: _random_value(rng, t) for t in standard.fields}} for i in range(n)]


def _as_jsonl(records: list[dict]) -> str:
    # Valid numbers as JSON numbers (parsed to Decimal), everything else as strings.
    def value(v: str | None) -> str:
        if v is not None and v.strip() == v and v[:1].isdigit() and v.replace(".", "").isdigit():
            return v
        return json.dumps(v)

    return "\n".join(
        "{" + ",".join(f'"{k}":{v if k == "id" else value(v)}' for k, v in r.items()) + "}" for r in records
    )


def _rows(rows: list[dict]) -> list[dict]:
    """Result rows of any kind in the Spark rows' shape (maps as dicts, arrays as lists)."""
    out = []
    for row in rows:
        entry = {k: row[k] for k in ("id", *RESULT_FIELDS)}
        for key in ("dominant_pollutant", "notes", "errors"):
            entry[key] = list(entry[key])
        if isinstance(entry["sub_indices"], list):
            entry["sub_indices"] = dict(entry["sub_indices"])
        entry["aqi"] = None if entry["aqi"] is None else int(entry["aqi"])
        entry["id"] = int(entry["id"])
        out.append(entry)
    return out


def _compare(spark, records: list[dict], standard_id: str, tmp: Path) -> None:
    standard = load_standard(standard_id)
    columns = ["id", *standard.field_names()]
    schema = "id long, " + ", ".join(f"{c} string" for c in standard.field_names())
    df = spark.createDataFrame([tuple(r[c] for c in columns) for r in records], schema)
    # calculate() computes a Spark frame with mapInArrow over the kernel (the default engine).
    from_spark = [
        {k: row[k] for k in ("id", *RESULT_FIELDS)}
        for row in (r.asDict(recursive=True) for r in calculate(df, standard_id).orderBy("id").collect())
    ]
    run = calculate(_as_jsonl(records), standard_id, workers=2, chunk_size=2500)
    from_json = [{k: r[k] for k in ("id", *RESULT_FIELDS)} for r in run]
    assert len(from_json) == len(records)
    diffs = [(s, j) for s, j in zip(from_spark, from_json, strict=True) if s != j]
    assert not diffs, f"{len(diffs)} records differ, first: {diffs[0]}"
    # Every other kind of input: the same records, the same results (invalid ones included).
    from_native = [
        {k: row[k] for k in ("id", *RESULT_FIELDS)}
        for row in (r.asDict(recursive=True) for r in calculate_df(df, standard).orderBy("id").collect())
    ]
    table = pa.table({c: pa.array([r[c] for r in records], pa.int64() if c == "id" else pa.string()) for c in columns})
    pq.write_table(table, tmp / "in.parquet")
    pcsv.write_csv(table, tmp / "in.csv")
    frame = calculate(table.to_pandas(), standard_id)
    scored_in_driver = calculate(df, standard_id, engine="local").orderBy("id").collect()
    from_local = [{k: r.asDict(recursive=True)[k] for k in ("id", *RESULT_FIELDS)} for r in scored_in_driver]
    assert jvm_kernel_applies(df, standard), "the session's driver does not load c360's jar"
    from_jvm = [
        {k: row[k] for k in ("id", *RESULT_FIELDS)}
        for row in (r.asDict(recursive=True) for r in calculate(df, standard_id, engine="jvm").orderBy("id").collect())
    ]
    kinds = {
        "spark jvm kernel": from_jvm,
        "spark native expressions": from_native,
        "spark scored in the driver": from_local,
        "arrow": _rows(calculate(table, standard_id).to_pylist()),
        "pandas": _rows(frame.astype(object).where(frame.notna(), None).to_dict("records")),
        "polars": _rows(calculate(pl.from_arrow(table), standard_id).to_dicts()),
        "parquet": _rows(calculate(tmp / "in.parquet", standard_id).read_all().to_pylist()),
    }
    for kind, rows in kinds.items():
        diffs = [(s, j) for s, j in zip(from_spark, rows, strict=True) if s != j]
        assert len(rows) == len(records) and not diffs, f"{kind}: {len(diffs)} records differ, first: {diffs[:1]}"
    # CSV cannot tell an empty string from a missing value; apart from those, identical too.
    from_csv = _rows(calculate(tmp / "in.csv", standard_id).read_all().to_pylist())
    diffs = [(s, j) for s, j, r in zip(from_spark, from_csv, records, strict=True) if s != j and "" not in r.values()]
    assert len(from_csv) == len(records) and not diffs, f"csv: {len(diffs)} records differ, first: {diffs[:1]}"
    # The sample exercises errors, notes and results alike.
    assert all(any(r[k] for r in from_json) for k in ("errors", "notes", "sub_indices"))
    assert run.counts.total == len(records)


def test_dataframe_path_equals_json_path_on_10000_random_records(spark, tmp_path: Path, monkeypatch) -> None:
    # mapInArrow's Python workers must import c360 and pyarrow: this interpreter (PYSPARK_PYTHON).
    monkeypatch.setattr(spark.sparkContext, "pythonExec", sys.executable)
    standard = load_standard("us-epa-2024")
    records = _random_records(10_000, standard, seed=6)
    assert len({json.dumps(r, sort_keys=True) for r in records}) == len(records)
    _compare(spark, records, "us-epa-2024", tmp_path)


def test_dataframe_path_equals_json_path_for_hj633(spark, tmp_path: Path, monkeypatch) -> None:
    monkeypatch.setattr(spark.sparkContext, "pythonExec", sys.executable)
    _compare(spark, _random_records(2_000, load_standard("cn-hj633-2012"), seed=633), "cn-hj633-2012", tmp_path)


def test_an_unknown_spark_engine_is_refused_with_the_known_ones(spark) -> None:
    df = spark.createDataFrame([("12.0",)], "pm25_24h string")
    with pytest.raises(ValueError, match="unknown Spark engine 'gpu': one of jvm, arrow, native, local"):
        calculate(df, "us-epa-2024", engine="gpu")  # type: ignore[arg-type]


# ----------------------------------------------------------------------------- the JVM kernel

# Texts where Java and Python could read differently: a final newline (Python's "$" allows it,
# Decimal ignores it), dotless and dotted i (re.IGNORECASE folds them), more digits than a long
# or a plain number holds, more decimals than 20, the DECIMAL(30, 20) limit either side.
JVM_HOSTILE = [
    "5\n", "5\n\n", "5\r", "nan\n", "\u0131nf", "\u0130NF", "Infinity", "-inf", "+0", "-0.0e5", "1e9999",
    "0000000000012.5", "1234567890", "999999999.999999999999", "12.345678901234567890123", "999999999.99999999999",
    "9999999999.99999999999", "999999999.999999999995", "1e-21", "0.000000000000000000005", "\u0665", "٣.5",
    "12.5 ", "  12.5", "1 2", "0x1A", "1_000", ".", "-", "+", "e5", "5e", "5.e3", " ", "\t5",
]  # fmt: skip


def _edges(table) -> list[Decimal]:
    q = table.quantum
    return [e + k * q for band in table.bands for e in (band.c_low, band.c_high) for k in (-1, 0, 1) if e + k * q >= 0]


@pytest.mark.parametrize("standard_id", ["us-epa-2024", "cn-hj633-2012"])
def test_jvm_kernel_equals_the_decimal_core_at_every_band_edge_and_on_hostile_text(spark, standard_id) -> None:
    standard = load_standard(standard_id)
    values = [(t.name, str(edge)) for t in standard.fields for edge in _edges(t)]
    values += [(t.name, text) for t in standard.fields[:2] for text in JVM_HOSTILE]
    values += [("o3_1h", "0.205"), ("pm25_24h", "35.45")]
    names = standard.field_names()
    rows = [(i, *[text if n == name else None for n in names]) for i, (name, text) in enumerate(values)]
    df = spark.createDataFrame(rows, "id long, " + ", ".join(f"{n} string" for n in names))
    assert jvm_kernel_applies(df, standard)
    got = [r.asDict(recursive=True) for r in calculate(df, standard, engine="jvm").orderBy("id").collect()]
    for (name, text), row in zip(values, got, strict=True):
        expected = evaluate({name: text}, standard)
        assert {k: row[k] for k in RESULT_FIELDS} == {k: expected[k] for k in RESULT_FIELDS}, (name, text)
    assert len(values) > 150


def test_jvm_engine_reads_integers_and_hands_other_frames_to_the_arrow_engine(spark, monkeypatch) -> None:
    monkeypatch.setattr(spark.sparkContext, "pythonExec", sys.executable)
    standard = load_standard("us-epa-2024")
    integers = spark.createDataFrame(
        [(1, 35, None), (2, 0, 100), (3, None, None)], "id long, pm10_24h int, so2_1h long"
    )
    floats = spark.createDataFrame([(1, 35.45), (2, 9.05)], "id long, pm25_24h float")
    long_form = spark.createDataFrame([(1, "pm25", "24h", "35.45", "ug/m3")], "id long, pollutant string, "
                                      "averaging string, value string, unit string")  # fmt: skip
    assert jvm_kernel_applies(integers, standard)
    assert not jvm_kernel_applies(floats, standard) and not jvm_kernel_applies(long_form, standard)
    for df in (integers, floats, long_form):
        jvm = calculate(df, standard, engine="jvm").orderBy("id")
        arrow = calculate(df, standard, engine="arrow").orderBy("id")
        assert jvm.schema == arrow.schema
        assert jvm.collect() == arrow.collect()
    expected = [
        evaluate({"pm10_24h": a, "so2_1h": b}, standard)["aqi"] for a, b in (("35", None), ("0", "100"), (None, None))
    ]
    assert [r.aqi for r in calculate(integers, standard, engine="jvm").orderBy("id").collect()] == expected


def test_jvm_kernel_reads_doubles_and_decimals_as_the_python_kernel_does(spark, monkeypatch) -> None:
    """Doubles through their shortest repr (without making it where the double's arithmetic
    gives the same), decimals exactly: of every magnitude, one step either side, NaN and the
    infinities, negative zero, any bit pattern; decimals of every scale, negative and huge."""
    import numpy as np

    monkeypatch.setattr(spark.sparkContext, "pythonExec", sys.executable)
    standard = load_standard("us-epa-2024")
    rng = np.random.default_rng(23)
    doubles = np.concatenate([
        rng.uniform(0, 600, 500), np.round(rng.uniform(0, 300, 500), 1), np.round(rng.uniform(0, 1, 500), 3),
        10.0 ** rng.uniform(-25, 10, 500), rng.integers(0, 2000, 200).astype(float),
        np.frombuffer(rng.integers(0, 2**63, 300, dtype=np.int64).tobytes(), np.float64),
        [0.205, 35.45, 0.0, -0.0, 1e-7, 5e-324, 0.1, 9.05, 1e6, 999999.9999999999, np.nan, np.inf, -np.inf, -1.5,
         1 - 2**-53, 1000000.1, 2.0**30, 2.0**20 - 2**-33, 123456789.123, 5e8, 1e9, 1e300],
    ])  # fmt: skip
    with np.errstate(invalid="ignore"):
        doubles = np.concatenate([doubles, np.nextafter(doubles, np.inf), np.nextafter(doubles, -np.inf)])
    decimals = [Decimal(str(round(float(v), 6))) for v in rng.uniform(0, 600, 300)] + [
        Decimal(v)
        for v in (
            "0",
            "-0.000",
            "-0.000001",
            "35.449999",
            "35.450000",
            "0.2049999",
            "999999999.999999",
            "1000000000.000000",
            "123456789012.5",
        )  # fmt: skip
    ]
    names = [t.name for t in standard.fields]
    rows = [(i, *[float(d)] * len(names), decimals[i % len(decimals)]) for i, d in enumerate(doubles.tolist())]
    schema = "id long, " + ", ".join(f"{n} double" for n in names) + ", dec decimal(21, 6)"
    numbers = spark.createDataFrame(rows, schema)
    # The doubles in every field (each table truncates them to its own decimals), then the decimals.
    for df in (numbers.drop("dec"), numbers.select("id", *[F.col("dec").alias(n) for n in names])):
        assert jvm_kernel_applies(df, standard)
        # The results only: an input NaN is unequal to itself.
        jvm, arrow = (
            calculate(df, standard, engine=engine).orderBy("id").select("id", *RESULT_FIELDS).collect()
            for engine in ("jvm", "arrow")
        )
        differ = [(a, b) for a, b in zip(jvm, arrow, strict=True) if a != b]
        assert len(jvm) == len(rows) and not differ, f"{len(differ)} rows differ, first: {differ[:1]}"


def test_jvm_kernel_runs_in_spark_s_generated_code_as_it_runs_interpreted(spark, monkeypatch) -> None:
    """The JVM kernel is an expression of Spark's plans (c360/jvm/AqiExpression.java): compiled into
    Spark's whole-stage code, with no fallback to interpreted expressions allowed, it gives what its
    interpreted evaluation and the Arrow engine give, for texts, integers, doubles, decimals and
    absent fields (one column of each)."""
    from c360.spark import CODEGEN_FACTORY_MODE

    monkeypatch.setattr(spark.sparkContext, "pythonExec", sys.executable)
    standard = load_standard("us-epa-2024")
    records = _random_records(3000, standard, seed=41)

    def number(text: str | None) -> float | None:
        try:
            return float(text) if text is not None else None
        except ValueError:
            return None

    rows = [
        (r["id"], r["pm25_24h"], int(r["so2_1h"]) if (r["so2_1h"] or "").isdigit() else None, number(r["o3_8h"]),
         number(r["co_8h"]), r["no2_1h"])
        for r in records
    ]  # fmt: skip
    df = spark.createDataFrame(rows, "id long, pm25_24h string, so2_1h int, o3_8h double, co_8h double, no2_1h string")
    df = df.withColumn("co_8h", F.col("co_8h").cast("decimal(12, 3)"))
    assert jvm_kernel_applies(df, standard)

    def scored(mode: str, fallback: str) -> tuple[list, str]:
        before = {k: spark.conf.get(k, None) for k in (CODEGEN_FACTORY_MODE, "spark.sql.codegen.fallback")}
        spark.conf.set(CODEGEN_FACTORY_MODE, mode)
        spark.conf.set("spark.sql.codegen.fallback", fallback)
        try:
            # No sort in the plan: adaptive execution would hide its stages from codegenString.
            out = calculate(df, standard, engine="jvm").select("id", *RESULT_FIELDS)
            got = sorted(out.collect(), key=lambda r: r.id)
            plan = out._jdf.queryExecution().executedPlan()
            return got, spark.sparkContext._jvm.org.apache.spark.sql.execution.debug.package.codegenString(plan)
        finally:
            for key, value in before.items():
                if value is None:
                    spark.conf.unset(key)
                else:
                    spark.conf.set(key, value)

    compiled, code = scored("CODEGEN_ONLY", "false")
    assert "aqiKernel" in code and ".evaluate(" in code, "the kernel is not in Spark's generated code"
    interpreted, _ = scored("NO_CODEGEN", "true")
    arrow = calculate(df, standard, engine="arrow").orderBy("id").select("id", *RESULT_FIELDS).collect()
    assert len(compiled) == len(rows)
    for kind, other in (("interpreted", interpreted), ("arrow", arrow)):
        differ = [(a, b) for a, b in zip(compiled, other, strict=True) if a != b]
        assert not differ, f"{kind}: {len(differ)} rows differ, first: {differ[:1]}"
    # Every kind of field gave results, errors and notes somewhere.
    for name in ("pm25_24h", "so2_1h", "o3_8h", "co_8h", "no2_1h"):
        assert any(name in r.sub_indices for r in compiled), name
    assert any(r.errors for r in compiled) and any(r.notes for r in compiled)
