"""Reading source files as delivered: every line is kept, bad ones flagged with why.

Files are parsed with Python's csv/json modules, one file at a time inside a Spark task
(c360.raw.ingest runs them in ``mapInArrow``), because Spark's readers drop or silently
pad lines with the wrong number of fields, which loses evidence. Many files parse in
parallel tasks; the sealed rows go to Parquet from the task and never pass the driver.
"""

from __future__ import annotations

import codecs
import csv
import hashlib
import json
import re
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

from c360.jsonlimits import MAX_JSON_CHARS, depth_message, scan_value, size_message, too_deep

# A record that spans lines (a quoted newline) is joined back, but never beyond this.
_MAX_RECORD_LINES = 50
# Python's csv module refuses fields over 128 KiB by default, which rejects valid lines (a long
# free-text description). Raised to this; a longer field makes its line malformed, saying so.
MAX_FIELD_CHARS = 16 << 20
# Bytes that the source's encoding cannot decode become lone surrogates (surrogateescape):
# a line holding one is kept as malformed, with those bytes written as \xNN.
_UNDECODABLE = re.compile("[\udc80-\udcff]")


@dataclass
class ParsedRow:
    values: dict[str, str | None]
    extra: dict[str, str | None]
    line_number: int
    raw_line: str | None = None
    parse_error: str | None = None


@dataclass
class ParsedFile:
    path: Path
    checksum: str
    size: int
    rows: list[ParsedRow] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)

    @property
    def malformed(self) -> int:
        return sum(1 for r in self.rows if r.parse_error)


def checksum(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def _label(encoding: str) -> str:
    name = codecs.lookup(encoding).name
    return "UTF-8" if name == "utf-8" else name


def _decode(data: bytes, encoding: str, problems: list[str]) -> tuple[str, bool]:
    """(text, binary) of a file in ``encoding`` (a UTF-8 byte-order mark is dropped).

    Undecodable bytes stay in the text as lone surrogates, so only the lines holding them
    are flagged (one bad byte does not cost the file). A file with a NUL byte is binary
    (text never holds one): every line of it is flagged, its bytes escaped.
    """
    codec = "utf-8-sig" if codecs.lookup(encoding).name == "utf-8" else encoding
    text = data.decode(codec, errors="surrogateescape")
    if b"\x00" not in data or not _UNDECODABLE.search(text):
        return text, False
    try:
        data.decode(codec)
        start = 0
    except UnicodeDecodeError as exc:
        start = exc.start
    problems.append(f"not valid {_label(encoding)} at byte {start} (binary or wrong encoding): every line flagged")
    return text, True


def escape_undecodable(text: str) -> str:
    """The text with each undecodable byte written as ``\\xNN`` (storable, and readable evidence)."""
    return _UNDECODABLE.sub(lambda m: f"\\x{ord(m.group()) - 0xDC00:02x}", text)


def _undecodable_error(encoding: str) -> str:
    return f"not valid {_label(encoding)} text (undecodable bytes kept escaped as \\xNN)"


def _lines(text: str) -> list[str]:
    """Physical lines: split on ``\n`` only (``\r\n`` tolerated); ``str.splitlines`` would
    also split inside values at \u2028, \x1c and friends, inventing lines the file does not have."""
    lines = text.split("\n")
    if lines and lines[-1] == "":
        lines.pop()
    return [line[:-1] if line.endswith("\r") else line for line in lines]


def _fields(record: str) -> list[str] | None:
    try:
        return next(csv.reader([record], strict=True))
    except (csv.Error, StopIteration):
        return None


def _records(lines: list[str], start: int, width: int) -> Iterator[tuple[int, str]]:
    """(first line number, text) of each non-empty record from ``lines[start:]``.

    A record with an open quote is joined with the following lines (a quoted newline),
    but only when the joined text then parses into ``width`` fields; otherwise the line
    stands alone and is flagged, so one stray quote cannot swallow the good lines after it.
    """
    i = start
    while i < len(lines):
        record = lines[i]
        if not record.strip():
            i += 1
            continue
        end = i
        if record.count('"') % 2 == 1:
            joined, j = record, i
            while joined.count('"') % 2 == 1 and j + 1 < len(lines) and j - i < _MAX_RECORD_LINES:
                j += 1
                joined += "\n" + lines[j]
            fields = _fields(joined)
            if fields is not None and len(fields) == width:
                record, end = joined, j
        yield i + 1, record
        i = end + 1


def _sniff_delimiter(header: str) -> str | None:
    for candidate in (";", "\t", "|"):
        if header.count(candidate) >= 2 and header.count(",") == 0:
            return candidate
    return None


def _csv_error(exc: csv.Error) -> str:
    if "field larger than field limit" in str(exc):
        return f"a field is longer than the {MAX_FIELD_CHARS >> 20} MiB limit (c360.raw.parse.MAX_FIELD_CHARS)"
    return f"unparseable CSV (broken quoting?): {exc}"


def parse_csv(path: Path, data: bytes, columns: list[str], key: tuple[str, ...], encoding: str = "utf-8") -> ParsedFile:
    """Parse one CSV extract against a contract's columns (names matched by header, any order)."""
    csv.field_size_limit(MAX_FIELD_CHARS)  # process-wide, and idempotent: set where it is relied on
    parsed = ParsedFile(path, checksum(data), len(data))
    if not data:
        parsed.problems.append("empty file (0 bytes): nothing to ingest")
        return parsed
    problems = parsed.problems
    text, binary = _decode(data, encoding, problems)
    lines = _lines(text)
    first = next((i for i, line in enumerate(lines) if line.strip()), None)
    if first is None:
        problems.append("no lines with content")
        return parsed
    header_text = lines[first]
    try:
        header = [h.strip() for h in next(csv.reader([header_text]))]
    except csv.Error as exc:
        header = []
        header_error: str | None = f"header cannot be read: {_csv_error(exc)}"
    else:
        header_error = None
    records = [(first + 1, header_text), *_records(lines, first + 1, len(header))]
    missing_key = [k for k in key if k not in header]
    reject_reason = None
    if binary:
        reject_reason = f"file is not {_label(encoding)} text"
    elif _UNDECODABLE.search(header_text):
        reject_reason = f"header is {_undecodable_error(encoding)}"
        problems.append(f"{reject_reason}: every line kept as malformed")
    elif header_error:
        reject_reason = header_error
        problems.append(f"{reject_reason}: every line kept as malformed")
    elif missing_key:
        delim = _sniff_delimiter(header_text)
        hint = f" (the file seems to use {delim!r} as delimiter)" if delim else ""
        reject_reason = f"header lacks key column(s) {', '.join(missing_key)}{hint}"
        problems.append(f"{reject_reason}: every line kept as malformed")
    else:
        missing = [c for c in columns if c not in header]
        unknown = [h for h in header if h not in columns]
        if missing:
            problems.append(f"header lacks column(s) {', '.join(missing)}: left empty")
        if unknown:
            problems.append(f"unknown column(s) {', '.join(unknown)}: kept in _extra")
        if len(set(header)) != len(header):
            reject_reason = "header repeats a column name"
            problems.append(f"{reject_reason}: every line kept as malformed")
    if len(records) == 1 and not reject_reason:
        problems.append("header only: no data rows")
    body = records if reject_reason else records[1:]
    undecodable = 0
    for line_number, record in body:
        if reject_reason:
            parsed.rows.append(ParsedRow({}, {}, line_number, escape_undecodable(record), reject_reason))
            continue
        if _UNDECODABLE.search(record):
            undecodable += 1
            parsed.rows.append(ParsedRow({}, {}, line_number, escape_undecodable(record), _undecodable_error(encoding)))
            continue
        try:
            fields = next(csv.reader([record], strict=True))
        except csv.Error as exc:
            parsed.rows.append(ParsedRow({}, {}, line_number, record, _csv_error(exc)))
            continue
        except StopIteration:
            parsed.rows.append(ParsedRow({}, {}, line_number, record, "unparseable CSV (broken quoting?)"))
            continue
        if len(fields) != len(header):
            error = f"{len(fields)} fields where the header has {len(header)}"
            parsed.rows.append(ParsedRow({}, {}, line_number, record, error))
            continue
        row = dict(zip(header, fields, strict=True))
        values = {c: row.get(c) for c in columns}
        extra: dict[str, str | None] = {h: v for h, v in row.items() if h not in columns}
        parsed.rows.append(ParsedRow(values, extra, line_number))
    if undecodable:
        problems.append(f"{undecodable} line(s) not valid {_label(encoding)}: kept as malformed, bytes escaped")
    if parsed.malformed and not reject_reason:
        problems.append(f"{parsed.malformed} malformed line(s) kept with their raw text")
    return parsed


def _element_error(element: str, encoding: str) -> str | None:
    """Why one JSON record (already known to parse) is still malformed, if it is."""
    if _UNDECODABLE.search(element):
        return _undecodable_error(encoding)
    if len(element) > MAX_JSON_CHARS:
        return size_message(len(element))
    if too_deep(element):
        return depth_message()
    return None


def _json_array_elements(text: str, encoding: str) -> Iterator[tuple[int, str, str | None]]:
    """(index, exact element text, error) for each element of a top-level JSON array."""
    decoder = json.JSONDecoder()
    i = text.index("[") + 1
    n = 0
    while True:
        while i < len(text) and text[i] in " \t\r\n,":
            i += 1
        if i >= len(text):
            yield n + 1, "", "JSON array is not closed (truncated file?)"
            return
        if text[i] == "]":
            return
        n += 1
        try:
            _, end = decoder.raw_decode(text, i)
        except RecursionError:
            # Too deep for the decoder: skip the element by its brackets (no recursion) and go on.
            found, _ = scan_value(text, i)
            if found is None:
                yield n, text[i:].rstrip(), f"{depth_message()}; the rest of the array kept as is"
                return
            yield n, text[i:found], depth_message()
            i = found
            continue
        except json.JSONDecodeError as exc:
            # The rest cannot be delimited reliably: kept whole as one flagged record, so nothing is lost.
            yield n, text[i:].rstrip(), f"invalid JSON element (the rest of the array kept as is): {exc.msg}"
            return
        yield n, text[i:end], _element_error(text[i:end], encoding)
        i = end


def _json_line_error(line: str, encoding: str) -> str | None:
    if _UNDECODABLE.search(line):
        return _undecodable_error(encoding)
    if len(line) > MAX_JSON_CHARS:
        return size_message(len(line))
    if too_deep(line):
        return depth_message()
    try:
        value = json.loads(line)
    except json.JSONDecodeError as exc:
        return f"invalid JSON: {exc.msg} at column {exc.colno}"
    except RecursionError:  # cannot happen below the depth limit; kept so it never stops a file
        return depth_message()
    if not isinstance(value, dict):
        return "JSON line is not an object"
    return None


def parse_json(path: Path, data: bytes, encoding: str = "utf-8") -> ParsedFile:
    """Parse JSON Lines or one JSON array; each record keeps its exact text in ``record``.

    ``line_number`` is the line (JSON Lines) or the element position (array). A broken
    line is kept with its raw text; in an array, parsing stops at the first broken element
    (what follows cannot be delimited reliably), which is kept with everything after it.
    A record nested deeper than ``MAX_JSON_DEPTH`` or longer than ``MAX_JSON_CHARS`` is
    kept as malformed (and an array goes on after it).
    """
    parsed = ParsedFile(path, checksum(data), len(data))
    if not data.strip():
        parsed.problems.append("empty file: nothing to ingest")
        return parsed
    text, _ = _decode(data, encoding, parsed.problems)
    if text.lstrip().startswith("["):
        for index, element, error in _json_array_elements(text, encoding):
            if error:
                parsed.rows.append(ParsedRow({}, {}, index, escape_undecodable(element), error))
            else:
                parsed.rows.append(ParsedRow({"record": element}, {}, index))
    else:
        for number, line in enumerate(_lines(text), start=1):
            if not line.strip():
                continue
            error = _json_line_error(line, encoding)
            if error:
                parsed.rows.append(ParsedRow({}, {}, number, escape_undecodable(line), error))
            else:
                parsed.rows.append(ParsedRow({"record": line}, {}, number))
    if parsed.malformed:
        parsed.problems.append(f"{parsed.malformed} malformed record(s) kept with their raw text")
    return parsed
