"""JSON in and out: sources -> a stream of items, items -> validated records, results -> text.

Reading is streamed (a line, or one array element, at a time), so a file larger than
memory is fine. Numbers are parsed as ``Decimal`` and written back with their digits
unchanged, because a float round trip is what turns 0.205 into 0.20499...

Inputs are untrusted: a record nested deeper than ``MAX_JSON_DEPTH`` or longer than
``MAX_JSON_CHARS`` becomes an error record (never a ``RecursionError``); a binary file is
refused with one line (in a folder: one error record, and the other files go on); a FIFO or
a character device (``/dev/null``, ``/dev/stdin``) is read as a stream; a socket or a block
device is refused with what it is.
"""

from __future__ import annotations

import io
import itertools
import json
import os
import re
import stat
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path
from typing import IO, Any

from c360.aqi.core import compute, evaluate
from c360.aqi.standards import Standard
from c360.aqi.validate import error, plain_number
from c360.jsonlimits import MAX_JSON_CHARS, depth_message, scan_value, size_message, too_deep

JSON_SUFFIXES = (".json", ".jsonl", ".ndjson")
READ_SIZE = 1 << 16
MAX_ITEM_CHARS = MAX_JSON_CHARS  # an array element larger than this is treated as malformed
SNIFF_BYTES = 8192  # how much of an input is looked at to tell text from binary
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


class InputError(ValueError):
    """An input the calculator refuses as a whole (binary data, a socket): one clear line."""


def binary_reason(head: bytes) -> str | None:
    """Why the first bytes of an input are not JSON text, or None if they may be.

    Judged on the whole head, not on one byte: a JSON Lines file with a few garbage lines
    (a stray NUL) is text whose bad lines become error records.
    """
    start = head.lstrip()[:1]
    if start and (start[0] < 9 or 13 < start[0] < 32):
        return f"is binary (starts with byte 0x{start[0]:02x})"
    controls = sum(1 for b in head if b < 9 or 13 < b < 32)
    if controls * 10 > len(head):
        return f"is binary ({controls} control bytes in the first {len(head)})"
    try:
        head.decode("utf-8")
    except UnicodeDecodeError as exc:
        if exc.start < len(head) - 3 and start not in (b"{", b"["):
            return f"is binary (not UTF-8 text at byte {exc.start})"
    return None


def looks_like_json(text: str) -> bool:
    return text.lstrip()[:1] in ("{", "[")


def iter_items(source: object) -> Iterator[Item]:
    """A path (file or folder), JSON text, a text stream, or an iterable of records -> items."""
    if isinstance(source, Path) or (isinstance(source, str) and not looks_like_json(source)):
        yield from _iter_path(Path(source))
    elif isinstance(source, str):
        yield from _iter_text(source)
    elif isinstance(source, (io.BufferedIOBase, io.RawIOBase)):  # bytes (stdin's buffer): sniffed first
        yield from _iter_binary(source, str(getattr(source, "name", "stream")), refuse=True)
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
        for file in files:  # a binary file among them is one error record; the others go on
            yield from _iter_file(file, refuse=False)
        return
    try:
        mode = os.stat(path).st_mode
    except FileNotFoundError:
        raise FileNotFoundError(f"no such file or folder: {path}") from None
    if stat.S_ISSOCK(mode):
        raise InputError(f"{path} is a socket: give a file, a folder, a FIFO or - for stdin")
    if stat.S_ISBLK(mode):
        raise InputError(f"{path} is a block device: give a file, a folder, a FIFO or - for stdin")
    # A regular file, or a stream: a FIFO or a character device (/dev/null gives no records).
    yield from _iter_file(path, refuse=True)


def _iter_file(path: Path, refuse: bool) -> Iterator[Item]:
    with path.open("rb") as fp:
        yield from _iter_binary(fp, path.name, refuse)


def _iter_binary(raw: Any, name: str, refuse: bool) -> Iterator[Item]:
    """Bytes -> items, after looking at the first bytes: binary input is refused (``refuse``)
    or becomes one error record, instead of thousands of lines of garbage."""
    buffered: io.BufferedReader = raw if isinstance(raw, io.BufferedReader) else io.BufferedReader(raw)
    head = buffered.peek(SNIFF_BYTES)[:SNIFF_BYTES]
    why = binary_reason(head)
    if why:
        if refuse:
            raise InputError(f"{name} {why}: not JSON text, refused")
        yield (name, Malformed("", f"{why}: not JSON text, file skipped"))
        return
    text = io.TextIOWrapper(buffered, encoding="utf-8", errors="replace", newline=None)
    try:
        yield from _iter_stream(text, name)
    finally:
        text.detach()  # the caller owns (and closes) the byte stream


def _iter_text(text: str) -> Iterator[Item]:
    stripped = text.strip()
    if stripped.startswith("{"):
        try:  # one (possibly pretty-printed) object
            if not too_deep(stripped):
                yield ("record 1", _DECODER.decode(stripped))
                return
        except (json.JSONDecodeError, RecursionError):
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
        except RecursionError:
            # Too deep for the decoder: find the element's end by its brackets (no recursion).
            found, _ = scan_value(buf, pos)
            while found is None and not eof and len(buf) - pos < MAX_ITEM_CHARS:
                wanted = 2 * (len(buf) - pos)  # read ahead in doubling steps: each rescan is linear
                while len(buf) - pos < wanted and more():
                    pass
                found, _ = scan_value(buf, pos)
            n += 1
            end = len(buf) if found is None else found
            yield (f"{name} item {n}", Malformed(buf[pos:end][:RAW_ECHO_CHARS], depth_message()))
            pos = end
            continue
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
        element = buf[pos:end]
        if isinstance(value, (dict, list)) and too_deep(element):  # decodable, but over the limit
            yield (f"{name} item {n}", Malformed(element[:RAW_ECHO_CHARS], depth_message()))
        else:
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
        if len(payload) > MAX_JSON_CHARS:
            return _malformed(payload, f"{where}: {size_message(len(payload))}", standard)
        if too_deep(payload):
            return _malformed(payload, f"{where}: {depth_message()}", standard)
        try:
            payload = _DECODER.decode(payload)
        except json.JSONDecodeError as exc:
            return _malformed(payload, f"{where}: {exc.msg} (column {exc.colno})", standard)
        except RecursionError:  # below the depth limit this cannot happen; kept so it never stops a batch
            return _malformed(payload, f"{where}: {depth_message()}", standard)
    return evaluate(payload, standard)


def _malformed(text: str, message: str, standard: Standard) -> dict[str, Any]:
    result = compute({}, [error(None, "malformed_json", message)], standard)
    return {"_raw": text.rstrip("\r\n")[:RAW_ECHO_CHARS], **result}


def failed_record(item: Item, standard: Standard, reason: str) -> dict[str, Any]:
    """The error record for an item whose chunk could not be processed."""
    where, payload = item
    if isinstance(payload, str):
        try:
            if too_deep(payload) or len(payload) > MAX_JSON_CHARS:
                raise ValueError("not decoded")
            payload = _DECODER.decode(payload)
        except (ValueError, RecursionError):  # JSONDecodeError is a ValueError
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
    value = plain_number(value)
    if type(value).__module__ == "numpy" and hasattr(value, "tolist"):
        return dumps(value.tolist())  # an array in a record: echoed as the list it holds
    if isinstance(value, str) and not value.isascii() and _LONE_SURROGATE.search(value):
        # A JSON "\ud800" read back is a lone surrogate, which no UTF-8 output can carry: it is
        # written escaped again, as it came (the record's other text stays as it is).
        return json.dumps(value)
    return json.dumps(value, ensure_ascii=False)


_LONE_SURROGATE = re.compile("[\ud800-\udfff]")


def arrow_text(text: str) -> str:
    """``text`` as an Arrow string can hold it: a lone surrogate (a JSON "\ud800" read back, or a
    pandas cell holding one) becomes U+FFFD, which Arrow's UTF-8 can carry; other text is kept."""
    return text if text.isascii() or not _LONE_SURROGATE.search(text) else _LONE_SURROGATE.sub("\ufffd", text)


# ----------------------------------------------------------------------------- the kernel's JSON path

_LONG_COLUMNS = ("pollutant", "averaging", "value", "unit")


def _value_text(value: object) -> str | None:
    """A parsed JSON value -> the text the kernel parses, with :func:`parse_number`'s meaning."""
    if value is None:
        return value
    if isinstance(value, str):
        return arrow_text(value)  # a lone surrogate is no number either way
    value = plain_number(value)
    if isinstance(value, bool):
        return "true"  # not a number
    if isinstance(value, (int, Decimal)):
        return str(value)
    if isinstance(value, float):
        return repr(value)  # NaN / Infinity constants
    return "[object]"  # arrays and objects are not numbers


def _label_text(value: object) -> str:
    return arrow_text(str(value or ""))  # field_key's reading of pollutant/averaging


def evaluate_records(records: list[dict[str, Any]], standard: Standard) -> list[dict[str, Any]]:
    """Result fields of many records at once, through the kernel (wide and long forms mixed).

    Equal to :func:`c360.aqi.core.compute` per record; tests hold the two together.
    """
    import pyarrow as pa

    from c360.aqi.core import is_long_form
    from c360.aqi.kernel import evaluate_table, to_records

    out: list[dict[str, Any]] = [{}] * len(records)
    long_rows = [i for i, r in enumerate(records) if is_long_form(r)]
    wide_rows = [i for i, r in enumerate(records) if not is_long_form(r)] if long_rows else range(len(records))
    if wide_rows:
        columns = {
            name: pa.array([_value_text(records[i].get(name)) for i in wide_rows], pa.string())
            for name in standard.field_names()
        }
        for i, result in zip(wide_rows, to_records(evaluate_table(pa.table(columns), standard)), strict=True):
            out[i] = result
    if long_rows:
        rows = [records[i] for i in long_rows]
        long_columns = {
            "pollutant": pa.array([_label_text(r.get("pollutant")) for r in rows], pa.string()),
            "averaging": pa.array([_label_text(r.get("averaging")) for r in rows], pa.string()),
            "value": pa.array([_value_text(r.get("value")) for r in rows], pa.string()),
            "unit": pa.array([None if r.get("unit") is None else str(r["unit"]) for r in rows], pa.string()),
        }
        for i, result in zip(long_rows, to_records(evaluate_table(pa.table(long_columns), standard)), strict=True):
            out[i] = result
    return out


_TEXT_DECODER = json.JSONDecoder(parse_float=str)  # digits kept as text: the output echoes the line itself


def evaluate_chunk(items: list[Item], as_json: bool, standard: Standard) -> list[Any]:
    """A chunk of items -> results through the kernel, with None for the items it leaves to
    :func:`evaluate_item` (malformed, too deep, not an object, or carrying result field names).

    Returns a list aligned with ``items``: a result (a dict, or the JSON line when ``as_json``)
    or None where the per-record path must decide.
    """
    from c360.aqi.core import RESULT_FIELDS

    decoder = _TEXT_DECODER if as_json else _DECODER
    reserved = set(RESULT_FIELDS)
    parsed: list[Any] = [None] * len(items)
    rows: list[int] = []
    for pos, (_, payload) in enumerate(items):
        record: Any = None
        if isinstance(payload, str):
            # too_deep counts brackets first, and scans only a text with more than the limit
            # (brackets inside strings, which the echo must keep as the line wrote them).
            if len(payload) <= MAX_JSON_CHARS and not too_deep(payload):
                try:
                    record = decoder.decode(payload)
                except (ValueError, RecursionError):
                    record = None
        elif isinstance(payload, dict):
            record = payload
        if isinstance(record, dict) and reserved.isdisjoint(record):
            parsed[pos] = record
            rows.append(pos)
    outputs: list[Any] = [None] * len(items)
    if not rows:
        return outputs
    results = evaluate_records([parsed[pos] for pos in rows], standard)
    for pos, result in zip(rows, results, strict=True):
        if not as_json:
            outputs[pos] = {**parsed[pos], **result}
            continue
        payload = items[pos][1]
        if not isinstance(payload, str):
            outputs[pos] = (result["status"], dumps({**parsed[pos], **result}))
            continue
        body = payload.strip()[:-1].rstrip()
        fragment = json.dumps(result, ensure_ascii=False, separators=(",", ":"))[1:]
        outputs[pos] = (result["status"], body + ("" if body.endswith("{") else ",") + fragment)
    return outputs


# ----------------------------------------------------------------------------- JSON Lines blocks


@dataclass(frozen=True)
class LineBlock:
    """Consecutive lines of a JSON Lines file, as bytes: one chunk that a worker reads whole.

    ``first_line`` numbers the block's first line (blank lines count, as in the text path);
    ``first`` marks the file's first block, whose first content line the text path reads
    without its leading whitespace.
    """

    name: str
    first_line: int
    data: bytes
    first: bool


@dataclass(frozen=True)
class Written:
    """A block's results, already serialised: JSON Lines (UTF-8) and its status counts."""

    ok: int
    invalid: int
    failed: int
    data: bytes


@dataclass(frozen=True)
class Spooled:
    """A :class:`Written` block left in a file by a worker: the reader copies it, then deletes it."""

    ok: int
    invalid: int
    failed: int
    path: str


def line_blocks(source: object, chunk_size: int) -> Iterator[list[Item]] | None:
    """Chunks of one :class:`LineBlock` each for a regular JSON Lines file, or None when the
    source is anything else (a folder, a stream, a JSON array, JSON text, binary data), which
    the item path reads.

    The parent only cuts the file at line ends; parsing happens in the workers.
    """
    if not (isinstance(source, Path) or (isinstance(source, str) and not looks_like_json(source))):
        return None
    path = Path(source)
    try:
        if not stat.S_ISREG(os.stat(path).st_mode):
            return None
        with path.open("rb") as fp:
            head = fp.read(SNIFF_BYTES)
    except OSError:
        return None  # the item path says what is wrong
    if binary_reason(head) is not None or head.lstrip(b" \t\r\n")[:1] != b"{":
        return None
    # Imported here, once: forked workers inherit them instead of each importing them again.
    import pyarrow.compute
    import pyarrow.json  # noqa: F401

    import c360.aqi.kernel  # noqa: F401

    def chunks() -> Iterator[list[Item]]:
        line, first = 1, True
        with path.open("rb") as fp:
            for data, count in _blocks_of_lines(fp, chunk_size):
                yield [(f"{path.name} lines {line}-{line + count - 1}", LineBlock(path.name, line, data, first))]
                first = False
                # Lines as the text path counts them: "\r" alone also ends a line there.
                line += count + (data.count(b"\r") - data.count(b"\r\n") if b"\r" in data else 0)

    return chunks()


_BLOCK_READ_BYTES = 64 << 20


def _blocks_of_lines(fp: IO[bytes], size: int) -> Iterator[tuple[bytes, int]]:
    """Consecutive blocks of ``size`` lines (each ended by a newline byte; the last block may
    hold fewer) of a seekable binary file, with their line counts: the lines a plain
    iteration of the file gives, ``size`` at a time.

    Iterating the lines (a bytes object each) cost the parent more CPU than a worker's
    parsing of a tenth of them. So a block is read in one call, a little less than the last
    block's bytes per line predicts, completed to its line end, then to ``size`` lines by
    the few lines missing, or cut back (and the file position with it) at its ``size``-th line.
    """
    per_line = 0  # bytes per line of the last block
    while True:
        if per_line:
            # At most _BLOCK_READ_BYTES at once: after a block of long lines (one record of 4 MiB
            # in a small file) the prediction asked read() for tens of gigabytes, which it
            # allocates up front: a MemoryError for the whole batch. The rest comes line by line.
            data = fp.read(max(1, min(per_line * size * 15 // 16, _BLOCK_READ_BYTES)))
            if data and not data.endswith(b"\n"):
                data += fp.readline()
            count = data.count(b"\n") + (bool(data) and not data.endswith(b"\n"))
        else:
            data, count = b"", 0
        if count < size:
            missing = list(itertools.islice(fp, size - count))
            data, count = data + b"".join(missing), count + len(missing)
        elif count > size:
            end = len(data)
            for _ in range(count - size):  # the lines after the size-th go back to the file
                end = data.rfind(b"\n", 0, end - 1) + 1
            fp.seek(end - len(data), os.SEEK_CUR)
            data, count = data[:end], size
        if not count:
            return
        yield data, count
        per_line = max(1, len(data) // count)


def block_items(block: LineBlock) -> list[Item]:
    """A block as the text path's items: one per non-blank line, named by its line number."""
    text = block.data.decode("utf-8", errors="replace")
    items: list[Item] = []
    for n, line in enumerate(io.StringIO(text, newline=None), block.first_line):
        if block.first and not items:
            line = line.lstrip()
        if line.strip():
            items.append((f"{block.name} line {n}", line))
    return items


def expand_blocks(items: list[Item]) -> list[Item]:
    """Items with every :class:`LineBlock` replaced by its lines' items."""
    if not any(isinstance(payload, LineBlock) for _, payload in items):
        return items
    out: list[Item] = []
    for item in items:
        out.extend(block_items(item[1]) if isinstance(item[1], LineBlock) else [item])
    return out


def evaluate_block(block: LineBlock, standard: Standard) -> Written | None:
    """A block of wide records through pyarrow's JSON reader and the kernel, serialised
    column-wise; None when the block holds anything the item path must decide.

    Each output line is the input line (trimmed, its closing brace removed) followed by the
    result fields, exactly as :func:`evaluate_chunk` writes it. Concentrations are read as
    ``decimal128(38, 9)``, else ``decimal128(38, 20)``: every digit of a JSON number is kept.
    The reader refuses a value with more decimals than the scale, a boolean, NaN, and text
    that is not a plain number (it reads "12.5" as 12.5, as :func:`parse_number` does; " 5",
    "NaN" or "12,5" it refuses): such a block goes the item path, which says why per record. The block
    goes the item path too when any line is not one flat JSON object, is too long, has a key
    named like a result field, or is in the long form: the reader's column names and types
    tell that, escaped keys included.
    """
    import pyarrow as pa
    import pyarrow.compute as pc
    import pyarrow.json as pj

    from c360.aqi.core import RESULT_FIELDS
    from c360.aqi.kernel import evaluate_table, to_json_lines

    data = block.data
    try:
        data.decode("utf-8")
    except UnicodeDecodeError:
        return None
    if not data.strip():
        return Written(0, 0, 0, b"")
    flat = _read_flat(data, standard)
    if flat is not None:
        results, bodies = flat
        invalid = int(results.status_invalid.sum())
        return Written(len(results) - invalid, invalid, 0, to_json_lines(results, bodies))
    names = standard.field_names()
    table = None
    for scale in (9, 20):  # 9 decimals: no rescaling in the kernel; more: read again
        schema = pa.schema([(name, pa.decimal128(38, scale)) for name in names])
        try:
            table = pj.read_json(
                io.BytesIO(data),
                read_options=pj.ReadOptions(use_threads=False, block_size=len(data) + 1),
                parse_options=pj.ParseOptions(explicit_schema=schema, unexpected_field_behavior="infer"),
            )
            break
        except (pa.ArrowInvalid, pa.ArrowNotImplementedError, pa.ArrowTypeError):
            continue
    if table is None:
        return None
    reserved = set(RESULT_FIELDS) | {"pollutant", "value"}
    if reserved & set(table.column_names):
        return None
    if any(pa.types.is_nested(f.type) for f in table.schema):
        return None
    lines = pc.split_pattern(_string_array(data), "\n").flatten()
    if lines[-1].as_py() == "":
        lines = lines.slice(0, len(lines) - 1)  # after the last newline
    lines = pc.utf8_trim(lines, " \t\r")
    lengths = pc.binary_length(lines)
    if pc.min(lengths).as_py() == 0:
        lines = lines.filter(pc.not_equal(lengths, 0))  # blank lines: no record
        lengths = pc.binary_length(lines)
    if len(lines) != table.num_rows or table.num_rows == 0 or pc.max(lengths).as_py() > MAX_JSON_CHARS:
        return None
    if not (pc.all(pc.starts_with(lines, "{")).as_py() and pc.all(pc.ends_with(lines, "}")).as_py()):
        return None
    results = evaluate_table(table.select(names), standard)
    bodies = pc.utf8_rtrim(pc.utf8_slice_codeunits(lines, 0, -1), " \t\r")
    invalid = int(results.status_invalid.sum())
    return Written(len(lines) - invalid, invalid, 0, to_json_lines(results, bodies))


class _FlatNames:
    """A standard's names as the C reader takes them: its fields, then the keys that send a
    block to pyarrow's reader (result fields, the long form's)."""

    def __init__(self, standard: Standard) -> None:
        import ctypes

        from c360.aqi.core import RESULT_FIELDS

        self.standard = standard
        self.fields = len(standard.fields)
        names = [t.name.encode() for t in standard.fields]
        names += [n.encode() for n in sorted(set(RESULT_FIELDS) | {"pollutant", "value"})]
        self._buffers = [ctypes.create_string_buffer(n, len(n)) for n in names]
        self.count = len(names)
        self.pointers = (ctypes.c_void_p * len(names))(*[ctypes.addressof(b) for b in self._buffers])
        self.lengths = (ctypes.c_int32 * len(names))(*[len(n) for n in names])


_FLAT_NAMES: dict[int, _FlatNames] = {}


def _read_flat(data: bytes, standard: Standard) -> tuple[Any, Any] | None:
    """A block of flat JSON objects whose fields hold plain non-negative numbers (or their
    text, or null), read by c360's C reader (c360/native/flatjson.c): the kernel's results and
    the records' bodies (each line's text before its closing brace). None when there is no C
    library or the block holds anything else; pyarrow's reader then reads it.

    The C reader takes about a fifth of pyarrow's time on such blocks (docs/benchmarks.md),
    the kind sensors send, and reads a number from its digits: ``floor(x * 1e9)`` exactly.
    """
    from c360.native import library

    lib = library()
    if lib is None:
        return None
    import numpy as np
    import pyarrow as pa

    from c360.aqi.kernel import ParsedColumn, evaluate, field_values

    names = _FLAT_NAMES.get(id(standard))
    if names is None or names.standard is not standard:
        names = _FLAT_NAMES[id(standard)] = _FlatNames(standard)
    rows = data.count(b"\n") + 1
    values = np.zeros((names.fields, rows), np.int64)
    present = np.empty((names.fields, rows), np.uint8)
    bodies = np.empty(len(data), np.uint8)
    offsets = np.empty(rows + 1, np.int32)
    n = lib.flatjson_read(
        data, len(data), names.pointers, names.lengths, names.count, names.fields, MAX_JSON_CHARS, rows,
        values.ctypes.data, present.ctypes.data, bodies.ctypes.data, offsets.ctypes.data,
    )  # fmt: skip
    if n <= 0:
        return None
    inputs = {}
    for f, table in enumerate(standard.fields):
        has = present[f, :n].view(bool)
        inputs[table.name] = field_values(ParsedColumn(has, values[f, :n], has, {}, np.zeros(n, np.int8)), table)
    text = pa.Array.from_buffers(pa.string(), n, [None, pa.py_buffer(offsets[: n + 1]), pa.py_buffer(bodies)])
    return evaluate(inputs, standard, n), text


def _string_array(data: bytes) -> Any:
    """One Arrow string holding ``data`` (UTF-8 already checked), without copying it."""
    import numpy as np
    import pyarrow as pa

    offsets = pa.py_buffer(np.array([0, len(data)], np.int32).tobytes())
    return pa.Array.from_buffers(pa.string(), 1, [None, offsets, pa.py_buffer(data)])
