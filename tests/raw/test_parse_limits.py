"""Parsing hostile content: limits that say what happened, encodings that cost one line, not a file."""

from __future__ import annotations

import csv
from pathlib import Path

from c360.jsonlimits import MAX_JSON_CHARS, MAX_JSON_DEPTH, scan_value, too_deep
from c360.raw.parse import MAX_FIELD_CHARS, ParsedFile, parse_csv, parse_json

COLS = ["id", "name", "amount"]
KEY = ("id",)
P = Path("/in/x.csv")
J = Path("/in/readings.jsonl")
DEEP = '{"a": ' * 5000 + "1" + "}" * 5000  # far past Python's recursion limit


def _rows(parsed: ParsedFile) -> list[tuple]:
    return [(r.line_number, r.values or None, r.raw_line, r.parse_error) for r in parsed.rows]


def test_a_field_over_csvs_default_128_kib_is_a_valid_value() -> None:
    long = "x" * 200_000  # csv's default limit is 131072
    parsed = parse_csv(P, f"id,name,amount\n1,{long},2\n".encode(), COLS, KEY)
    assert _rows(parsed) == [(2, {"id": "1", "name": long, "amount": "2"}, None, None)]
    assert csv.field_size_limit() == MAX_FIELD_CHARS


def test_a_field_over_the_raised_limit_is_one_malformed_line_saying_so() -> None:
    huge = "y" * (MAX_FIELD_CHARS + 1)
    parsed = parse_csv(P, f"id,name,amount\n1,{huge},2\n2,Bob,3\n".encode(), COLS, KEY)
    first, second = parsed.rows
    assert (first.line_number, first.raw_line == f"1,{huge},2") == (2, True)
    assert first.parse_error == "a field is longer than the 16 MiB limit (c360.raw.parse.MAX_FIELD_CHARS)"
    assert (second.line_number, second.values, second.parse_error) == (
        3,
        {"id": "2", "name": "Bob", "amount": "3"},
        None,
    )


def test_one_undecodable_byte_costs_its_line_only_and_keeps_the_bytes_readable() -> None:
    data = b"id,name,amount\n1,Caf\xe9,1\n2,Bob,2\n"
    parsed = parse_csv(P, data, COLS, KEY)
    assert _rows(parsed) == [
        (2, None, "1,Caf\\xe9,1", "not valid UTF-8 text (undecodable bytes kept escaped as \\xNN)"),
        (3, {"id": "2", "name": "Bob", "amount": "2"}, None, None),
    ]
    assert parsed.problems == [
        "1 line(s) not valid UTF-8: kept as malformed, bytes escaped",
        "1 malformed line(s) kept with their raw text",
    ]


def test_a_contract_encoding_reads_a_latin_1_supplier_in_full() -> None:
    data = "id,name,amount\n1,Café,1\n2,Zoë,2\n".encode("latin-1")
    parsed = parse_csv(P, data, COLS, KEY, encoding="latin-1")
    assert [r.values["name"] for r in parsed.rows] == ["Café", "Zoë"]
    assert parsed.problems == []


def test_an_undecodable_header_flags_every_line_with_its_bytes_escaped() -> None:
    parsed = parse_csv(P, b"id,n\xe4me,amount\n1,Ada,1\n", COLS, KEY)
    reason = "header is not valid UTF-8 text (undecodable bytes kept escaped as \\xNN)"
    assert _rows(parsed) == [(1, None, "id,n\\xe4me,amount", reason), (2, None, "1,Ada,1", reason)]


def test_a_json_line_nested_too_deep_is_malformed_and_the_others_are_read() -> None:
    data = f'{{"a": 1}}\n{DEEP}\n{{"a": 2}}\n'.encode()
    parsed = parse_json(J, data)
    reason = f"JSON nested deeper than {MAX_JSON_DEPTH} levels (the limit, c360.jsonlimits.MAX_JSON_DEPTH)"
    assert _rows(parsed) == [
        (1, {"record": '{"a": 1}'}, None, None),
        (2, None, DEEP, reason),
        (3, {"record": '{"a": 2}'}, None, None),
    ]


def test_a_json_line_over_the_size_limit_is_malformed() -> None:
    big = '{"a": "' + "z" * MAX_JSON_CHARS + '"}'
    parsed = parse_json(J, f'{big}\n{{"a": 2}}\n'.encode())
    assert parsed.rows[0].parse_error == (
        f"JSON record of {len(big)} characters is over the 16 MiB limit (c360.jsonlimits.MAX_JSON_CHARS)"
    )
    assert parsed.rows[0].raw_line == big
    assert parsed.rows[1].values == {"record": '{"a": 2}'}


def test_a_deep_element_of_a_json_array_is_skipped_by_its_brackets_and_the_array_goes_on() -> None:
    data = f'[{{"a": 1}}, {DEEP}, {{"a": "]"}}]'.encode()
    parsed = parse_json(Path("/in/readings.json"), data)
    assert [(r.line_number, r.values.get("record"), r.parse_error is not None) for r in parsed.rows] == [
        (1, '{"a": 1}', False),
        (2, None, True),
        (3, '{"a": "]"}', False),
    ]
    assert parsed.rows[1].raw_line == DEEP


def test_undecodable_json_line_is_kept_escaped() -> None:
    parsed = parse_json(J, b'{"a": "\xff"}\n{"a": 2}\n')
    assert _rows(parsed)[0] == (
        1,
        None,
        '{"a": "\\xff"}',
        "not valid UTF-8 text (undecodable bytes kept escaped as \\xNN)",
    )
    assert parsed.rows[1].values == {"record": '{"a": 2}'}


def test_depth_scan_skips_strings_and_needs_no_recursion() -> None:
    assert scan_value('{"a": "}}}", "b": [1, {"c": 2}]} tail') == (len('{"a": "}}}", "b": [1, {"c": 2}]}'), 3)
    assert scan_value('{"a": [1, 2') == (None, 2)
    assert too_deep("[" * 101 + "]" * 101) and not too_deep("[" * 100 + "]" * 100)
    assert not too_deep('{"a": "' + "[" * 500 + '"}')  # brackets inside a string do not nest
