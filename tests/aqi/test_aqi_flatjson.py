"""The C reader of JSON Lines blocks (c360/native/flatjson.c) against pyarrow's reader and the
line-by-line path: for any block, reading it with the C library gives the text and counts
reading it without gives. The C reader takes blocks of flat objects with plain numbers and
says no to anything else; these tests feed it what sensors send, every odd line the runner's
tests know, random flat records, and random corruptions of them."""

from __future__ import annotations

import json
import random
import shutil
from decimal import Decimal

import pytest

from c360.aqi import calculate, load_standard
from c360.aqi.jsonio import LineBlock, Written, _read_flat
from c360.aqi.runner import process_chunk
from c360.native import library
from tests.aqi.test_aqi_runner import ODD_LINES

STANDARD = load_standard("us-epa-2024")
FIELDS = STANDARD.field_names()

# The C reader is optional: without a C compiler make venv notes that and the JSON path reads with
# pyarrow alone (tested everywhere else). With a compiler, a library that was not built fails below.
needs_library = pytest.mark.skipif(
    library() is None and shutil.which("cc") is None,
    reason="no C compiler on this machine, so no C reader to test (optional; the pyarrow path is tested)",
)


def _text(block: bytes, *, native: bool, monkeypatch: pytest.MonkeyPatch) -> tuple[str, int, int, int]:
    """A block's JSON Lines output and counts, as a worker writes them, with or without the C reader."""
    with monkeypatch.context() as patch:
        if not native:
            patch.setattr("c360.native.library", lambda: None)
        out = process_chunk([("b.jsonl lines 1-", LineBlock("b.jsonl", 1, block, False))], STANDARD, True)
    if len(out) == 1 and isinstance(out[0], Written):
        w = out[0]
        return w.data.decode("utf-8"), w.ok, w.invalid, w.failed
    statuses = [status for status, _ in out]
    text = "".join(line + "\n" for _, line in out)
    return text, statuses.count("ok"), statuses.count("invalid"), statuses.count("failed")


# Lines at the C reader's own edges, besides the runner's odd lines.
EDGE_LINES = [
    '{"pm25_24h": 1,}', '{,"pm25_24h": 1}', '{"pm25_24h": 1 "o3_8h": 0.1}', '{"pm25_24h" 1}', '{"pm25_24h":: 1}',
    '{"pm25_24h": 1}}', '{{"pm25_24h": 1}', '{"pm25_24h": 01}', '{"pm25_24h": 1.}', '{"pm25_24h": .5}',
    '{"pm25_24h": 5.}', '{"pm25_24h": 1.5.5}', '{"pm25_24h": 0.000000001}', '{"pm25_24h": 0.0000000001}',
    '{"pm25_24h": 999999999.999999999}', '{"pm25_24h": 1000000000}', '{"pm25_24h": nul}', '{"pm25_24h": nulls}',
    '{"station": tru, "pm25_24h": 1}', '{"station": "\\u12", "pm25_24h": 1}', '{"station": "\\q", "pm25_24h": 1}',
    '{"id": -, "pm25_24h": 1}', '{"id": 1e, "pm25_24h": 1}', '{"id": 1e+, "pm25_24h": 1}',
    '{"id": ' + "9" * 70 + ', "pm25_24h": 1}', '{"pm25_24h": 1, "x\\": 2}', '{"pm25_24h": 1}\r\r',
    '{"id": ' + "9" * 5000 + ', "pm25_24h": 1}', '{"station": "' + "{" * 150 + '", "pm25_24h": 1}',
    '{"pm25_24h": 35.4999999999999999999999999}', '{"pm25_24h": 35.499999999999999999995}',
    '{"pm25_24h": 35.49999999999999999999}', "{\t}", "{ }", '\t{"pm25_24h": 12.0}', '{"pm25_24h": 12.0}\u3000',
]  # fmt: skip


def _number(rng: random.Random) -> str:
    """A plain JSON number, mostly as sensors write them (up to 4 integer digits and 4
    decimals), sometimes longer; or a band edge's neighbour."""
    if rng.random() < 0.3:
        edge = rng.choice(["12.0", "35.4", "55.4", "0.054", "0.070", "0.125", "4.4", "35", "75", "185", "0.205"])
        step = Decimal(1).scaleb(-rng.randint(0, 4))
        return str(max(Decimal(0), Decimal(edge) + rng.choice([-step, 0, step])))
    rare = rng.random() < 0.02  # 10 integer digits (the C reader says no) or 10-11 decimals
    whole = str(rng.randrange(10 ** (10 if rare else rng.randint(0, 4)))) if rng.random() < 0.9 else "0"
    decimals = rng.randint(10, 11) if rare and rng.random() < 0.5 else rng.randint(0, 9 if rng.random() < 0.1 else 4)
    return whole + ("." + "".join(rng.choice("0123456789") for _ in range(decimals)) if decimals else "")


def _field_value(rng: random.Random) -> str:
    """A field's value: a number, mostly; or its text, or a text the C reader leaves to pyarrow's; or null."""
    draw = rng.random()
    if draw < 0.8:
        return _number(rng)
    if draw < 0.9:
        return '"' + _number(rng) + '"'
    if draw < 0.95:
        return json.dumps(rng.choice([" 5", "5 ", "+4", "-0", "1e2", "007", ".5", "5.", "", "NaN", "12,5"]))
    return "null"


def _other(rng: random.Random) -> str:
    """A value of a key that is not a field: any JSON scalar."""
    return rng.choice([
        json.dumps(rng.choice(["S001", "São Paulo ☃", 'quo"te', "back\\slash", "{[braces]}", "", "tab\there"])),
        '"\\u00e9\\n\\/"', "true", "false", "null", "-12.5e-3", "0", "123456789012345678901234567890",
    ])  # fmt: skip


def _record(rng: random.Random) -> str:
    """A flat record: some fields, numbers or null, and other keys, in random order and spacing."""
    members = [(f, _field_value(rng)) for f in FIELDS if rng.random() < 0.7]
    members += [(k, _other(rng)) for k in ("station", "id", "note") if rng.random() < 0.5]
    rng.shuffle(members)
    space = lambda: rng.choice(["", "", " ", "  ", "\t"])  # noqa: E731
    body = ",".join(f"{space()}{json.dumps(k)}{space()}:{space()}{v}{space()}" for k, v in members)
    return space() + "{" + body + "}" + space() + rng.choice(["", "", "\r"])


def _block(lines: list[str]) -> bytes:
    return "".join(line + "\n" for line in lines).encode("utf-8")


def _readable(rng: random.Random, n: int) -> list[str]:
    """``n`` random records the C reader takes, so that a block of them and one odd line
    stands or falls by the odd line."""
    lines: list[str] = []
    while len(lines) < n:
        line = _record(rng)
        if library() is None or _read_flat(_block([line]), STANDARD) is not None:
            lines.append(line)
    return lines


@needs_library
def test_the_library_is_built_and_reads_a_block_of_sensor_lines() -> None:
    assert library() is not None, "make venv builds c360's C library where a C compiler exists"
    lines = [
        '{"station": "S1", "pm25_24h": 35.45, "o3_8h": 0.205}',
        ' {"pm25_24h" : 12 ,\t"so2_1h":305 }\t',
        "",
        "{}",
        '{"pm10_24h": null, "note": "a\\"b", "co_8h": 999999999.999999999}\r',
        '{"o3_1h": "0.205", "station": "S2"}',  # a number's text: read as the number
    ]
    flat = _read_flat(_block(lines), STANDARD)
    assert flat is not None
    results, bodies = flat
    assert bodies.to_pylist() == [
        '{"station": "S1", "pm25_24h": 35.45, "o3_8h": 0.205',
        '{"pm25_24h" : 12 ,\t"so2_1h":305',
        "{",
        '{"pm10_24h": null, "note": "a\\"b", "co_8h": 999999999.999999999',
        '{"o3_1h": "0.205", "station": "S2"',
    ]
    # The same indices as the per-record path reading each number as a Decimal from its text.
    records = [json.loads(line, parse_float=Decimal) for line in lines if line.strip()]
    expected = [r["aqi"] for r in calculate(records, standard="us-epa-2024", workers=1)]
    assert results.aqi.tolist() == [-1 if aqi is None else aqi for aqi in expected]
    assert expected[:2] == [100, 200]  # pm25_24h 35.45 -> 100 (o3_8h 0.205 defers to 1-hour), so2_1h 305 -> 200


@needs_library
@pytest.mark.parametrize("odd", ODD_LINES + EDGE_LINES)
def test_an_odd_line_among_sensor_lines_is_written_as_without_the_library(odd: str, monkeypatch) -> None:
    rng = random.Random(odd)
    block = _block(_readable(rng, 5) + [odd] + _readable(rng, 5))
    assert _text(block, native=True, monkeypatch=monkeypatch) == _text(block, native=False, monkeypatch=monkeypatch)


@needs_library
def test_random_flat_records_are_written_as_without_the_library(monkeypatch) -> None:
    rng = random.Random(17)
    taken = 0
    for _ in range(100):
        block = _block([_record(rng) for _ in range(rng.randint(1, 12))])
        taken += _read_flat(block, STANDARD) is not None
        assert _text(block, native=True, monkeypatch=monkeypatch) == _text(block, native=False, monkeypatch=monkeypatch)
    assert taken >= 15, "the C reader took too few of the blocks for the test to mean anything"


@needs_library
def test_corrupted_records_are_written_as_without_the_library(monkeypatch) -> None:
    """One byte inserted, replaced or removed anywhere in a record: the C reader says no, or
    reads what pyarrow's reader and the line path read."""
    rng = random.Random(29)
    significant = '{}[]":,\\ \t\r\n-+.eE019tfnul\x00\x7fé'
    taken = 0
    for _ in range(400):
        line = _record(rng)
        at = rng.randrange(len(line) + 1)
        what = rng.random()
        if what < 0.4:
            line = line[:at] + rng.choice(significant) + line[at:]
        elif what < 0.8 and at < len(line):
            line = line[:at] + rng.choice(significant) + line[at + 1 :]
        else:
            line = line[:at] + line[at + 1 :]
        block = _block(_readable(rng, 1) + [line] + _readable(rng, 1))
        taken += _read_flat(block, STANDARD) is not None
        native = _text(block, native=True, monkeypatch=monkeypatch)
        assert native == _text(block, native=False, monkeypatch=monkeypatch), repr(line)
    assert taken >= 40, "the C reader took too few of the blocks for the test to mean anything"


@pytest.mark.skipif(shutil.which("cc") is None, reason="no C compiler on this machine to build the library with")
def test_the_install_builds_the_library(tmp_path) -> None:
    import ctypes

    from c360.native import build

    built = build(tmp_path / "lib" / "libc360.so")
    assert hasattr(ctypes.CDLL(str(built)), "flatjson_read")


def test_a_missing_compiler_is_a_note_and_the_install_goes_on(tmp_path, monkeypatch, capsys) -> None:
    from c360.native import main

    # What make venv runs: a compiler that cannot run leaves a note and no library.
    monkeypatch.setenv("CC", str(tmp_path / "no-such-cc"))
    monkeypatch.setenv("C360_NATIVE_LIBRARY", str(tmp_path / "none" / "libc360.so"))
    main()
    assert "reads with pyarrow alone" in capsys.readouterr().err
    assert not (tmp_path / "none" / "libc360.so").exists()
    # The library switched off: a note too, not an error that would stop make venv.
    monkeypatch.setenv("C360_NATIVE_LIBRARY", "off")
    main()
    assert "C360_NATIVE_LIBRARY=off" in capsys.readouterr().err
