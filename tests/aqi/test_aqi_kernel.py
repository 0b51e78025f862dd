"""The integer kernel against the decimal core, and every input kind through the one interface.

The decimal core (c360.aqi.core) is the reference: exact by construction, checked against
the TAD's tables in test_aqi_core.py. Here hypothesis draws records around every breakpoint
(at it, one unit of the last decimal either side, values with more digits than the table,
values binary floats cannot hold) and odd text, and the kernel must agree field for field.
No Spark: these run without the lock.
"""

from __future__ import annotations

import json
from decimal import ROUND_FLOOR, Decimal
from pathlib import Path

import pandas as pd
import polars as pl
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from c360.aqi import calculate, load_standard
from c360.aqi.core import RESULT_FIELDS, evaluate
from c360.aqi.jsonio import evaluate_records
from c360.aqi.kernel import KINDS
from c360.aqi.standards import FieldTable, Standard
from c360.aqi.validate import NO_POLLUTANTS

STANDARDS = [load_standard("us-epa-2024"), load_standard("cn-hj633-2012")]
ODD = ["12,5", "NaN", "", "abc", "-3", "1e12", " 7 ", "-0", "inf", "+4.", ".5e1", "0.0549999999999999999999",
       "1e-3", "9999999999", "99999999999", "-0.000", "5.", "0.20500000000000000001", "1E2", "1e99999"]  # fmt: skip


def _edges(table: FieldTable) -> list[Decimal]:
    q = table.quantum
    return [e + k * q for band in table.bands for e in (band.c_low, band.c_high) for k in (-1, 0, 1) if e + k * q >= 0]


@st.composite
def value_for(draw: st.DrawFn, table: FieldTable) -> object:
    kind = draw(st.sampled_from(["edge", "edge_digits", "random", "odd", "none", "float", "int"]))
    if kind == "none":
        return None
    if kind == "odd":
        return draw(st.sampled_from(ODD))
    if kind in ("edge", "edge_digits"):
        edge = draw(st.sampled_from(_edges(table)))
        if kind == "edge_digits":  # extra digits below the truncation step: truncated away
            extra = draw(st.integers(0, 10**6 - 1))
            return f"{edge}{'' if table.decimals else '.'}{extra:06d}"
        return str(edge)
    if kind == "int":
        return draw(st.integers(0, int(table.high) * 3 + 1))
    top = float(table.high) * 1.7
    number = draw(st.floats(0, top, allow_nan=False, allow_infinity=False))
    if kind == "float":
        return number  # a binary float: its shortest repr decides, as in the JSON path
    return f"{number:.{draw(st.integers(0, table.decimals + 4))}f}"


@st.composite
def wide_records(draw: st.DrawFn, standard: Standard) -> list[dict]:
    n = draw(st.integers(1, 30))
    return [{t.name: draw(value_for(t)) for t in standard.fields} for _ in range(n)]


def _reference(records: list[dict], standard: Standard) -> list[dict]:
    return [{k: evaluate(r, standard)[k] for k in RESULT_FIELDS} for r in records]


@pytest.mark.parametrize("standard", STANDARDS, ids=lambda s: s.id)
@settings(max_examples=80, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(data=st.data())
def test_kernel_equals_the_decimal_core_on_random_wide_records(standard: Standard, data: st.DataObject) -> None:
    records = data.draw(wide_records(standard))
    assert evaluate_records(records, standard) == _reference(records, standard)


@st.composite
def long_records(draw: st.DrawFn) -> list[dict]:
    standard = STANDARDS[0]
    rows = []
    for _ in range(draw(st.integers(1, 20))):
        table = draw(st.sampled_from(standard.fields))
        pollutant = draw(st.sampled_from([table.pollutant, table.pollutant.upper(), "PM2.5", "xx"]))
        averaging = draw(st.sampled_from([table.averaging, table.averaging.replace("h", "-hour"), "", None]))
        unit = draw(st.sampled_from([None, "", table.unit, "ppb", "ppm", "ug/m3", "µg/m³", "mg/m3", "furlongs"]))
        rows.append({"pollutant": pollutant, "averaging": averaging, "value": draw(value_for(table)), "unit": unit})
    return rows


@settings(max_examples=80, deadline=None)
@given(records=long_records())
def test_kernel_equals_the_decimal_core_on_long_records_with_units(records: list[dict]) -> None:
    assert evaluate_records(records, STANDARDS[0]) == _reference(records, STANDARDS[0])


@pytest.mark.parametrize("standard", STANDARDS, ids=lambda s: s.id)
def test_every_breakpoint_and_one_step_either_side_for_every_field(standard: Standard) -> None:
    records = [{t.name: str(edge)} for t in standard.fields for edge in _edges(t)]
    records += [{"o3_1h": "0.205"}, {"o3_1h": 0.205}, {"pm25_24h": 35.45}, {"pm25_24h": "35.45"}]
    got = evaluate_records(records, standard)
    assert got == _reference(records, standard)
    if standard.id == "us-epa-2024":
        assert got[-4]["aqi"] == got[-3]["aqi"] == 201  # 0.205 is 0.20499... as a double
        assert got[-2]["aqi"] == got[-1]["aqi"] == 100  # 35.45 truncates to 35.4, the top of 51-100
    assert len(records) > 100


# ----------------------------------------------------------------------------- one interface, every kind

BAD = ["abc", "", "NaN", "-1", "1e12", "12,5", "inf", " 35.45 "]


def _results(rows: list[dict]) -> list[dict]:
    out = []
    for r in rows:
        entry = {k: r[k] for k in RESULT_FIELDS}
        if isinstance(entry["sub_indices"], list):  # Arrow maps read back as pairs
            entry["sub_indices"] = dict(entry["sub_indices"])
        out.append(json.loads(json.dumps(entry, default=list)))
    return out


def test_every_kind_comes_back_as_its_own_kind_with_the_same_results(tmp_path: Path) -> None:
    records = [{"station": f"S{i}", "pm25_24h": v, "o3_8h": "0.071"} for i, v in enumerate([*BAD, "9.05", None])]
    expected = _results([{**r, **evaluate(r, STANDARDS[0])} for r in records])

    frame = pd.DataFrame(records, index=pd.RangeIndex(10, 10 + len(records)))
    out_pd = calculate(frame)
    assert isinstance(out_pd, pd.DataFrame) and list(out_pd.index) == list(frame.index)
    assert list(out_pd.columns) == ["station", "pm25_24h", "o3_8h", *RESULT_FIELDS]
    rows = out_pd.astype(object).where(out_pd.notna(), None).to_dict("records")
    for row in rows:
        for key in ("dominant_pollutant", "notes", "errors"):
            row[key] = list(row[key])
    assert _results(rows) == expected

    table = pa.Table.from_pylist(records)
    out_pa = calculate(table)
    assert isinstance(out_pa, pa.Table) and out_pa.column("station").to_pylist() == [r["station"] for r in records]
    assert _results(out_pa.to_pylist()) == expected

    out_pl = calculate(pl.from_arrow(table))
    assert isinstance(out_pl, pl.DataFrame) and out_pl["station"].to_list() == [r["station"] for r in records]
    assert _results(out_pl.to_dicts()) == expected

    batch = table.to_batches()[0]
    out_batch = calculate(batch)
    assert isinstance(out_batch, pa.RecordBatch)
    assert _results(out_batch.to_pylist()) == expected

    reader = pa.RecordBatchReader.from_batches(table.schema, table.to_batches(max_chunksize=3))
    out_reader = calculate(reader)
    assert isinstance(out_reader, pa.RecordBatchReader)
    assert _results(out_reader.read_all().to_pylist()) == expected

    pq.write_table(table, tmp_path / "in.parquet")
    out_pq = calculate(tmp_path / "in.parquet")
    assert _results(out_pq.read_all().to_pylist()) == expected

    run = calculate(records, workers=1)
    assert _results(list(run)) == expected


def test_the_same_bad_value_gives_the_same_error_in_every_kind(tmp_path: Path) -> None:
    csv = tmp_path / "in.csv"
    csv.write_text("id,pm25_24h\n" + "\n".join(f"{i},{json.dumps(v) if ',' in v else v}" for i, v in enumerate(BAD)))
    from_csv = [r["errors"] for r in calculate(str(csv)).read_all().to_pylist()]
    from_json = [r["errors"] for r in calculate("\n".join(json.dumps({"pm25_24h": v}) for v in BAD), workers=1)]
    from_pandas = [list(e) for e in calculate(pd.DataFrame({"pm25_24h": BAD}))["errors"]]
    from_polars = calculate(pl.DataFrame({"pm25_24h": BAD}))["errors"].to_list()
    from_decimal = [evaluate({"pm25_24h": v}, STANDARDS[0])["errors"] for v in BAD]
    # CSV has no empty string: an empty cell is "not measured", the one documented difference.
    empty = BAD.index("")
    assert from_csv[empty] == [{"field": None, "kind": "no_pollutants", "message": NO_POLLUTANTS}]
    del from_csv[empty]
    assert from_json == from_pandas == from_polars == from_decimal
    assert from_csv == [e for i, e in enumerate(from_decimal) if i != empty]
    assert [e[0]["kind"] for e in from_decimal if e] == [
        "non_numeric", "empty", "not_finite", "negative", "out_of_range", "non_numeric", "not_finite",
    ]  # fmt: skip


def test_pandas_numbers_nan_is_missing_and_floats_keep_their_shortest_digits() -> None:
    out = calculate(pd.DataFrame({"o3_1h": [0.205, float("nan")], "pm25_24h": [35.45, 9.05]}))
    # 0.205 ppm is not 0.20499... (201, not 200); NaN is a missing value; 9.05 truncates to 9.0 (50)
    assert out["aqi"].tolist() == [201, 50]
    assert list(out["errors"][1]) == []


def test_a_frame_without_aqi_columns_is_refused_with_what_was_expected() -> None:
    with pytest.raises(ValueError, match="no AQI input columns"):
        calculate(pd.DataFrame({"station": ["A"]}))
    with pytest.raises(ValueError, match="no AQI input columns"):
        calculate(pa.table({"station": ["A"]}))


def test_cli_converts_between_every_file_format(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from typer.testing import CliRunner

    from c360.cli import app

    source = tmp_path / "in.jsonl"
    source.write_text('{"station": "A", "pm25_24h": 35.45}\n{"station": "B", "pm25_24h": "x"}\nbroken\n')
    runner = CliRunner()
    for out_name in ("a.parquet", "b.csv", "c.jsonl"):
        result = runner.invoke(app, ["aqi", "compute", str(source), "-o", str(tmp_path / out_name)])
        assert result.exit_code == 0, result.output
        assert "records: 3  ok: 1  invalid: 2  failed: 0" in result.output
    assert pq.read_table(tmp_path / "a.parquet").column("aqi").to_pylist() == [100, None, None]
    result = runner.invoke(app, ["aqi", "compute", str(tmp_path / "a.parquet"), "-o", str(tmp_path / "d.csv")])
    assert result.exit_code == 0, result.output
    text = (tmp_path / "d.csv").read_text()
    assert text.splitlines()[0].startswith('"station","pm25_24h","_raw","aqi"')  # the broken line's echo
    assert text.splitlines()[1].startswith('"A","35.45",,100,"Moderate"')
    result = runner.invoke(app, ["aqi", "compute", str(tmp_path / "b.csv"), "--output-format", "parquet"])
    assert result.exit_code != 0 and "needs --output" in result.output
    result = runner.invoke(app, ["aqi", "compute", str(source), "--format", "xml"])
    assert result.exit_code != 0 and "unknown format" in result.output
    # An output named for a format c360 does not write is refused, not filled with JSON Lines.
    result = runner.invoke(app, ["aqi", "compute", str(source), "-o", str(tmp_path / "e.xlsx")])
    assert result.exit_code != 0 and "cannot tell the output format from '.xlsx'" in result.output
    # '-' is stdout, as INPUT '-' is stdin (it wrote a file named '-')
    monkeypatch.chdir(tmp_path)
    result = runner.invoke(app, ["aqi", "compute", str(source), "-o", "-"])
    assert result.exit_code == 0 and result.stdout.count('"status"') == 3 and not (tmp_path / "-").exists()
    assert not (tmp_path / "e.xlsx").exists()
    for name, fmt in (("f", []), ("g.xlsx", ["--output-format", "csv"])):  # no extension: JSON Lines
        result = runner.invoke(app, ["aqi", "compute", str(source), "-o", str(tmp_path / name), *fmt])
        assert result.exit_code == 0, result.output
    assert (tmp_path / "f").read_text().splitlines()[0].startswith('{"station": "A"')
    assert (tmp_path / "g.xlsx").read_text().startswith('"station"')


# ----------------------------------------------------------------------------- column encodings


@pytest.fixture(params=["per_distinct_value", "per_row"])
def slots(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> str:
    """The kernel parses a column once per distinct value when it repeats its values, else row
    by row (judged on a sample); both must give the decimal core's results."""
    from c360.aqi import kernel

    if request.param == "per_row":
        monkeypatch.setattr(kernel, "DISTINCT_SAMPLE", 0)  # every column judged as not repeating
    return str(request.param)


def _column_kinds(values: list[object]) -> dict[str, pa.Array]:
    text = pa.array([None if v is None else str(v) for v in values], pa.string())
    return {
        "string": text,
        "large_string": text.cast(pa.large_string()),
        "dictionary": text.dictionary_encode(),
        "decimal": pa.array([None if v is None else Decimal(str(v)) for v in values], pa.decimal128(30, 12)),
        "float64": pa.array([None if v is None else float(v) for v in values], pa.float64()),
    }


@pytest.mark.parametrize("standard", STANDARDS, ids=lambda s: s.id)
def test_every_breakpoint_in_every_arrow_column_type(standard: Standard, slots: str) -> None:
    """Band edges, one step either side, and values floats cannot hold (0.205, 35.45) as text,
    dictionary, decimal and float columns: each gives the decimal core's result for the same
    value (a float column: for the float, whose shortest repr decides)."""
    for table in standard.fields:
        values: list[object] = [*(str(e) for e in _edges(table)), "0.205", "35.45", None, "35.45", "0.205"]
        for kind, column in _column_kinds(values).items():
            got = _results(calculate(pa.table({table.name: column}), standard).to_pylist())
            python = column.to_pylist()
            expected = _results([{table.name: v, **evaluate({table.name: v}, standard)} for v in python])
            assert got == expected, (table.name, kind, slots)


def test_bad_values_give_the_same_errors_in_every_column_encoding(slots: str) -> None:
    values = [*BAD, *ODD, None, "9.05", "9.05", "abc"]
    expected = [evaluate({"pm25_24h": v}, STANDARDS[0])["errors"] for v in values]
    text = pa.array(values, pa.string())
    for column in (text, text.dictionary_encode(), text.cast(pa.large_string())):
        got = calculate(pa.table({"pm25_24h": column}), STANDARDS[0]).column("errors").to_pylist()
        assert got == expected, slots
    # A pandas object column: text alone converts at once; a mix is read value by value.
    mixed = [*values, 12, 3.5, float("nan"), True, b"12", [1]]
    frame = calculate(pd.DataFrame({"pm25_24h": pd.Series(mixed, dtype=object)}), STANDARDS[0])
    not_a_number = [{"field": "pm25_24h", "kind": "non_numeric", "message": "pm25_24h: not a number"}]
    reference = [evaluate({"pm25_24h": v}, STANDARDS[0])["errors"] for v in mixed[:-4]]
    missing = evaluate({"pm25_24h": None}, STANDARDS[0])["errors"]  # NaN: pandas' missing value
    reference += [missing, not_a_number, not_a_number, not_a_number]  # bytes are not text
    assert [[dict(x) for x in e] for e in frame["errors"]] == reference


def test_kernel_equals_the_decimal_core_row_by_row_too(slots: str) -> None:
    records = [{t.name: str(e) for t in STANDARDS[0].fields} for e in _edges(STANDARDS[0].field("pm25_24h"))]
    records += [{"pm25_24h": v} for v in ODD]
    assert evaluate_records(records, STANDARDS[0]) == _reference(records, STANDARDS[0])


def test_doubles_read_without_text_equal_their_shortest_repr_read_as_text() -> None:
    """A float64 column is read from the doubles (no repr per value): floor(x * 10**9) must be
    what parse_number makes of the shortest repr, for doubles of every magnitude, one step
    either side of each, the 0.205-like values, and any bit pattern."""
    import numpy as np

    from c360.aqi.kernel import _parse_float
    from c360.aqi.validate import parse_number

    rng = np.random.default_rng(17)
    values = np.concatenate([
        rng.uniform(0, 600, 3000), np.round(rng.uniform(0, 300, 3000), 1), np.round(rng.uniform(0, 1, 3000), 3),
        10.0 ** rng.uniform(-25, 10, 3000), rng.integers(0, 2000, 1000).astype(float),
        np.frombuffer(rng.integers(0, 2**63, 1000, dtype=np.int64).tobytes(), np.float64),
        [0.205, 35.45, 0.0, -0.0, 1e-7, 5e-324, 0.1, 9.05, 1e6, 999999.9999999999, np.nan, np.inf, -1.5, 1 - 2**-53],
    ])  # fmt: skip
    with np.errstate(invalid="ignore"):
        values = np.concatenate([values, np.nextafter(values, np.inf), np.nextafter(values, -np.inf)])
    present, y, fast, exact, kind = _parse_float(pa.array(values))
    assert fast.mean() > 0.5  # the point: most values never become text
    for i, value in enumerate(values.tolist()):
        number, error_kind = parse_number(value)
        if error_kind is not None:
            assert (bool(fast[i]), KINDS[kind[i]]) == (False, error_kind), value
            continue
        expected = int(number.scaleb(9).to_integral_value(rounding=ROUND_FLOOR))
        got = int(y[i]) if fast[i] else int(exact[i].scaleb(9).to_integral_value(rounding=ROUND_FLOOR))
        assert (got, int(kind[i])) == (expected, 0), value


def test_a_large_table_computed_in_slices_equals_the_kernel_on_the_whole_table() -> None:
    # Frames over BATCH_ROWS rows go through the kernel slice by slice; the slice edges must not show.
    from c360.aqi.frames import BATCH_ROWS
    from c360.aqi.kernel import evaluate_table, to_arrow

    standard = STANDARDS[0]
    values = [*ODD, None, "35.45", "0.205", "12.1", "500.4", "0.071"]
    n = 2 * BATCH_ROWS + 123
    table = pa.table({name: pa.array([values[(i * (f + 3)) % len(values)] for i in range(n)], pa.string())
                      for f, name in enumerate(standard.field_names())})  # fmt: skip
    expected = to_arrow(evaluate_table(table, standard))
    out = calculate(table, standard)
    assert out.select(list(RESULT_FIELDS)).equals(expected)
    batch = calculate(table.combine_chunks().to_batches()[0], standard)
    assert isinstance(batch, pa.RecordBatch) and pa.table(batch).select(list(RESULT_FIELDS)).equals(expected)
