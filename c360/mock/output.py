"""Where generated rows go: per-day extract folders (or one dump folder) and the defect log.

Rows are written as they are produced and a day's files are closed when the day ends, so
memory stays bounded by one day of data whatever the number of days.
"""

from __future__ import annotations

import csv
import json
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import IO, Any, Literal

from c360.mock.catalog import COLUMNS

Layout = Literal["daily", "dump"]
DUMP_FOLDER = "dump"


class Sink:
    """Writes CSV and JSON extracts into ``OUT/<extract date>/`` (daily) or ``OUT/dump/``.

    ``extra_columns`` maps (file, extract date) to the name of an unknown column that
    extract carries (the ``extra_column`` defect). In the dump layout one file holds every
    day, so the column is in its header and only the rows of that day fill it.
    """

    def __init__(self, out: Path, layout: Layout, extra_columns: dict[tuple[str, str], str]):
        self.out = out
        self.layout = layout
        self.extra_columns = extra_columns
        self._dump_extra: dict[str, str] = {}
        for (file, _), column in sorted(extra_columns.items()):
            self._dump_extra.setdefault(file, column)
        self._date = ""
        self._handles: dict[str, tuple[IO[str], Any, str | None]] = {}
        self.rows: dict[str, int] = {}
        self.files: set[str] = set()

    @property
    def folder(self) -> str:
        return DUMP_FOLDER if self.layout == "dump" else self._date

    def relpath(self, file: str) -> str:
        return f"{self.folder}/{file}"

    def begin_day(self, date: str) -> None:
        self._date = date

    def end_day(self, always: Iterable[str]) -> None:
        """Close the day's files; ``always`` files get a header-only file if no row came."""
        for file in always:
            self._open(file)
        if self.layout == "daily":
            self._close_all()

    def close(self) -> None:
        self._close_all()

    def _close_all(self) -> None:
        for handle, _, _ in self._handles.values():
            handle.close()
        self._handles.clear()

    def _open(self, file: str) -> tuple[IO[str], Any, str | None]:
        entry = self._handles.get(file)
        if entry is not None:
            return entry
        path = self.out / self.relpath(file)
        path.parent.mkdir(parents=True, exist_ok=True)
        handle = path.open("w", newline="", encoding="utf-8")
        writer = csv.writer(handle, lineterminator="\n")
        extra = self._dump_extra.get(file) if self.layout == "dump" else self.extra_columns.get((file, self._date))
        header = list(COLUMNS[file]) + ([extra] if extra else [])
        writer.writerow(header)
        self.files.add(self.relpath(file))
        self.rows.setdefault(file, 0)
        entry = (handle, writer, extra)
        self._handles[file] = entry
        return entry

    def write(self, file: str, rows: Sequence[Sequence[str]]) -> None:
        _, writer, extra = self._open(file)
        if extra is not None:
            value = self._date.replace("-", "") if (file, self._date) in self.extra_columns else ""
            rows = [(*row, value) for row in rows]
        writer.writerows(rows)
        self.rows[file] += len(rows)

    def write_json_lines(self, file: str, lines: Sequence[str], as_array: bool) -> None:
        """Sensor readings: JSON Lines, or one JSON array (a whole file per day)."""
        if self.layout == "dump":
            file = "air_quality/readings.jsonl"
            as_array = False
        path = self.out / self.relpath(file)
        path.parent.mkdir(parents=True, exist_ok=True)
        mode = "a" if self.layout == "dump" else "w"
        with path.open(mode, encoding="utf-8", newline="\n") as handle:
            if as_array:
                handle.write("[\n" + ",\n".join(lines) + "\n]\n")
            elif lines:
                handle.write("\n".join(lines) + "\n")
        self.files.add(self.relpath(file))
        self.rows[file] = self.rows.get(file, 0) + len(lines)


class DefectLog:
    """Every injected defect with the keys it hit, grouped per kind, file, day and column."""

    def __init__(self) -> None:
        self._entries: dict[tuple[str, str, str, str], tuple[tuple[str, ...], list[str]]] = {}
        self.seen: set[tuple[str, str]] = set()

    def add(
        self,
        kind: str,
        file: str,
        relpath: str,
        date: str,
        key_columns: tuple[str, ...],
        key: str | None,
        column: str = "",
    ) -> None:
        """Record one hit; ``file`` is the contract file, ``relpath`` where it was written.

        ``key=None`` records a file-level defect (an unknown column): no keys, count 1.
        """
        entry = self._entries.setdefault((kind, relpath, date, column), (key_columns, []))
        if key is not None:
            entry[1].append(key)
        self.seen.add((kind, file))

    def entries(self) -> list[dict[str, Any]]:
        out: list[dict[str, Any]] = []
        for (kind, relpath, date, column), (key_columns, keys) in sorted(self._entries.items()):
            out.append(
                {
                    "kind": kind,
                    "file": relpath,
                    "extract_date": date,
                    "key_columns": list(key_columns),
                    "column": column or None,
                    "keys": sorted(keys),
                    "count": len(keys) if keys else 1,
                }
            )
        return out

    def write_manifest(self, path: Path, generator: dict[str, Any], files: dict[str, int]) -> None:
        entries = self.entries()
        summary: dict[str, int] = {}
        for entry in entries:
            summary[entry["kind"]] = summary.get(entry["kind"], 0) + entry["count"]
        doc = {
            "generator": generator,
            "rows": dict(sorted(files.items())),
            "defect_summary": dict(sorted(summary.items())),
            "defects": entries,
        }
        path.write_text(json.dumps(doc, indent=1, sort_keys=False) + "\n", encoding="utf-8")
