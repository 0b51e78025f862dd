"""Bounds on JSON text that c360 parses, shared by raw ingestion and the AQI calculator.

Python's ``json`` module recurses once per nesting level, so a value nested a few
thousand levels deep raises ``RecursionError`` (how deep exactly depends on the stack in
use at that moment). Both readers check the depth first, without recursion, and treat a
deeper value as one malformed record: the limit is the same wherever the text is read,
and far above what any real source sends (sensor readings are two levels deep).
"""

from __future__ import annotations

import re

MAX_JSON_DEPTH = 100  # nesting levels of objects and arrays
MAX_JSON_CHARS = 16 << 20  # one JSON record (a line, or an array element)

# A JSON string (unrolled loop: no backtracking, escapes included, unterminated allowed) or a bracket.
_TOKENS = re.compile(r'"[^"\\]*(?:\\.[^"\\]*)*"?|[\[\]{}]', re.S)


def scan_value(text: str, start: int = 0) -> tuple[int | None, int]:
    """(end, depth) of the JSON object or array that starts at ``text[start]``.

    ``end`` is the index just after its closing bracket, or None when the text ends first;
    ``depth`` is the deepest nesting seen. Strings are skipped whole, so brackets inside
    them do not count. Iterative: any depth is scanned without recursion.
    """
    depth = deepest = 0
    for match in _TOKENS.finditer(text, start):
        token = match.group()
        if token in "[{":
            depth += 1
            deepest = max(deepest, depth)
        elif token in "]}":
            depth -= 1
            if depth <= 0:
                return match.end(), deepest
        elif depth == 0:  # a string before any bracket: not a container value
            return None, deepest
    return None, deepest


def too_deep(text: str, limit: int = MAX_JSON_DEPTH) -> bool:
    """Whether the JSON text nests deeper than ``limit``; counting brackets first keeps
    the common case (a flat record) to two C-speed passes."""
    if text.count("[") + text.count("{") <= limit:
        return False
    depth = 0
    for match in _TOKENS.finditer(text):
        token = match.group()
        if token in "[{":
            depth += 1
            if depth > limit:
                return True
        elif token in "]}":
            depth -= 1
    return False


def depth_message(limit: int = MAX_JSON_DEPTH) -> str:
    return f"JSON nested deeper than {limit} levels (the limit, c360.jsonlimits.MAX_JSON_DEPTH)"


def size_message(chars: int, limit: int = MAX_JSON_CHARS) -> str:
    return f"JSON record of {chars} characters is over the {limit >> 20} MiB limit (c360.jsonlimits.MAX_JSON_CHARS)"
