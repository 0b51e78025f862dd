"""Frames and files through the kernel: Arrow, pandas, Polars, Parquet and CSV.

Each kind comes back as itself: the input's columns (minus any old result columns) with the
result columns appended, in input order. Files are streamed batch by batch as an Arrow
``RecordBatchReader``, so a file larger than memory is fine. Values are read as text where
the format allows (CSV fields as strings), so the input's digits decide, not a float's.
"""

from __future__ import annotations

import csv
import json
import math
from collections import Counter
from collections.abc import Iterable, Iterator
from decimal import Decimal
from pathlib import Path
from typing import Any

import pyarrow as pa

from c360.aqi.core import RESULT_FIELDS
from c360.aqi.jsonio import arrow_text
from c360.aqi.kernel import RESULT_SCHEMA, evaluate_table, to_arrow
from c360.aqi.standards import Standard
from c360.aqi.validate import plain_number

FILE_FORMATS = ("jsonl", "json", "parquet", "csv")
_SUFFIX_FORMAT = {".jsonl": "jsonl", ".ndjson": "jsonl", ".json": "json", ".parquet": "parquet", ".csv": "csv"}
BATCH_ROWS = 65_536


def format_of(path: Path | str, given: str | None = None, *, output: bool = False) -> str:
    """The file format: ``given`` (``--format``), else by extension; JSON Lines if unknown.

    ``output``: a file to write, whose extension, if it has one, must name a format. Writing
    JSON Lines into ``results.xlsx`` would surprise whoever opens it."""
    if given:
        if given not in FILE_FORMATS:
            raise ValueError(f"unknown format {given!r}: one of {', '.join(FILE_FORMATS)}")
        return given
    suffix = Path(path).suffix.lower()
    if output and suffix and suffix not in _SUFFIX_FORMAT:
        raise ValueError(
            f"cannot tell the output format from {suffix!r}: name a {', '.join(_SUFFIX_FORMAT)} file, "
            f"or give the format ({', '.join(FILE_FORMATS)})"
        )
    return _SUFFIX_FORMAT.get(suffix, "jsonl")


def _input_columns(schema: pa.Schema) -> list[str]:
    return [c for c in schema.names if c not in RESULT_FIELDS]


def _read_columns(standard: Standard, names: Iterable[object]) -> set[str]:
    """The input columns the calculator reads; a frame with two of one name is refused (which
    one to read would be a guess; pandas and pyarrow raised errors of their own)."""
    fields = set(standard.field_names()) | {"pollutant", "value", "averaging", "unit"}
    seen = Counter(str(n) for n in names)
    twice = sorted(n for n, k in seen.items() if k > 1 and n in fields)
    if twice:
        raise ValueError(f"the frame has more than one column named {', '.join(twice)}: which one to read is unclear")
    return fields


def calculate_arrow(source: pa.Table | pa.RecordBatch, standard: Standard) -> pa.Table | pa.RecordBatch:
    """An Arrow table (or batch) -> a table (or batch): the same rows, result columns appended."""
    table = pa.Table.from_batches([source]) if isinstance(source, pa.RecordBatch) else source
    _read_columns(standard, table.schema.names)
    results = _results(table, standard)
    kept = table.select(_input_columns(table.schema))
    schema = pa.schema([*kept.schema, *RESULT_SCHEMA])
    out = pa.Table.from_arrays([*kept.columns, *results.columns], schema=schema)
    if isinstance(source, pa.RecordBatch):
        return out.combine_chunks().to_batches()[0] if out.num_rows else pa.RecordBatch.from_pylist([], schema=schema)
    return out


def _results(table: pa.Table, standard: Standard) -> pa.Table:
    """The result columns of a table, computed slice by slice as files are read: the kernel's
    per-row arrays then stay in the CPU caches (a 1M-row table in one piece ran at about half
    the speed of the same rows read from a file in batches)."""
    if table.num_rows <= BATCH_ROWS:
        return to_arrow(evaluate_table(table, standard))
    return pa.concat_tables(
        [to_arrow(evaluate_table(table.slice(i, BATCH_ROWS), standard)) for i in range(0, table.num_rows, BATCH_ROWS)]
    )


def calculate_reader(reader: pa.RecordBatchReader, standard: Standard) -> pa.RecordBatchReader:
    """A stream of batches -> a stream of result batches, computed as they are read."""
    kept = [reader.schema.field(c) for c in _input_columns(reader.schema)]
    schema = pa.schema([*kept, *RESULT_SCHEMA])

    def batches() -> Iterator[pa.RecordBatch]:
        for batch in reader:
            if batch.num_rows:
                yield calculate_arrow(batch, standard)  # type: ignore[misc]

    return pa.RecordBatchReader.from_batches(schema, batches())


def calculate_pandas(df: Any, standard: Standard) -> Any:
    """A pandas DataFrame -> a pandas DataFrame (its index kept; pandas' NaN is a missing value)."""
    import pandas as pd

    fields = _read_columns(standard, df.columns)
    columns = {}
    for name in df.columns:
        if name in fields:
            columns[str(name)] = _pandas_column(df[name])
    table = pa.table(columns)  # no AQI column at all: the kernel says which it expected
    results = _results(table, standard).to_pandas(
        maps_as_pydicts="strict", types_mapper={pa.int64(): pd.Int64Dtype()}.get
    )
    results.index = df.index
    kept = df[[c for c in df.columns if c not in RESULT_FIELDS]]
    return pd.concat([kept, results], axis=1)


def _pandas_column(series: Any) -> pa.Array:
    """A pandas column -> text values with the JSON path's meaning of each Python type."""
    if series.dtype != object:
        try:
            return pa.Array.from_pandas(series)  # numbers (NaN: missing), strings, booleans
        except UnicodeEncodeError:  # a string column holding a lone surrogate: value by value
            return pa.array([arrow_text(v) if isinstance(v, str) else None for v in series.tolist()], pa.string())
    import pandas as pd

    if pd.api.types.infer_dtype(series, skipna=True) == "string":
        try:
            # Text and None only (the usual object column) converts in one step; a NaN among
            # them is refused here and read value by value below, as anything else is.
            return pa.array(series.to_numpy(), pa.string(), from_pandas=False)
        except (pa.ArrowInvalid, pa.ArrowTypeError, UnicodeEncodeError):
            pass
    return pa.array([_as_text(v) for v in series.tolist()], pa.string())


def _as_text(value: object) -> str | None:
    value = plain_number(value)
    if value is None:
        return None
    if isinstance(value, float):
        return None if math.isnan(value) else repr(value)  # pandas' missing value
    if isinstance(value, bool):
        return "true" if value else "false"  # not a number, as in JSON
    if isinstance(value, (int, Decimal)):
        return str(value)
    if isinstance(value, str):
        return arrow_text(value)
    return "[object]"  # lists, dicts, dates: not a number


def calculate_polars(df: Any, standard: Standard) -> Any:
    """A Polars DataFrame -> a Polars DataFrame, through Arrow (zero copy where it can)."""
    import polars as pl

    return pl.from_arrow(calculate_arrow(df.to_arrow(), standard))  # type: ignore[arg-type]


def read_file(path: Path, fmt: str) -> pa.RecordBatchReader:
    """A Parquet or CSV file as a stream of batches (CSV: the standard's columns as text)."""
    if fmt == "parquet":
        import pyarrow.parquet as pq

        file = pq.ParquetFile(path)
        return pa.RecordBatchReader.from_batches(file.schema_arrow, file.iter_batches(batch_size=BATCH_ROWS))
    if fmt == "csv":
        import pyarrow.csv as pcsv

        # Every column as text: digits kept, and "12,5" an error rather than a guess. An empty
        # cell is a value not measured (CSV has no other way to say so).
        with path.open("rb") as fp:
            header = fp.readline().decode("utf-8-sig").rstrip("\r\n")
        names = next(csv.reader([header]), [])
        return pcsv.open_csv(
            path,
            read_options=pcsv.ReadOptions(block_size=1 << 22),
            convert_options=pcsv.ConvertOptions(
                column_types={n: pa.string() for n in names},
                strings_can_be_null=True,
                null_values=[""],
            ),
        )
    raise ValueError(f"not a frame file format: {fmt}")


def write_file(reader: pa.RecordBatchReader, out: Any, fmt: str) -> int:
    """Write result batches as Parquet, CSV or JSON Lines; return the number of rows."""
    rows = 0
    if fmt == "parquet":
        import pyarrow.parquet as pq

        with pq.ParquetWriter(out, reader.schema) as writer:
            for batch in reader:
                writer.write_batch(batch)
                rows += batch.num_rows
        return rows
    if fmt == "csv":
        import pyarrow.csv as pcsv

        # CSV has no nested types: lists and maps go out as JSON text.
        flat = _flat_schema(reader.schema)
        with pcsv.CSVWriter(out, flat) as writer:
            for batch in reader:
                writer.write_batch(_flatten(batch, flat))
                rows += batch.num_rows
        return rows
    raise ValueError(f"not a frame file format: {fmt}")


def _flat_schema(schema: pa.Schema) -> pa.Schema:
    return pa.schema([pa.field(f.name, pa.string()) if _nested(f.type) else f for f in schema])


def _nested(t: pa.DataType) -> bool:
    return pa.types.is_list(t) or pa.types.is_map(t) or pa.types.is_struct(t) or pa.types.is_large_list(t)


def _flatten(batch: pa.RecordBatch, flat: pa.Schema) -> pa.RecordBatch:
    arrays = []
    for field, column in zip(batch.schema, batch.columns, strict=True):
        if not _nested(field.type):
            arrays.append(column)
            continue
        values = column.to_pylist()
        if pa.types.is_map(field.type):
            values = [None if v is None else dict(v) for v in values]
        arrays.append(pa.array([None if v is None else json.dumps(v, ensure_ascii=False) for v in values], pa.string()))
    return pa.RecordBatch.from_arrays(arrays, schema=flat)


def json_lines(batch: pa.RecordBatch) -> Iterator[str]:
    """One JSON line per row of a result batch (maps as objects, as the JSON path writes)."""
    from c360.aqi.jsonio import dumps

    map_columns = [f.name for f in batch.schema if pa.types.is_map(f.type)]
    for row in batch.to_pylist():
        for name in map_columns:
            if row[name] is not None:
                row[name] = dict(row[name])
        yield dumps(row)


def records_reader(records: Iterator[dict[str, Any]], batch_rows: int = BATCH_ROWS) -> pa.RecordBatchReader:
    """JSON result records -> one Arrow table (in memory: JSON records share no schema up front).

    Input fields become text (numbers keep their digits; objects and arrays their JSON);
    result fields keep their types.
    """
    from c360.aqi.jsonio import dumps

    rows = list(records)
    names = list(dict.fromkeys(k for r in rows for k in r if k not in RESULT_FIELDS))
    columns = [
        pa.array(
            [None if (v := r.get(n)) is None else arrow_text(v) if isinstance(v, str) else dumps(v) for r in rows],
            pa.string(),
        )
        for n in names
    ]
    for field in RESULT_SCHEMA:
        values = [r[field.name] for r in rows]
        if pa.types.is_map(field.type):
            values = [list(v.items()) for v in values]
        columns.append(pa.array(values, field.type))
    table = pa.Table.from_arrays(
        columns, schema=pa.schema([*(pa.field(n, pa.string()) for n in names), *RESULT_SCHEMA])
    )
    return pa.RecordBatchReader.from_batches(table.schema, table.to_batches(max_chunksize=batch_rows))
