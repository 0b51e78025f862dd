"""Builders for hostile source folders, shared by the example tests and the property test."""

from __future__ import annotations

import gzip
from pathlib import Path

import pyarrow.parquet as pq
from deltalake import DeltaTable

from c360.contracts.air_quality import STATIONS
from c360.contracts.retail import PRODUCTS, TRANSACTIONS
from c360.storage import DeltaStorage

# In every file that lies outside a source folder: if one byte of it reaches the lake, a test sees it.
SECRET = b"OUTSIDE-7f3a9c1e5b2d-SECRET"
# In a good file: shows the byte scan can see strings in the lake's Parquet files at all.
VISIBLE = "GOOD-4e8b2a61d0c9-VISIBLE"
DEEP = '{"a": ' * 5000 + "1" + "}" * 5000


def csv_text(columns: list[str], rows: int, tag: str = "") -> str:
    """A CSV with the contract's header and ``rows`` distinct rows (no quotes: one line per record)."""
    lines = [",".join(columns)]
    lines += [",".join(f"{c[:3]}{i}{tag}" for c in columns) for i in range(1, rows + 1)]
    return "\n".join(lines) + "\n"


def transactions(rows: int, tag: str = "") -> str:
    return csv_text(TRANSACTIONS.raw_columns, rows, tag)


def products(rows: int, tag: str = "") -> str:
    return csv_text(PRODUCTS.raw_columns, rows, tag)


def stations(rows: int, tag: str = "") -> str:
    return csv_text(STATIONS.column_names, rows, tag)


def readings(rows: int, tag: str = "") -> str:
    lines = [
        f'{{"station_id": "S{i}{tag}", "timestamp": "2024-01-05T{i % 24:02d}:00:00Z", "pm25": {i}}}'
        for i in range(rows)
    ]
    return "".join(f"{line}\n" for line in lines)


def write(path: Path, data: str | bytes) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(data.encode() if isinstance(data, str) else data)
    return path


def gz(data: str) -> bytes:
    return gzip.compress(data.encode(), mtime=0)


def outside_files(root: Path) -> Path:
    """A folder outside the source: a secret file, and a folder of would-be valid sources full of it."""
    write(root / "secret.txt", SECRET + b"\nroot:x:0:0:root:/root:/bin/bash\n")
    secret_row = "," + SECRET.decode()
    write(root / "dir" / "transactions.csv", transactions(1).rstrip("\n") + secret_row + "\n")
    write(root / "dir" / "shipments.csv", f"shipment_id\n{SECRET.decode()}\n")
    write(root / "secret.jsonl", f'{{"station_id": "{SECRET.decode()}"}}\n')
    return root


def lake_bytes_hold(lake: Path, marker: bytes) -> list[Path]:
    """Files of the lake (data, logs, vault) whose bytes contain ``marker``."""
    return [p for p in lake.rglob("*") if p.is_file() and marker in p.read_bytes()]


def raw_lines(storage: DeltaStorage, table: str) -> list[tuple[str, int, str | None, str | None]]:
    """(_source_file, _line_number, _raw_line, _parse_error) of a raw table, read without Spark."""
    if not storage.exists(table):
        return []
    columns = ["_source_file", "_line_number", "_raw_line", "_parse_error"]
    uris = DeltaTable(str(storage.path(table))).file_uris()
    if not uris:
        return []
    data = pq.read_table(uris, columns=columns).to_pylist()
    return sorted((r["_source_file"], r["_line_number"], r["_raw_line"], r["_parse_error"]) for r in data)


def content_lines(data: bytes) -> list[int]:
    """Line numbers of the non-blank lines of a file as c360 counts them (split on \\n only)."""
    text = data.decode("utf-8-sig", errors="surrogateescape")
    lines = text.split("\n")
    if lines and lines[-1] == "":
        lines.pop()
    return [n for n, line in enumerate(lines, 1) if line.removesuffix("\r").strip()]
