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
