"""Delta file statistics from the Parquet footers Spark wrote (no data is re-read).

Stats drive data skipping in every Delta reader, and the null counts double as the
check of NOT NULL columns. Bounds are only written where they are exact: strings
longer than 32 characters, decimals, floats with NaN and nested columns get none;
timestamps are widened to whole milliseconds (Delta's stats precision). Columns left
out by ``delta.dataSkippingStatsColumns`` (PII) never get bounds.
"""

from __future__ import annotations

import bisect
import datetime as dt
import json
import math
from collections.abc import Collection, Mapping, Sequence
from pathlib import Path
from typing import Any
from urllib.parse import unquote

import pyarrow as pa
import pyarrow.parquet as pq
from deltalake import DeltaTable

_MAX_STRING_STAT = 32


def _ms_floor(ts: dt.datetime) -> dt.datetime:
    return ts.replace(microsecond=ts.microsecond // 1000 * 1000)


def _ms_ceil(ts: dt.datetime) -> dt.datetime:
    floor = _ms_floor(ts)
    return floor if floor == ts else floor + dt.timedelta(milliseconds=1)


def _iso(ts: dt.datetime) -> str:
    if ts.tzinfo is not None:
        ts = ts.astimezone(dt.UTC).replace(tzinfo=None)
    return ts.strftime("%Y-%m-%dT%H:%M:%S.") + f"{ts.microsecond // 1000:03d}Z"


def _bound(value: Any, upper: bool) -> Any:
    """A JSON-able exact bound, or None when no exact bound can be given."""
    if isinstance(value, bool) or value is None:
        return None
    if isinstance(value, int):
        return value
    if isinstance(value, float):
        return None if math.isnan(value) or math.isinf(value) else value
    if isinstance(value, str):
        return value if len(value) <= _MAX_STRING_STAT else None
    if isinstance(value, dt.datetime):
        return _iso(_ms_ceil(value) if upper else _ms_floor(value))
    if isinstance(value, dt.date):
        return value.isoformat()
    return None


def file_stats(path: Path, columns: Collection[str], bounded: Collection[str]) -> tuple[int, str, dict[str, int]]:
    """(row count, stats JSON, null counts) of one Parquet file for the given top-level columns."""
    meta = pq.ParquetFile(path).metadata
    nulls: dict[str, int] = {}
    mins: dict[str, Any] = {}
    maxs: dict[str, Any] = {}
    no_bound: set[str] = set()
    for rg in range(meta.num_row_groups):
        group = meta.row_group(rg)
        for ci in range(group.num_columns):
            col = group.column(ci)
            name = col.path_in_schema
            if name not in columns:
                continue  # nested leaf ("a.b.list.element"): no stats
            st = col.statistics
            if st is None or not st.has_null_count:
                no_bound.add(name)
                nulls.setdefault(name, -1)
                continue
            if nulls.get(name, 0) >= 0:
                nulls[name] = nulls.get(name, 0) + st.null_count
            if name not in bounded or name in no_bound:
                continue
            if not st.has_min_max:
                if st.num_values > 0:
                    no_bound.add(name)
                continue
            lo, hi = _bound(st.min, upper=False), _bound(st.max, upper=True)
            if lo is None or hi is None:
                no_bound.add(name)
                continue
            mins[name] = lo if name not in mins else min(mins[name], lo)
            maxs[name] = hi if name not in maxs else max(maxs[name], hi)
    for name in no_bound:
        mins.pop(name, None)
        maxs.pop(name, None)
    known_nulls = {k: v for k, v in nulls.items() if v >= 0}
    stats = {"numRecords": meta.num_rows, "minValues": mins, "maxValues": maxs, "nullCount": known_nulls}
    return meta.num_rows, json.dumps(stats, sort_keys=True), known_nulls


def may_hold(lower: Any, upper: Any, values: Sequence[Any]) -> bool:
    """Whether a file whose column lies within [``lower``, ``upper``] may hold one of
    ``values`` (sorted, without NULL). A missing bound, or one that does not compare with
    the values, proves nothing: the file may hold them."""
    if lower is None or upper is None:
        return True
    try:
        i = bisect.bisect_left(values, lower)
        return i < len(values) and values[i] <= upper
    except TypeError:
        return True


def files_without(table: DeltaTable, holding: Mapping[str, Collection[Any]]) -> list[str]:
    """The live files of ``table`` (paths relative to it, decoded) whose statistics prove
    that no row holds one of the values given for a column (``DeltaStorage.read``'s
    ``holding``). The bounds come from the log, where c360 writes only exact ones."""
    actions = pa.table(table.get_add_actions(flatten=True))
    wanted = {c: sorted({v for v in vs if v is not None}) for c, vs in holding.items()}
    unknown = set(wanted) - set(pa.schema(table.schema().to_arrow()).names)
    if unknown:
        raise ValueError(f"not columns of the table: {', '.join(sorted(unknown))}")
    paths = actions.column("path").to_pylist()
    if any(not values for values in wanted.values()):
        return [unquote(str(p)) for p in paths]  # no row can hold a value of an empty list
    skipped: set[int] = set()
    for column, values in wanted.items():
        if f"min.{column}" not in actions.column_names or f"max.{column}" not in actions.column_names:
            continue  # no file has bounds for it (a partition column, or one without stats)
        lows = actions.column(f"min.{column}").to_pylist()
        highs = actions.column(f"max.{column}").to_pylist()
        skipped |= {i for i, (lo, hi) in enumerate(zip(lows, highs, strict=True)) if not may_hold(lo, hi, values)}
    return [unquote(str(paths[i])) for i in sorted(skipped)]
