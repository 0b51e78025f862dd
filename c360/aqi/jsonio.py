"""JSON in and out: sources -> a stream of items, items -> validated records, results -> text.

Reading is streamed (a line, or one array element, at a time), so a file larger than
memory is fine. Numbers are parsed as ``Decimal`` and written back with their digits
unchanged, because a float round trip is what turns 0.205 into 0.20499...
"""

from __future__ import annotations

import itertools
import json
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path
from typing import IO, Any

from c360.aqi.core import compute, evaluate
from c360.aqi.standards import Standard
from c360.aqi.validate import error

JSON_SUFFIXES = (".json", ".jsonl", ".ndjson")
READ_SIZE = 1 << 16
MAX_ITEM_CHARS = 16 << 20  # an array element larger than this is treated as malformed
RAW_ECHO_CHARS = 1000  # how much of an unparseable item is echoed back in ``_raw``

_DECODER = json.JSONDecoder(parse_float=Decimal)


@dataclass(frozen=True)
class Malformed:
    """Text that could not be split into a JSON value (a broken JSON array element)."""

    text: str
    message: str


# An item travels to a worker as (where, payload): payload is JSON text to parse, an already
# parsed value, or Malformed. ``where`` ("data.jsonl line 7") makes error messages findable.
Item = tuple[str, Any]


def looks_like_json(text: str) -> bool:
    return text.lstrip()[:1] in ("{", "[")


def iter_items(source: object) -> Iterator[Item]:
    """A path (file or folder), JSON text, a text stream, or an iterable of records -> items."""
    if isinstance(source, Path) or (isinstance(source, str) and not looks_like_json(source)):
        yield from _iter_path(Path(source))
    elif isinstance(source, str):
        yield from _iter_text(source)
    elif hasattr(source, "read"):  # an open text stream (stdin, a socket file)
        yield from _iter_stream(source, getattr(source, "name", "stream"))  # type: ignore[arg-type]
    elif isinstance(source, dict):
        yield ("record 1", source)
    elif isinstance(source, Iterable):
        # Strings in an iterable are JSON texts (lines of a file handle, messages...).
        for n, record in enumerate(source, 1):
            yield (f"record {n}", record)
    else:
        raise TypeError(f"cannot read AQI input from {type(source).__name__}")


def _iter_path(path: Path) -> Iterator[Item]:
    if path.is_dir():
        files = sorted(p for p in path.rglob("*") if p.is_file() and p.suffix.lower() in JSON_SUFFIXES)
        if not files:
            raise FileNotFoundError(f"no {', '.join(JSON_SUFFIXES)} files under {path}")
    elif path.is_file():
        files = [path]
    else:
        raise FileNotFoundError(f"no such file or folder: {path}")
    for file in files:
        with file.open("r", encoding="utf-8", errors="replace", newline=None) as fp:
            yield from _iter_stream(fp, file.name)


def _iter_text(text: str) -> Iterator[Item]:
    stripped = text.strip()
    if stripped.startswith("{"):
        try:  # one (possibly pretty-printed) object
            yield ("record 1", _DECODER.decode(stripped))
            return
        except json.JSONDecodeError:
            pass  # JSON Lines, then
    import io

    yield from _iter_stream(io.StringIO(text), "input")


def _iter_stream(fp: IO[str], name: str) -> Iterator[Item]:
    """JSON Lines, or a JSON array if the first non-blank character is '['."""
    head, skipped_lines = "", 0
    while True:
        chunk = fp.read(1)
        if not chunk:
            return
        skipped_lines += chunk == "\n"
        if not chunk.isspace():
            head = chunk
            break
    if head == "[":
        yield from _iter_array(fp, name)
        return
    lines = itertools.chain([head + fp.readline()], fp)
    for n, line in enumerate(lines, 1 + skipped_lines):
        if line.strip():
            yield (f"{name} line {n}", line)


def _iter_array(fp: IO[str], name: str) -> Iterator[Item]:
    """The elements of a JSON array, one at a time, with a bounded buffer.

    A broken element becomes a Malformed item and reading resumes at the next '{', so
    one bad element does not lose the rest of the array.
    """
    buf, pos, eof, n = "", 0, False, 0

    def more() -> bool:
        nonlocal buf, pos, eof
        data = fp.read(READ_SIZE)
        if not data:
            eof = True
            return False
        buf, pos = buf[pos:] + data, 0
        return True

    more()
    while True:
        while pos < len(buf) and (buf[pos].isspace() or buf[pos] == ","):
            pos += 1
        if pos >= len(buf):
            if eof or not more():
                n += 1
                yield (
                    f"{name} item {n}",
                    Malformed("", "unexpected end of file: array not closed"),
                )
                return
            continue
        if buf[pos] == "]":
            return
        try:
            value, end = _DECODER.raw_decode(buf, pos)
            if end >= len(buf) and not eof and not isinstance(value, (dict, list)):
                raise json.JSONDecodeError("value may continue", buf, end)
        except json.JSONDecodeError as exc:
            if not eof and len(buf) - pos < MAX_ITEM_CHARS and more():
                continue  # the element may just be cut by the read boundary
            n += 1
            resume = buf.find("{", pos + 1)
            resume = len(buf) if resume < 0 else resume
            text = buf[pos:resume]
            yield (f"{name} item {n}", Malformed(text[:RAW_ECHO_CHARS], exc.msg))
            pos = resume
            continue
        n += 1
        yield (f"{name} item {n}", value)
        pos = end
        if pos > READ_SIZE:
            buf, pos = buf[pos:], 0


def evaluate_item(item: Item, standard: Standard) -> dict[str, Any]:
    """One item -> its result record; text that is not JSON becomes an error record."""
    where, payload = item
    if isinstance(payload, Malformed):
        return _malformed(payload.text, f"{where}: {payload.message}", standard)
    if isinstance(payload, str):
        try:
            payload = _DECODER.decode(payload)
        except json.JSONDecodeError as exc:
            return _malformed(payload, f"{where}: {exc.msg} (column {exc.colno})", standard)
    return evaluate(payload, standard)


def _malformed(text: str, message: str, standard: Standard) -> dict[str, Any]:
    result = compute({}, [error(None, "malformed_json", message)], standard)
    return {"_raw": text.rstrip("\r\n")[:RAW_ECHO_CHARS], **result}


def failed_record(item: Item, standard: Standard, reason: str) -> dict[str, Any]:
    """The error record for an item whose chunk could not be processed."""
    where, payload = item
    if isinstance(payload, str):
        try:
            payload = _DECODER.decode(payload)
        except json.JSONDecodeError:
            payload = {"_raw": payload.rstrip("\r\n")[:RAW_ECHO_CHARS]}
    elif isinstance(payload, Malformed):
        payload = {"_raw": payload.text}
    fields = payload if isinstance(payload, dict) else {"_input": payload}
    result = compute({}, [error(None, "worker_failed", f"{where}: {reason}")], standard)
    return {**fields, **result, "status": "failed"}


def dumps(value: Any) -> str:
    """JSON text of a result record; Decimals keep their exact digits."""
    if isinstance(value, dict):
        return "{" + ",".join(f"{json.dumps(str(k))}:{dumps(v)}" for k, v in value.items()) + "}"
    if isinstance(value, (list, tuple)):
        return "[" + ",".join(dumps(v) for v in value) + "]"
    if isinstance(value, Decimal):
        if value.is_finite():
            return str(value)
        return "NaN" if value.is_nan() else ("-Infinity" if value < 0 else "Infinity")
    return json.dumps(value, ensure_ascii=False)
