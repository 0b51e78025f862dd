"""Parsing delivered files: every non-empty line is kept, bad ones flagged with why."""

from __future__ import annotations

from pathlib import Path

from c360.contracts.retail import TRANSACTIONS
from c360.raw.parse import ParsedFile, parse_csv, parse_json

COLS = ["id", "name", "amount"]
KEY = ("id",)
P = Path("/in/x.csv")


def _rows(parsed: ParsedFile) -> list[tuple]:
    return [(r.line_number, r.values or None, r.extra or None, r.raw_line, r.parse_error) for r in parsed.rows]


def test_clean_file_by_header_name_any_order_with_quoted_newline_and_unknown_column() -> None:
    data = b'name,id,amount,batch\n"Ada, Countess",1,1.50,x\n"two\nlines",2,,y\n'
    parsed = parse_csv(P, data, COLS, KEY)
    assert _rows(parsed) == [
        (2, {"id": "1", "name": "Ada, Countess", "amount": "1.50"}, {"batch": "x"}, None, None),
        (3, {"id": "2", "name": "two\nlines", "amount": ""}, {"batch": "y"}, None, None),
    ]
    assert parsed.problems == ["unknown column(s) batch: kept in _extra"]


def test_empty_file() -> None:
    parsed = parse_csv(P, b"", COLS, KEY)
    assert (parsed.rows, parsed.problems, parsed.size) == ([], ["empty file (0 bytes): nothing to ingest"], 0)


def test_header_only() -> None:
    parsed = parse_csv(P, b"id,name,amount\n", COLS, KEY)
    assert (parsed.rows, parsed.problems) == ([], ["header only: no data rows"])


def test_wrong_delimiter_keeps_every_line_and_names_the_delimiter() -> None:
    parsed = parse_csv(P, b"id;name;amount\n1;Ada;1.50\n2;Bob;2.00\n", COLS, KEY)
    reason = "header lacks key column(s) id (the file seems to use ';' as delimiter)"
    assert _rows(parsed) == [
        (1, None, None, "id;name;amount", reason),
        (2, None, None, "1;Ada;1.50", reason),
        (3, None, None, "2;Bob;2.00", reason),
    ]
    assert parsed.problems == [f"{reason}: every line kept as malformed"]


def test_binary_garbage_is_kept_escaped_and_flagged() -> None:
    data = b"\x89PNG\r\n\x1a\n\x00\x00\xff\xfe\x10IHDR\n"
    parsed = parse_csv(P, data, COLS, KEY)
    assert _rows(parsed) == [
        (1, None, None, "\\x89PNG", "file is not UTF-8 text"),
        (2, None, None, "\x1a", "file is not UTF-8 text"),
        (3, None, None, "\x00\x00\\xff\\xfe\x10IHDR", "file is not UTF-8 text"),
    ]
    assert parsed.problems[0].startswith("not valid UTF-8 at byte 0")


def test_truncated_last_line_is_kept_with_its_text() -> None:
    parsed = parse_csv(P, b"id,name,amount\n1,Ada,1.50\n2,Bo", COLS, KEY)
    assert _rows(parsed) == [
        (2, {"id": "1", "name": "Ada", "amount": "1.50"}, None, None, None),
        (3, None, None, "2,Bo", "2 fields where the header has 3"),
    ]
    assert parsed.problems == ["1 malformed line(s) kept with their raw text"]


def test_truncated_inside_quotes_is_kept_with_its_text() -> None:
    parsed = parse_csv(P, b'id,name,amount\n1,Ada,1.50\n2,"Bo', COLS, KEY)
    assert [(r.line_number, r.raw_line) for r in parsed.rows if r.parse_error] == [(3, '2,"Bo')]
    assert parsed.rows[1].parse_error is not None and parsed.rows[1].parse_error.startswith("unparseable CSV")


def test_a_stray_quote_does_not_swallow_the_lines_after_it() -> None:
    data = b'id,name,amount\n1,"Ada,1.50\n2,Bob,2.00\n3,Cy,3.00\n'
    parsed = parse_csv(P, data, COLS, KEY)
    assert [(r.line_number, r.values.get("id"), r.raw_line) for r in parsed.rows] == [
        (2, None, '1,"Ada,1.50'),
        (3, "2", None),
        (4, "3", None),
    ]


def test_extra_and_missing_fields_per_line() -> None:
    parsed = parse_csv(P, b"id,name,amount\n1,Ada,1.50,oops\n2,Bob\n\n3,Cy,3\n", COLS, KEY)
    assert _rows(parsed) == [
        (2, None, None, "1,Ada,1.50,oops", "4 fields where the header has 3"),
        (3, None, None, "2,Bob", "2 fields where the header has 3"),
        (5, {"id": "3", "name": "Cy", "amount": "3"}, None, None, None),
    ]


def test_crlf_and_unicode_line_separators_inside_values() -> None:
    parsed = parse_csv(P, "id,name,amount\r\n1,A\u2028da,1\r\n".encode(), COLS, KEY)
    assert _rows(parsed) == [(2, {"id": "1", "name": "A\u2028da", "amount": "1"}, None, None, None)]


def test_missing_optional_column_is_named() -> None:
    parsed = parse_csv(P, b"id,name\n1,Ada\n", COLS, KEY)
    assert parsed.problems == ["header lacks column(s) amount: left empty"]
    assert _rows(parsed) == [(2, {"id": "1", "name": "Ada", "amount": None}, None, None, None)]


def test_contract_columns_drive_the_header_check() -> None:
    header = ",".join(TRANSACTIONS.raw_columns).encode()
    parsed = parse_csv(P, header + b"\n", TRANSACTIONS.raw_columns, TRANSACTIONS.key)
    assert parsed.problems == ["header only: no data rows"]


J = Path("/in/readings.json")


def test_zero_byte_json() -> None:
    parsed = parse_json(J, b"")
    assert (parsed.rows, parsed.problems) == ([], ["empty file: nothing to ingest"])


def test_json_lines_keep_exact_text_and_flag_broken_lines() -> None:
    data = b'{"a": 1}\n\n{"a": 2, "b": "x\\u2028y"}\n{"a": 3, "b\n[1, 2]\n'
    parsed = parse_json(J, data)
    assert _rows(parsed) == [
        (1, {"record": '{"a": 1}'}, None, None, None),
        (3, {"record": '{"a": 2, "b": "x\\u2028y"}'}, None, None, None),
        (4, None, None, '{"a": 3, "b', "invalid JSON: Unterminated string starting at at column 10"),
        (5, None, None, "[1, 2]", "JSON line is not an object"),
    ]
    assert parsed.problems == ["2 malformed record(s) kept with their raw text"]


def test_json_array_elements_keep_their_text() -> None:
    parsed = parse_json(J, b'[\n {"a": 1},\n {"a": [2, 3]}\n]\n')
    assert _rows(parsed) == [
        (1, {"record": '{"a": 1}'}, None, None, None),
        (2, {"record": '{"a": [2, 3]}'}, None, None, None),
    ]
    assert parsed.problems == []


def test_truncated_json_array_keeps_the_rest_of_the_text() -> None:
    parsed = parse_json(J, b'[{"a": 1}, {"a": 2, "b": [1,\n {"a": 3}]')
    assert _rows(parsed) == [
        (1, {"record": '{"a": 1}'}, None, None, None),
        (
            2,
            None,
            None,
            '{"a": 2, "b": [1,\n {"a": 3}]',
            "invalid JSON element (the rest of the array kept as is): Expecting ',' delimiter",
        ),
    ]


def test_unclosed_json_array_is_flagged() -> None:
    parsed = parse_json(J, b'[{"a": 1},')
    assert _rows(parsed) == [
        (1, {"record": '{"a": 1}'}, None, None, None),
        (2, None, None, "", "JSON array is not closed (truncated file?)"),
    ]
