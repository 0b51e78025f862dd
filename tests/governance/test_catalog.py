"""The catalog over the published mock lake: search, live facts, annotations, descriptors,
and the column metadata of the enhanced tables read back with plain delta-rs."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pyarrow.parquet as pq
import pytest
from deltalake import DeltaTable

from c360.catalog import annotate, entries, get, product_descriptor, render_markdown, search
from c360.registry import C360, PII, PRODUCTS, registry
from c360.storage import LakeCatalog
from tests.conftest import PublishedLake, copy_lake

REPO = Path(__file__).resolve().parents[2]
PROFILE = "enhanced.customer.customer360_profile"
pytestmark = pytest.mark.filterwarnings("ignore::DeprecationWarning")


def test_docs_catalog_md_is_generated_from_the_registry() -> None:
    assert (REPO / "docs/catalog.md").read_text() == render_markdown(), "run `c360 catalog docs --write`"


def test_catalog_search_churn_finds_the_profile(published_lake: PublishedLake) -> None:
    found = [e.name for e in search(LakeCatalog(published_lake.root), "churn")]
    assert PROFILE in found
    out = subprocess.run(
        [str(Path(sys.executable).parent / "c360"), "catalog", "search", "churn"],
        capture_output=True,
        text=True,
        env={"C360_LAKE_ROOT": str(published_lake.root), "PYTHONPATH": str(REPO), "PATH": "/usr/bin:/bin"},
        timeout=120,
        cwd=REPO,
    )
    assert out.returncode == 0, out.stderr
    assert PROFILE in out.stdout


def test_search_by_owner_product_tag_and_column(published_lake: PublishedLake) -> None:
    catalog = LakeCatalog(published_lake.root)
    assert "raw.customer.customers" in [e.name for e in search(catalog, "email pii")]
    assert {e.name for e in search(catalog, "customer.sources")} >= {"sanitized.sales.transactions"}
    assert search(catalog, "no-such-thing-anywhere") == []


def test_live_facts_match_plain_delta_rs(published_lake: PublishedLake) -> None:
    e = get(LakeCatalog(published_lake.root), "sanitized.customer.customers")
    dt = DeltaTable(str(published_lake.root / "sanitized/customer/customers"))
    assert e.version == dt.version()
    assert e.rows == sum(pq.read_metadata(f).num_rows for f in dt.file_uris())
    assert e.last_update is not None and e.freshness_hours == 36
    results = DeltaTable(str(published_lake.root / "ops/quality/expectation_results"))
    rows = [
        r
        for f in results.file_uris()
        for r in pq.read_table(f, columns=["table_name", "status", "validated_at"]).to_pylist()
        if r["table_name"] == PROFILE
    ]
    latest = max(rows, key=lambda r: r["validated_at"])
    gates = {x.name: x.gate for x in entries(LakeCatalog(published_lake.root))}
    assert gates[PROFILE] == latest["status"]


def test_annotations_are_kept_with_author_and_searchable(published_lake: PublishedLake, tmp_path: Path) -> None:
    """Appended with delta-rs alone: a tag costs no JVM."""
    root = copy_lake(published_lake.root, tmp_path / "lake")
    assert search(LakeCatalog(root), "campaign-ready") == []
    assert PROFILE not in [e.name for e in search(LakeCatalog(root), "marketing reads this every monday")]
    annotate(root, PROFILE, "tag", "campaign-ready", "ana", column_name="churn_risk_score")
    annotate(root, PROFILE, "note", "Marketing reads this every Monday", "bo")
    again = annotate(root, PROFILE, "tag", "campaign-ready", "cy", column_name="churn_risk_score")
    assert again.author == "ana", "a tag the column has is not added twice (it was listed twice)"
    with pytest.raises(ValueError, match="no column"):
        annotate(root, PROFILE, "tag", "x", "ana", column_name="no_such_column")
    catalog = LakeCatalog(root)
    assert [e.name for e in search(catalog, "campaign-ready")] == [PROFILE]
    assert [e.name for e in search(catalog, "marketing reads this every monday")] == [PROFILE]
    notes = get(catalog, PROFILE).annotations
    assert [(a.kind, a.column, a.author) for a in notes] == [("tag", "churn_risk_score", "ana"), ("note", None, "bo")]
    table = DeltaTable(str(root / "ops/catalog/annotations"))
    rows = [r for f in table.file_uris() for r in pq.read_table(f).to_pylist()]
    assert sorted((r["author"], r["kind"], r["text"]) for r in rows) == [
        ("ana", "tag", "campaign-ready"),
        ("bo", "note", "Marketing reads this every Monday"),
    ]
    assert all(r["created_at"] is not None for r in rows)


def test_every_enhanced_column_is_described_and_pii_is_tagged(published_lake: PublishedLake) -> None:
    """Read back with plain delta-rs, not through c360: what any engine sees."""
    found = 0
    for log in sorted(published_lake.root.glob("enhanced/*/*/_delta_log")):
        name = ".".join(log.parent.relative_to(published_lake.root).parts)
        declared = registry().tables.get(name)
        pii = set(declared.pii_columns) if declared else set()
        for f in DeltaTable(str(log.parent)).schema().fields:
            found += 1
            md = {k: str(v).strip('"') for k, v in f.metadata.items()}
            assert md.get("comment"), f"{name}.{f.name} has no description"
            tags = set(md.get("c360.tags", "").split(","))
            if f.name in pii or f.name.endswith("_token"):
                assert PII in tags, f"{name}.{f.name} is pii but not tagged"
    assert found > 100


def test_data_product_descriptors_follow_the_odcs_shape() -> None:
    for product in PRODUCTS:
        d = product_descriptor(product)
        if not any(t.product == product for t in registry()):
            continue  # declared product whose tables are not registered yet
        assert d["apiVersion"].startswith("v3") and d["kind"] == "DataContract" and d["id"] == product
        assert d["team"] and all(m["role"] == "owner" for m in d["team"])
        for table in d["schema"]:
            assert registry().get(table["name"]).product == product
            assert all("description" in p and "logicalType" in p for p in table["properties"])
    c360 = product_descriptor(C360)
    if any(t.product == C360 for t in registry()):
        names = {t["name"] for t in c360["schema"]}
        assert PROFILE in names
        profile = next(t for t in c360["schema"] if t["name"] == PROFILE)
        assert profile["quality"], "the profile's gate checks are listed"
    with pytest.raises(ValueError, match="unknown data product"):
        product_descriptor("nope")


def test_the_catalog_commands_refuse_unknown_filters_and_tag_without_spark(
    published_lake: PublishedLake, tmp_path: Path
) -> None:
    """`catalog list --tier bogus` printed an empty table, as if the tier were empty; a tag
    started a Spark JVM (about 5 s) to append one row."""
    from typer.testing import CliRunner

    from c360.cli import app
    from c360.cli.state import state
    from c360.settings import Settings

    root = copy_lake(published_lake.root, tmp_path / "lake")
    state._settings = Settings(lake_root=root)
    runner = CliRunner()
    try:
        bogus = runner.invoke(app, ["catalog", "list", "--tier", "bogus"])
        assert bogus.exit_code == 2 and "unknown tier 'bogus' (one of raw, sanitized" in bogus.output
        bogus = runner.invoke(app, ["catalog", "list", "--product", "customer.C360"])
        assert bogus.exit_code == 2 and "unknown data product 'customer.C360'" in " ".join(bogus.output.split())
        listed = runner.invoke(app, ["catalog", "list", "--tier", "enhanced"])
        assert listed.exit_code == 0 and PROFILE in listed.output
        tagged = runner.invoke(app, ["catalog", "tag", PROFILE, "weekly", "--author", "cy"])
        assert tagged.exit_code == 0, tagged.output
        assert state._spark is None  # no session was asked for
    finally:
        state._settings = None
    notes = get(LakeCatalog(root), PROFILE).annotations
    assert [(a.kind, a.text, a.author) for a in notes] == [("tag", "weekly", "cy")]
