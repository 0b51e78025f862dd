"""Source groups: each product's DAG ingests its own contracts, and every file has one owner."""

from __future__ import annotations

from datetime import date
from pathlib import Path

import pytest

from c360.contracts import CONTRACTS, SOURCE_GROUPS, source_group
from c360.pipeline import owning_group
from c360.raw.ingest import discover

DAY = date(2024, 1, 1)


def test_the_groups_split_the_contracts_without_overlap() -> None:
    names = [c.name for group in SOURCE_GROUPS.values() for c in group]
    assert sorted(names) == sorted(CONTRACTS)
    assert {c.domain for c in SOURCE_GROUPS["air_quality"]} == {"air_quality"}
    assert "air_quality" not in {c.domain for c in SOURCE_GROUPS["retail"]}


def test_every_discovered_file_belongs_to_exactly_one_group(tmp_path: Path) -> None:
    day = tmp_path / DAY.isoformat()
    for rel in ("air_quality/readings.jsonl", "air_quality/notes.txt", "sales/transactions.csv", "weather/x.csv"):
        (day / rel).parent.mkdir(parents=True, exist_ok=True)
        (day / rel).write_text("x\n")
    (day / "manifest.json").write_text("{}")
    (tmp_path / "stray.csv").write_text("x\n")

    owners = {f.path.relative_to(tmp_path).as_posix(): owning_group(f) for f in discover(tmp_path, DAY)}

    assert owners == {
        "2024-01-01/air_quality/readings.jsonl": "air_quality",
        "2024-01-01/air_quality/notes.txt": "air_quality",  # no contract, but the sensors' folder
        "2024-01-01/sales/transactions.csv": "retail",
        "2024-01-01/weather/x.csv": "retail",  # an unknown domain: reported by the first group
        "2024-01-01/manifest.json": "retail",
        "stray.csv": "retail",
    }


def test_an_unknown_group_is_refused_with_the_known_ones() -> None:
    with pytest.raises(KeyError, match="no source group 'weather'; known: retail, air_quality"):
        source_group("weather")
