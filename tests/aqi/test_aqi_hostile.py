"""The AQI calculator's JSON path on hostile input: deep JSON, binary files, special files."""

from __future__ import annotations

import io
import json
import os
import socket
import subprocess
import sys
import threading
from pathlib import Path

from c360.aqi import calculate
from c360.jsonlimits import MAX_JSON_DEPTH

ROOT = Path(__file__).resolve().parents[2]
DEEP = '{"a": ' * 5000 + "1" + "}" * 5000
DEPTH_MESSAGE = f"JSON nested deeper than {MAX_JSON_DEPTH} levels"


def _cli(*args: str, stdin: bytes | None = None) -> subprocess.CompletedProcess[bytes]:
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    cmd = [sys.executable, "-c", "from c360.cli import main; main()", "aqi", "compute", *args]
    return subprocess.run(cmd, env=env, input=stdin, capture_output=True, timeout=120)


def test_deep_json_line_is_one_error_record_and_the_good_lines_get_results(tmp_path: Path) -> None:
    path = tmp_path / "readings.jsonl"
    path.write_text(f'{{"id": 1, "pm25_24h": 12.0}}\n{DEEP}\n{{"id": 3, "pm25_24h": 35.5}}\n')
    out = list(calculate(path, workers=1))
    assert [(r.get("id"), r["status"], r["aqi"]) for r in out] == [
        (1, "ok", 56),
        (None, "invalid", None),
        (3, "ok", 101),
    ]
    assert out[1]["errors"][0]["message"].startswith(f"readings.jsonl line 2: {DEPTH_MESSAGE}")


def test_deep_json_in_an_array_text_and_records_never_raises(tmp_path: Path) -> None:
    array = tmp_path / "a.json"
    array.write_text(f'[{{"id": 1, "pm25_24h": 12.0}}, {DEEP}, {{"id": 3, "pm25_24h": 35.5}}]')
    got = [(r.get("id"), r["status"]) for r in calculate(array, workers=1)]
    assert got == [(1, "ok"), (None, "invalid"), (3, "ok")]

    assert [r["status"] for r in calculate(DEEP, workers=1)] == ["invalid"]

    deep: dict = {}
    node = deep
    for _ in range(5000):  # a caller's record too deep to echo back
        node["a"] = {}
        node = node["a"]
    records = [{"id": 1, "pm25_24h": "12.0"}, {"pm25_24h": "12.0", "nested": deep}]
    assert [r["status"] for r in calculate(records, workers=1)] == ["ok", "ok"]
    out = io.StringIO()  # serialising its echo would recurse: that record fails, alone
    counts = calculate(records, workers=1).write_jsonl(out)
    assert (counts.ok, counts.failed) == (1, 1)
    assert json.loads(out.getvalue().splitlines()[1])["errors"][0]["message"].startswith("record 2: RecursionError")


def test_cli_deep_line_exits_0_with_results_for_the_good_lines(tmp_path: Path) -> None:
    path = tmp_path / "readings.jsonl"
    path.write_text(f'{{"id": 1, "pm25_24h": 12.0}}\n{DEEP}\n')
    done = _cli(str(path))
    assert done.returncode == 0, done.stderr
    lines = [json.loads(line) for line in done.stdout.decode().splitlines()]
    assert [r["status"] for r in lines] == ["ok", "invalid"]
    assert b"records: 2  ok: 1  invalid: 1  failed: 0" in done.stderr


def test_cli_refuses_a_binary_file_with_one_line_and_leaves_no_output(tmp_path: Path) -> None:
    binary = tmp_path / "photo.json"
    binary.write_bytes(b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR" + bytes(range(256)) * 2000)
    target = tmp_path / "out.jsonl"
    done = _cli(str(binary), "--output", str(target))
    assert done.returncode == 1
    assert done.stdout == b""
    [line] = done.stderr.decode().splitlines()
    assert line.startswith("error: InputError: photo.json is binary (") and line.endswith("): not JSON text, refused")
    assert list(tmp_path.iterdir()) == [binary]  # no OUT, no .partial

    piped = _cli("-", stdin=b"\x1f\x8b\x08\x00compressed")
    assert (piped.returncode, piped.stdout) == (1, b"")
    assert piped.stderr.decode().splitlines() == [
        "error: InputError: <stdin> is binary (starts with byte 0x1f): not JSON text, refused"
    ]


def test_a_binary_file_in_a_folder_is_one_error_record_and_the_others_go_on(tmp_path: Path) -> None:
    (tmp_path / "a.jsonl").write_text('{"id": 1, "pm25_24h": 12.0}\n')
    (tmp_path / "b.json").write_bytes(b"\x00\x01\x02" * 100)
    (tmp_path / "c.jsonl").write_text('{"id": 3, "pm25_24h": 35.5}\n')
    out = list(calculate(tmp_path, workers=1))
    assert [(r.get("id"), r["status"]) for r in out] == [(1, "ok"), (None, "invalid"), (3, "ok")]
    assert out[1]["errors"][0]["message"] == "b.json: is binary (starts with byte 0x00): not JSON text, file skipped"


def test_special_files_are_streams_or_refused_with_the_true_reason(tmp_path: Path) -> None:
    null = _cli("/dev/null")
    assert (null.returncode, null.stdout) == (0, b""), null.stderr
    assert b"records: 0  ok: 0  invalid: 0  failed: 0" in null.stderr

    fifo = tmp_path / "feed"
    os.mkfifo(fifo)

    def feed() -> None:
        with fifo.open("w") as fp:
            fp.write('{"id": 1, "pm25_24h": 12.0}\n{"id": 2, "o3_8h": 0.07}\n')

    writer = threading.Thread(target=feed)
    writer.start()
    streamed = _cli(str(fifo))
    writer.join(timeout=30)
    assert streamed.returncode == 0, streamed.stderr
    assert [json.loads(x)["id"] for x in streamed.stdout.decode().splitlines()] == [1, 2]

    sock_path = tmp_path / "s"
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as server:
        server.bind(str(sock_path))
        refused = _cli(str(sock_path))
    assert refused.returncode == 1
    assert refused.stderr.decode().splitlines() == [
        f"error: InputError: {sock_path} is a socket: give a file, a folder, a FIFO or - for stdin"
    ]

    missing = _cli(str(tmp_path / "nope.json"))
    assert missing.returncode == 1
    assert "no such file or folder" in missing.stderr.decode()


def test_a_record_of_megabytes_is_computed_and_the_records_after_it_too(tmp_path: Path) -> None:
    """After a block of long lines the next read was sized from their length, tens of gigabytes
    allocated up front: a MemoryError for the whole file, and nothing written."""
    path = tmp_path / "big.jsonl"
    path.write_text(json.dumps({"pm25_24h": 12, "pad": "x" * (4 << 20)}) + '\n{"pm25_24h": 35.5}\n')
    out = tmp_path / "out.jsonl"
    done = _cli(str(path), "-o", str(out))
    assert done.returncode == 0, done.stderr
    assert [(r["aqi"], r["status"]) for r in map(json.loads, out.read_text().splitlines())] == [(56, "ok"), (101, "ok")]


def test_a_lone_surrogate_is_one_invalid_record_in_every_output(tmp_path: Path) -> None:
    """JSON's "\\ud800" reads back as a lone surrogate, which UTF-8 cannot carry: writing that
    record stopped the batch (JSON Lines, CSV, a pandas frame)."""
    import pandas as pd

    path = tmp_path / "s.jsonl"
    path.write_text('{"pm25_24h": 12}\n{"pm25_24h": "\\ud800", "site": "\\udc00x"}\n{"pm25_24h": 13}\n')
    for suffix in ("jsonl", "csv"):
        out = tmp_path / f"out.{suffix}"
        done = _cli(str(path), "-o", str(out))
        assert done.returncode == 0, done.stderr
        assert b"records: 3  ok: 2  invalid: 1  failed: 0" in done.stderr
    lines = [json.loads(line) for line in (tmp_path / "out.jsonl").read_text().splitlines()]
    assert [r["status"] for r in lines] == ["ok", "invalid", "ok"]
    assert lines[1]["pm25_24h"] == "\ud800" and lines[1]["errors"][0]["kind"] == "non_numeric"
    for dtype in (object, "string"):
        frame = calculate(pd.DataFrame({"pm25_24h": pd.Series(["12", "\ud800", "13"], dtype=dtype)}))
        assert frame["status"].tolist() == ["ok", "invalid", "ok"], dtype


def test_numpy_scalars_in_records_are_the_numbers_they_hold() -> None:
    """Their repr ("np.float64(35.5)") was read as text: not a number, and np.int64 failed JSON."""
    import numpy as np
    import pandas as pd

    # np.float32(0.055) is read as its shortest text, 0.055 (AQI 51), as a float32 column is.
    records = [{"pm25_24h": np.float64(35.5)}, {"pm25_24h": np.int64(12)}, {"o3_8h": np.float32(0.055)},
               {"pm25_24h": np.bool_(True)}, {"pm25_24h": np.float64("nan")},
               {"pm25_24h": np.array([1.0, 2.0])}]  # fmt: skip
    expected = [(101, "ok"), (56, "ok"), (51, "ok"), (None, "invalid"), (None, "invalid"), (None, "invalid")]
    column = pd.DataFrame({"o3_8h": np.array([0.055], dtype=np.float32)})
    assert calculate(column)["aqi"].tolist() == [51]
    assert [(r["aqi"], r["status"]) for r in calculate(records, workers=1)] == expected
    out = io.StringIO()
    counts = calculate(records, workers=1).write_jsonl(out)
    assert (counts.ok, counts.invalid, counts.failed) == (3, 3, 0)
    assert [json.loads(line)["aqi"] for line in out.getvalue().splitlines()] == [e[0] for e in expected]


def test_a_frame_with_two_columns_of_one_pollutant_is_refused_by_name() -> None:
    """It raised pandas' AttributeError ("'DataFrame' object has no attribute 'dtype'")."""
    import pandas as pd
    import pyarrow as pa
    import pytest

    with pytest.raises(ValueError, match="more than one column named pm25_24h"):
        calculate(pd.DataFrame([[12, 50]], columns=["pm25_24h", "pm25_24h"]))
    with pytest.raises(ValueError, match="more than one column named pm25_24h"):
        calculate(pa.table([pa.array([12.0]), pa.array([50.0])], names=["pm25_24h", "pm25_24h"]))
    assert calculate(pd.DataFrame([[12, 1, 2]], columns=["pm25_24h", "x", "x"]))["aqi"].tolist() == [56]
