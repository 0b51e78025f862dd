"""Look for values in a lake without c360: every Parquet file (data of any version, and
checkpoints) read with pyarrow, plus a byte search of every other file (Delta logs, Data
Docs, lineage events).

Deliberately independent of the code under test: it walks folders, not Delta logs, so
files an old version still points at, or nothing points at, are searched too.
"""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq


def _strings(value: object) -> Iterable[str]:
    if value is None:
        return
    if isinstance(value, dict):
        for v in value.values():
            yield from _strings(v)
    elif isinstance(value, list | tuple):
        for v in value:
            yield from _strings(v)
    else:
        yield str(value)


def parquet_hits(path: Path, needles: list[str]) -> set[str]:
    """Needles found in a Parquet file: in any value (nested ones too), in the column
    statistics of its footer, or in its bytes."""
    found = {n for n in needles if n.encode() in path.read_bytes()}
    pf = pq.ParquetFile(path)
    meta = pf.metadata
    for rg in range(meta.num_row_groups):
        for ci in range(meta.num_columns):
            st = meta.row_group(rg).column(ci).statistics
            if st is not None and st.has_min_max:
                text = f"{st.min!s} {st.max!s}"
                found |= {n for n in needles if n in text}
    table = pf.read()
    for name in table.column_names:
        col = table[name]
        if pa.types.is_integer(col.type) or pa.types.is_floating(col.type) or pa.types.is_temporal(col.type):
            continue
        for value in col.to_pylist():
            for s in _strings(value):
                for n in needles:
                    if n in s:
                        found.add(n)
    return found


def scan_lake(root: Path, needles: Iterable[str]) -> dict[str, set[str]]:
    """{file relative to root: needles found} over every file: Parquet files read with pyarrow,
    every other file (Delta logs, Data Docs HTML, lineage events, ...) searched as bytes."""
    wanted = [n for n in needles if n]
    hits: dict[str, set[str]] = {}
    for path in sorted(root.rglob("*")):
        if not path.is_file():
            continue
        rel = path.relative_to(root).as_posix()
        if path.suffix == ".parquet":
            found = parquet_hits(path, wanted)
        else:
            data = path.read_bytes()
            found = {n for n in wanted if n.encode() in data}
        if found:
            hits[rel] = found
    return hits


def int_hits(root: Path, column: str, values: set[int]) -> dict[str, int]:
    """{Parquet file: rows} whose integer ``column`` holds one of ``values``."""
    out: dict[str, int] = {}
    for path in sorted(root.rglob("*.parquet")):
        if "_delta_log" in path.parts:
            continue
        pf = pq.ParquetFile(path)
        if column not in pf.schema_arrow.names:
            continue
        n = sum(1 for v in pf.read(columns=[column])[column].to_pylist() if v in values)
        if n:
            out[path.relative_to(root).as_posix()] = n
    return out
