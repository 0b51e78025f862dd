"""The JSON path end to end: sources, worker deaths, garbage lines, order, counts, CLI."""

from __future__ import annotations

import json
import random
from pathlib import Path

import pytest
from typer.testing import CliRunner

from c360.aqi import calculate
from c360.aqi.runner import FAULT_ENV


def _lines(n: int) -> list[str]:
    return [json.dumps({"id": i, "pm25_24h": f"{i % 300}.{i % 10}"}) for i in range(n)]


def test_worker_crash_mid_batch_completes_and_reports_the_chunk(tmp_path, monkeypatch) -> None:
    monkeypatch.setenv(FAULT_ENV, str(tmp_path))
    records = [{"id": i, "pm25_24h": "10.0"} for i in range(4000)]
    records[1500]["__crash__"] = "always"  # chunk 1 (records 1000..1999) kills its worker twice
    records[3100]["__crash__"] = "once"  # chunk 3 kills one worker, then succeeds on retry
    run = calculate(records, workers=2, chunk_size=1000)
    out = list(run)

    assert [r["id"] for r in out] == list(range(4000))  # complete and in input order
    assert (run.counts.ok, run.counts.invalid, run.counts.failed) == (3000, 0, 1000)
    assert sorted(run.retries) == [(1, 1), (1, 2), (3, 1)]
    failed = [r for r in out if r["status"] == "failed"]
    assert [r["id"] for r in failed] == list(range(1000, 2000))
    assert failed[0] == {
        "id": 1000,
        "pm25_24h": "10.0",
        "aqi": None,
        "category": None,
        "color": None,
        "dominant_pollutant": [],
        "sub_indices": {},
        "notes": [],
        "errors": [
            {
                "field": None,
                "kind": "worker_failed",
                "message": "record 1001: worker process died 2 times processing this chunk",
            }
        ],
        "status": "failed",
    }
    assert out[3100]["aqi"] == 53 and out[3100]["status"] == "ok"


def test_crash_marker_is_plain_data_without_the_fault_injection_switch(monkeypatch) -> None:
    monkeypatch.delenv(FAULT_ENV, raising=False)
    records = [{"pm25_24h": "10.0", "__crash__": "always"}] * 30
    run = calculate(records, workers=2, chunk_size=10)
    assert [r["aqi"] for r in run] == [53] * 30  # 49/26.3 * 0.9 + 51 = 52.68
    assert run.retries == []


def test_file_with_5_percent_garbage_is_processed_to_the_end(tmp_path: Path) -> None:
    rng = random.Random(5)
    lines = _lines(6000)
    garbage = sorted(rng.sample(range(6000), 300))
    for i in garbage:
        lines[i] = rng.choice(['{"id": 1, "pm25', "not json", "[1, 2", '{"pm25_24h": 12,5}', "\x00\x01"])
    lines[10] = json.dumps({"id": 10, "pm25_24h": "NaN"})  # valid JSON, invalid value
    path = tmp_path / "readings.jsonl"
    path.write_text("\n".join(lines) + "\n")

    run = calculate(path, workers=2, chunk_size=1000)
    out = list(run)

    invalid = {i for i, r in enumerate(out) if r["status"] == "invalid"}
    assert len(out) == 6000
    assert invalid == set(garbage) | {10}
    assert (run.counts.ok, run.counts.invalid, run.counts.failed) == (6000 - len(invalid), len(invalid), 0)
    first = out[garbage[0]]
    assert first["errors"][0]["kind"] == "malformed_json"
    assert first["errors"][0]["message"].startswith(f"readings.jsonl line {garbage[0] + 1}: ")
    assert first["_raw"] == lines[garbage[0]]
    assert [r["id"] for i, r in enumerate(out) if i not in invalid] == [i for i in range(6000) if i not in invalid]


def test_json_array_folder_and_text_sources(tmp_path: Path) -> None:
    folder = tmp_path / "in"
    folder.mkdir()
    (folder / "a.json").write_text(
        '[\n {"id": 1, "pm25_24h": 9.0},\n {"id": 2, "pm25_24h": oops},\n {"id": 3, "pm25_24h": 9.1}\n]'
    )
    (folder / "b.jsonl").write_text('{"id": 4, "o3_8h": 0.071}\n\n{"id": 5, "pm10_24h": "55"}\n')
    (folder / "notes.txt").write_text("ignored")
    out = list(calculate(folder, workers=2, chunk_size=2))
    assert [(r.get("id"), r["aqi"]) for r in out] == [(1, 50), (None, None), (3, 51), (4, 101), (5, 51)]
    assert out[1]["errors"][0]["message"].startswith("a.json item 2: ")

    text = calculate('{"pm25_24h": 35.5}\n{"pm25_24h": 35.4}', workers=1)
    assert [r["category"] for r in text] == ["Unhealthy for Sensitive Groups", "Moderate"]
    assert [r["aqi"] for r in calculate('{\n  "pm25_24h": 0.0\n}')] == [0]


def test_cli_writes_json_lines_with_input_fields_and_counts(tmp_path: Path) -> None:
    from c360.cli import app

    source = tmp_path / "in.jsonl"
    source.write_text('{"station": "A", "pm25_24h": 12.30}\nbroken\n{"station": "B", "o3_1h": 0.1}\n')
    target = tmp_path / "out" / "aqi.jsonl"
    result = CliRunner().invoke(app, ["aqi", "compute", str(source), "--output", str(target)])
    assert result.exit_code == 0, result.output
    rows = [json.loads(line) for line in target.read_text().splitlines()]
    assert [(r.get("station"), r.get("pm25_24h"), r["aqi"], r["status"]) for r in rows] == [
        ("A", 12.3, 57, "ok"),
        (None, None, None, "invalid"),
        ("B", None, None, "ok"),
    ]
    # The input record's own text, untouched (digits and spacing), then the result fields.
    assert target.read_text().startswith('{"station": "A", "pm25_24h": 12.30,"aqi":57,')
    assert "records: 3  ok: 2  invalid: 1  failed: 0" in result.output


def test_cli_other_standard_and_unknown_standard(tmp_path: Path) -> None:
    from c360.cli import app

    source = tmp_path / "in.jsonl"
    source.write_text('{"pm25_24h": 76}\n')
    out = CliRunner().invoke(app, ["aqi", "compute", str(source), "--standard", "cn-hj633-2012"])
    assert json.loads(out.stdout.splitlines()[0])["aqi"] == 102
    bad = CliRunner().invoke(app, ["aqi", "compute", str(source), "--standard", "nope"])
    assert bad.exit_code != 0


@pytest.mark.parametrize("workers", [1, 3])
def test_results_do_not_depend_on_pool_size(workers: int) -> None:
    records = [{"id": i, "no2_1h": str(i)} for i in range(2500)]
    expected = [r["aqi"] for r in calculate(records, workers=1, chunk_size=100_000)]
    assert [r["aqi"] for r in calculate(records, workers=workers, chunk_size=300)] == expected


# ----------------------------------------------------------------------------- JSON Lines in blocks

ODD_LINES = [
    '  {"pm25_24h": 12.0}  ',
    '{"pm25_24h": "12.5", "station": "quoted number"}',
    '{"pm25_24h": "+4.", "pm10_24h": ".5", "o3_8h": "-.5", "o3_1h": "1.0000000000", "so2_1h": "1e2"}',
    '{"pm25_24h": " 5", "pm10_24h": "5 ", "co_8h": "\\t5", "no2_1h": "0x10", "so2_24h": "1e99999"}',
    '{"pm25_24h": "NaN", "pm10_24h": "", "co_8h": "12,5"}',
    '{"pm25_24h": 1e2}',
    '{"pm25_24h": 1E-2, "o3_8h": 7.1e-2}',
    '{"pm25_24h": -0}',
    '{"pm25_24h": -0.0, "o3_1h": -0.0000000000000000001}',
    '{"pm25_24h": -1}',
    '{"pm25_24h": 0.0549999999999999999999}',
    '{"pm25_24h": 0.05499999999999, "o3_8h": 0.20500000000000000001}',
    '{"pm25_24h": 12345678901}',
    '{"pm25_24h": 999999999.9999999999}',
    '{"pm25_24h": 1e400}',
    '{"pm25_24h": null}',
    "{}",
    '{"station": "x"}',
    '{"pm25_24h": true}',
    '{"pm25_24h": [1]}',
    '{"pm25_24h": {"a": 1}}',
    '{"station": {"name": "nested"}, "pm25_24h": 5}',
    '{"pollutant": "pm25", "averaging": "24h", "value": 35.45, "unit": "ug/m3"}',
    '{"aqi": 5, "pm25_24h": 1}',
    '{"\\u0061qi": 5, "pm25_24h": 1}',
    '{"pm25_24h": 1, "pm25_24h": 2}',
    '{"pm25_24h": NaN}',
    '{"x": NaN, "pm25_24h": 3}',
    "not json",
    '{"pm25',
    "[1, 2]",
    "5",
    '"text"',
    '{"station": "São Paulo ☃", "pm25_24h": 9.05}',
    '{"station": "tab\\there", "pm25_24h": 9}',
    '{"pm25_24h": 9.05} trailing',
    '{"pm25_24h":9.05,"so2_1h":305,"so2_24h":900}',
    '{"pm25_24h": 1}\r{"pm25_24h": 2}',
    '{"pm25_24h": 3}\r',
    "   ",
    "",
    '{"o3_8h": 0.205, "o3_1h": 0.205, "pm10_24h": 604.5, "co_8h": 50.5, "no2_1h": 2049}',
    '{"station": "raw\ttab", "pm25_24h": 1}',  # control characters inside strings: not JSON
    '{"station": "raw\rreturn", "pm25_24h": 1}',
    '{"station": "nul\x00", "pm25_24h": 1}',
    '\ufeff{"pm25_24h": 1}',  # a byte order mark in the middle of a file
    '\u00a0{"pm25_24h": 1}\u00a0',
    '{"pm25_24h": 1}\x0c',
    '{"pm25_24h": 1}\x1f',
    '{"station": "line\u2028separator", "pm25_24h": 1}',
    '{"station": "a", "station": "b", "pm25_24h": 1}',
    '{"id": 123456789012345678901234567890, "pm25_24h": 1}',
    '{"pm25\\u005f24h": 35.5}',
    '{ "pm25_24h" : 5 , "o3_8h" : 0.1 }',
    '{"pm25_24h": 1e30}',
    '{"station": "\\ud800", "pm25_24h": 1}',
]


def _clean(i: int) -> str:
    return json.dumps({"id": i, "station": f"S{i % 7}", "pm25_24h": float(f"{i % 300}.{i % 10}"), "o3_8h": 0.071})


def test_json_lines_in_blocks_write_what_the_line_path_writes(tmp_path: Path, monkeypatch) -> None:
    """The CLI's path reads a JSON Lines file in blocks (pyarrow's reader and the kernel); any
    block with an odd line goes line by line. Both must write the same text and counts."""
    import io

    from c360.aqi import api

    lines = ["", "   " + _clean(0)]  # a blank first line, then leading spaces
    for n, odd in enumerate(ODD_LINES):
        lines += [_clean(10 * n + k) for k in range(1, 9)] + [odd]
    text = "\r\n".join(lines[:20]) + "\n" + "\n".join(lines[20:]) + "\n"
    path = tmp_path / "mixed.jsonl"
    path.write_bytes(text.encode("utf-8") + b'{"station": "\xff not UTF-8", "pm25_24h": 1}\n' + _clean(9999).encode())

    def write(chunk_size: int) -> tuple[str, tuple[int, int, int]]:
        out = io.StringIO()
        counts = calculate(path, workers=2, chunk_size=chunk_size).write_jsonl(out)
        return out.getvalue(), (counts.ok, counts.invalid, counts.failed)

    in_blocks = {size: write(size) for size in (4, 9, 1000)}
    monkeypatch.setattr(api, "line_blocks", lambda source, size: None)  # the line-by-line path
    by_line = write(9)
    for size, got in in_blocks.items():
        assert got == by_line, size
    # A real file: blocks are copied from the workers' spool files between lines written as text.
    monkeypatch.undo()
    target = tmp_path / "out.jsonl"
    with target.open("w", encoding="utf-8") as fp:
        calculate(path, workers=2, chunk_size=9).write_jsonl(fp)
    assert target.read_text("utf-8") == by_line[0]
    assert by_line[1][0] > 300 and by_line[1][1] > 10


def test_a_block_of_plain_lines_goes_the_fast_path_and_an_odd_one_does_not(tmp_path: Path) -> None:
    from c360.aqi import load_standard
    from c360.aqi.jsonio import LineBlock, evaluate_block

    standard = load_standard("us-epa-2024")
    clean = "".join(_clean(i) + "\n" for i in range(50)).encode()
    written = evaluate_block(LineBlock("a.jsonl", 1, clean, True), standard)
    assert written is not None and (written.ok, written.invalid) == (50, 0)
    assert written.data.decode().splitlines()[0].startswith(_clean(0)[:-1] + ',"aqi":')
    line_path = [
        '{"pm25_24h": "NaN", "pm10_24h": "", "co_8h": "12,5"}',  # text the decimal reader refuses
        '{"pm25_24h": 0.0549999999999999999999}',  # more decimals than the reader keeps
        '{"pm25_24h": true}',
        '{"pm25_24h": [1]}',
        '{"station": {"name": "nested"}, "pm25_24h": 5}',
        '{"pollutant": "pm25", "averaging": "24h", "value": 35.45, "unit": "ug/m3"}',
        '{"aqi": 5, "pm25_24h": 1}',
        '{"\\u0061qi": 5, "pm25_24h": 1}',
        '{"pm25_24h": 1, "pm25_24h": 2}',
        '{"pm25_24h": NaN}',
        "not json",
        "5",
        '{"pm25_24h": 9.05} trailing',
        '{"pm25_24h": 1}\r{"pm25_24h": 2}',
    ]
    fast_path = [
        '{"pm25_24h": "12.5", "station": "quoted number"}',  # text that is a plain number
        '  {"pm25_24h": 12.0}  ',
        '{"pm25_24h": 1e2}',
        '{"pm25_24h": -0}',
        "{}",
        '{"station": "São Paulo ☃", "pm25_24h": 9.05}',
        '{"pm25_24h":9.05,"so2_1h":305,"so2_24h":900}',
    ]
    for odd in line_path + fast_path:
        assert odd in ODD_LINES
        written = evaluate_block(LineBlock("a.jsonl", 1, clean + odd.encode() + b"\n", False), standard)
        assert (written is None) == (odd in line_path), odd


def test_a_killed_worker_loses_no_line_of_a_json_lines_file(tmp_path: Path, monkeypatch) -> None:
    import io

    monkeypatch.setenv(FAULT_ENV, str(tmp_path))
    records = [{"id": i, "pm25_24h": 10.0} for i in range(4000)]
    records[1500]["__crash__"] = "always"  # block 1 (lines 1001..2000) kills its worker twice
    records[3100]["__crash__"] = "once"  # block 3 kills one worker, then succeeds on retry
    path = tmp_path / "readings.jsonl"
    path.write_text("".join(json.dumps(r) + "\n" for r in records))
    run = calculate(path, workers=2, chunk_size=1000)
    out = io.StringIO()
    counts = run.write_jsonl(out)

    rows = [json.loads(line) for line in out.getvalue().splitlines()]
    assert [r["id"] for r in rows] == list(range(4000))
    assert (counts.ok, counts.invalid, counts.failed) == (3000, 0, 1000)
    assert sorted(run.retries) == [(1, 1), (1, 2), (3, 1)]
    assert [r["id"] for r in rows if r["status"] == "failed"] == list(range(1000, 2000))
    assert rows[1000]["errors"][0]["message"] == (
        "readings.jsonl line 1001: worker process died 2 times processing this chunk"
    )
    assert rows[3100]["aqi"] == 53 and rows[3100]["status"] == "ok"


def test_blocks_of_lines_are_the_lines_a_plain_iteration_gives_size_at_a_time() -> None:
    """The parent cuts a JSON Lines file into blocks by reading bytes, not lines: lines of any
    length, files with or without a last newline, "\\r\\n" and blank lines, blocks of 1..12."""
    import io
    import itertools

    from c360.aqi.jsonio import _blocks_of_lines

    rng = random.Random(11)
    for _ in range(2000):
        lengths = [rng.choice([0, 1, 2, 5, 50, rng.randint(0, 400)]) for _ in range(rng.randint(0, 60))]
        data = b"\n".join(b"x" * n for n in lengths) + (b"\n" if rng.random() < 0.5 else b"")
        if rng.random() < 0.2:
            data = data.replace(b"x\n", b"x\r\n")
        size = rng.randint(1, 12)
        plain, expected = io.BytesIO(data), []
        while lines := list(itertools.islice(plain, size)):
            expected.append((b"".join(lines), len(lines)))
        assert list(_blocks_of_lines(io.BufferedReader(io.BytesIO(data)), size)) == expected, (data, size)


def test_c360s_own_aqi_processes_allocate_with_the_c_library_unless_the_environment_says(monkeypatch) -> None:
    import pyarrow as pa

    from c360.aqi.kernel import use_system_allocator

    before = pa.default_memory_pool()
    try:
        pa.set_memory_pool(pa.mimalloc_memory_pool())
        monkeypatch.setenv("ARROW_DEFAULT_MEMORY_POOL", "mimalloc")  # the user's choice stands
        use_system_allocator()
        assert pa.default_memory_pool().backend_name == "mimalloc"
        monkeypatch.delenv("ARROW_DEFAULT_MEMORY_POOL")
        use_system_allocator()
        assert pa.default_memory_pool().backend_name == "system"
    finally:
        pa.set_memory_pool(before)


_PANDAS_FREE_RUN = """
import os, sys
from pathlib import Path
import c360.aqi.runner as runner
from c360.aqi import calculate

seen = Path(sys.argv[2])
chunk = runner.process_chunk

def process_chunk(items, standard, as_json):
    out = chunk(items, standard, as_json)
    with (seen / str(os.getpid())).open("a") as fp:
        fp.write(f"{'pandas' in sys.modules}\\n")
    return out

runner.process_chunk = process_chunk  # the forked workers run this one
with open(sys.argv[3], "w", encoding="utf-8") as fp:
    calculate(Path(sys.argv[1]), workers=2, chunk_size=9).write_jsonl(fp)
print("parent imported pandas:", "pandas" in sys.modules)
"""


def test_the_json_paths_processes_never_import_pandas_and_write_the_same(tmp_path: Path) -> None:
    """pyarrow imports pandas to ask whether a value is a pandas object; the JSON path's
    parent (the caller's process) and its workers must not pay for that, and what they write
    must be what a process with pandas writes: the fast path's blocks and the odd lines' path."""
    import io
    import subprocess
    import sys

    lines = [_clean(i) for i in range(40)]
    for n, odd in enumerate(ODD_LINES):
        lines[3 * n + 1 : 3 * n + 1] = [odd]
    path = tmp_path / "mixed.jsonl"
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    expected = io.StringIO()
    calculate(path, workers=2, chunk_size=9).write_jsonl(expected)

    seen, out = tmp_path / "seen", tmp_path / "out.jsonl"
    seen.mkdir()
    done = subprocess.run(
        [sys.executable, "-c", _PANDAS_FREE_RUN, str(path), str(seen), str(out)],
        capture_output=True, text=True, timeout=120, check=False,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    assert "parent imported pandas: False" in done.stdout
    answers = [line for f in seen.iterdir() for line in f.read_text().split()]
    assert len(answers) >= len(lines) // 9 and set(answers) == {"False"}
    assert out.read_text("utf-8") == expected.getvalue()
