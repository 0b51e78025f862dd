"""Generations: a reload builds a new generation beside the old one; a request holding the
old one keeps reading the versions it pinned (tiny delta-rs lake, no Spark)."""

from __future__ import annotations

from pathlib import Path

import pyarrow as pa
from deltalake import write_deltalake

from c360.serve.state import ServedLake
from c360.sql import SqlEngine


def test_reload_swaps_generations_and_old_ones_stay_pinned(tmp_path: Path) -> None:
    path = tmp_path / "enhanced" / "d" / "t"
    write_deltalake(str(path), pa.table({"n": [1, 2]}))
    lake = ServedLake(tmp_path, poll_seconds=60)
    first = lake.load()
    assert first.snapshot.versions == {"enhanced.d.t": 0}
    assert not lake.changed()
    assert lake.load() is first  # nothing new: the same generation
    write_deltalake(str(path), pa.table({"n": [3]}), mode="append")
    assert lake.changed()
    second = lake.load()
    assert second is not first and second.number == first.number + 1
    assert lake.current is second and second.snapshot.versions == {"enhanced.d.t": 1}
    engine = SqlEngine(tmp_path)
    old = engine.query("SELECT sum(n) AS s FROM enhanced.d.t", snapshot=first.snapshot)
    new = engine.query("SELECT sum(n) AS s FROM enhanced.d.t", snapshot=second.snapshot)
    assert (old.table.to_pylist(), old.versions) == ([{"s": 3}], {"enhanced.d.t": 0})
    assert (new.table.to_pylist(), new.versions) == ([{"s": 6}], {"enhanced.d.t": 1})
    write_deltalake(str(tmp_path / "enhanced" / "d" / "u"), pa.table({"x": ["a"]}))
    assert lake.changed()  # a newly published table is picked up too
    assert "enhanced.d.u" in lake.load().snapshot.tables
