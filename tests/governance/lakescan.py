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


# What a scan reads of a Parquet file, by its path in the lake, size and modification time
# (nanoseconds): Delta writes a new file rather than change one, and a copied lake (copy_lake
# keeps the files' times) holds the same files, so a later scan of the lake or of a copy reads
# only the files written since. A file changed in place has another time, and is read again.
_TEXTS: dict[tuple[str, int, int], str] = {}
_SEPARATOR = "\x00"  # between two values of a file's text: no needle holds it


def forget() -> None:
    """Drop what the scans remembered (the text of every file read so far)."""
    _TEXTS.clear()


def parquet_text(path: Path) -> str:
    """Every string a Parquet file holds, one after the other with a NUL between two: each
    value (nested ones too) of its non-numeric columns, and each column's statistics in its
    footer (``"min max"``). Integers, floats and times are left out."""
    parts: list[str] = []
    pf = pq.ParquetFile(path)
    meta = pf.metadata
    for rg in range(meta.num_row_groups):
        for ci in range(meta.num_columns):
            st = meta.row_group(rg).column(ci).statistics
            if st is not None and st.has_min_max:
                parts.append(f"{st.min!s} {st.max!s}")
    table = pf.read()
    for name in table.column_names:
        col = table[name]
        if pa.types.is_integer(col.type) or pa.types.is_floating(col.type) or pa.types.is_temporal(col.type):
            continue
        for value in col.to_pylist():
            parts.extend(_strings(value))
    return _SEPARATOR.join(parts)


def parquet_hits(path: Path, needles: list[str], rel: str | None = None) -> set[str]:
    """Needles found in a Parquet file: in any value (nested ones too), in the column
    statistics of its footer, or in its bytes. ``rel``: its path in the lake, to remember
    its text by (``_TEXTS``)."""
    if any(_SEPARATOR in n for n in needles):
        raise ValueError("a needle holds the separator of a file's values")
    found = {n for n in needles if n.encode() in path.read_bytes()}
    stat = path.stat()
    key = (rel or str(path), stat.st_size, stat.st_mtime_ns)
    text = _TEXTS.get(key)
    if text is None:
        text = _TEXTS[key] = parquet_text(path)
    return found | {n for n in needles if n in text}


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
            found = parquet_hits(path, wanted, rel)
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
