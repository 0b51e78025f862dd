"""Lineage: the profile's graph reaches raw tables and source files; steps emit OpenLineage
events that fit the spec's models and name what they read and wrote, with versions."""

from __future__ import annotations

import subprocess
import sys
from datetime import date, timedelta
from pathlib import Path

import pytest
from deltalake import DeltaTable

from c360.lineage import lineage_graph, read_events
from c360.storage import LakeCatalog
from tests.conftest import MOCK, PublishedLake, copy_lake
from tests.governance.openlineage_check import validate_run_event

PROFILE = "enhanced.customer.customer360_profile"
REPO = Path(__file__).resolve().parents[2]
pytestmark = pytest.mark.filterwarnings("ignore::DeprecationWarning")


def test_profile_lineage_reaches_the_raw_tables_and_source_files(published_lake: PublishedLake) -> None:
    up = lineage_graph(LakeCatalog(published_lake.root)).upstream(PROFILE)
    assert {"raw.customer.customers", "raw.sales.transactions", "sanitized.customer.customers"} <= set(up)
    files = [n for n in up if n.startswith("file:")]
    assert any(n.endswith("/customer/customers.csv") and str(MOCK) in n for n in files)
    assert any(n.endswith("/sales/transactions.csv") for n in files)


def test_steps_emit_valid_openlineage_events_with_versions(
    spark: object, published_lake: PublishedLake, tmp_path: Path
) -> None:
    from c360.pipeline import RunContext, ingest_step, sanitize_step
    from c360.settings import Settings

    root = copy_lake(published_lake.root, tmp_path / "lake")
    source = tmp_path / "extracts"
    day = max(published_lake.dates) + timedelta(days=1)
    (source / day.isoformat() / "customer").mkdir(parents=True)
    header, first = (MOCK / "2024-01-01/customer/customers.csv").read_text().splitlines()[:2]
    new_customer = "CUST9999001" + first[first.index(",") :]  # new bytes: a customer nobody sent before
    (source / day.isoformat() / "customer/customers.csv").write_text(f"{header}\n{new_customer}\n")
    settings = Settings(lake_root=root, pseudonym_key=published_lake.key.decode())
    ctx = RunContext.create(settings, spark, "lineage-run")  # type: ignore[arg-type]
    ctx.step("ingest", day, lambda: ingest_step(ctx, source, [day]))
    ctx.step("sanitize", day, lambda: sanitize_step(ctx, [day]))

    events = read_events(root)
    for e in events:
        validate_run_event(e)
    assert [(e["job"]["name"], e["eventType"]) for e in events] == [
        ("c360.ingest", "START"),
        ("c360.ingest", "COMPLETE"),
        ("c360.sanitize", "START"),
        ("c360.sanitize", "COMPLETE"),
    ]
    ingest, sanitize = events[1], events[3]
    raw_version = DeltaTable(str(root / "raw/customer/customers")).version()
    outputs = {o["name"]: o["facets"]["version"]["datasetVersion"] for o in ingest["outputs"]}
    assert outputs["raw.customer.customers"] == str(raw_version)
    assert [i["name"] for i in ingest["inputs"]] == [str(source / day.isoformat() / "customer/customers.csv")]
    inputs = {
        i["name"]: i["facets"]["version"]["datasetVersion"] for i in sanitize["inputs"] if i["namespace"] != "file"
    }
    assert inputs["raw.customer.customers"] == str(raw_version)
    out = {o["name"]: o for o in sanitize["outputs"]}
    assert "sanitized.customer.customers" in out
    lineage = out["sanitized.customer.customers"]["facets"]["columnLineage"]["fields"]
    assert lineage["email_token"]["inputFields"][0]["field"] == "email"
    assert lineage["email_token"]["transformationType"] == "MASKED"

    # The run's graph stays viewable: the CLI prints it and draws it.
    picture = tmp_path / "g.png"
    cli = subprocess.run(
        [str(Path(sys.executable).parent / "c360"), "lineage", "sanitized.customer.customers", "--upstream"]
        + ["--run", "lineage-run", "--output", str(picture)],
        capture_output=True,
        text=True,
        env={"C360_LAKE_ROOT": str(root), "PYTHONPATH": str(REPO), "PATH": "/usr/bin:/bin", "MPLBACKEND": "Agg"},
        timeout=180,
        cwd=tmp_path,
    )
    assert cli.returncode == 0, cli.stderr
    assert "raw.customer.customers (v" in cli.stdout and "customers.csv" in cli.stdout
    assert picture.stat().st_size > 1000
    assert '"raw.customer.customers" -> "sanitized.customer.customers"' in picture.with_suffix(".dot").read_text()


def test_a_step_s_events_on_a_small_lake_validate_and_a_broken_event_does_not(tmp_path: Path) -> None:
    """Without Spark: a step writing one table from another, seen by the lineage hook."""
    import copy

    import pyarrow as pa
    from deltalake import write_deltalake

    from c360.lineage import StepLineage
    from tests.governance.openlineage_check import InvalidEvent

    write_deltalake(str(tmp_path / "raw/customer/customers"), pa.table({"email": ["tok"]}))
    step = StepLineage.start(tmp_path, "run-7", "sanitize", date(2024, 1, 5))
    assert step is not None
    write_deltalake(str(tmp_path / "sanitized/customer/customers"), pa.table({"email_token": ["tok"]}))
    step.complete()
    start, complete = read_events(tmp_path)
    for e in (start, complete):
        validate_run_event(e)
    assert complete["run"]["runId"] == start["run"]["runId"]
    assert complete["run"]["facets"]["nominalTime"]["nominalStartTime"].startswith("2024-01-05")
    assert [(i["name"], i["facets"]["version"]["datasetVersion"]) for i in complete["inputs"]] == [
        ("raw.customer.customers", "0")
    ]
    assert [o["name"] for o in complete["outputs"]] == ["sanitized.customer.customers"]
    graph = lineage_graph(LakeCatalog(tmp_path), "run-7")
    assert graph.edges == {("raw.customer.customers", "sanitized.customer.customers")}
    for breakage in (
        lambda e: e["run"].__setitem__("runId", "not-a-uuid"),
        lambda e: e.__setitem__("eventTime", "yesterday"),
        lambda e: e["job"].__setitem__("nam", "typo"),
        lambda e: e["outputs"][0]["facets"]["version"].__setitem__("datasetVersion", 3),
    ):
        broken = copy.deepcopy(complete)
        breakage(broken)
        with pytest.raises(InvalidEvent):
            validate_run_event(broken)


def test_a_step_beside_another_names_only_its_products_tables(tmp_path: Path) -> None:
    """The model and air-quality steps of a run write at the same time (c360.pipeline.run_all):
    each step's outputs are its own product's tables, not every table whose version moved."""
    import pyarrow as pa
    from deltalake import write_deltalake

    from c360.lineage import StepLineage
    from c360.registry import C360

    write_deltalake(str(tmp_path / "sanitized/customer/customers"), pa.table({"customer_id": ["C1"]}))
    model = StepLineage.start(tmp_path, "run-8", "model", date(2024, 1, 5), frozenset({C360}))
    assert model is not None
    write_deltalake(str(tmp_path / "enhanced/customer/dim_customer"), pa.table({"customer_id": ["C1"]}))
    write_deltalake(str(tmp_path / "enhanced/air_quality/dim_station"), pa.table({"station_id": ["S1"]}))
    model.complete()
    complete = read_events(tmp_path)[-1]
    validate_run_event(complete)
    assert [o["name"] for o in complete["outputs"]] == ["enhanced.customer.dim_customer"]
    assert [i["name"] for i in complete["inputs"]] == ["sanitized.customer.customers"]


def test_deferred_events_describe_the_versions_of_their_step_and_are_written_in_order(tmp_path: Path) -> None:
    """In a whole run the events are written by their own thread while the next step runs
    (``RunContext.batched``): a COMPLETE written after a later commit still names the version
    and schema its step ended with, and ``drain`` returns once every event is written."""
    import threading

    import pyarrow as pa
    from deltalake import write_deltalake

    from c360.lineage import StepLineage, drain

    raw, san = tmp_path / "raw/customer/customers", tmp_path / "sanitized/customer/customers"
    write_deltalake(str(raw), pa.table({"email": ["tok"]}))
    held = threading.Event()
    blocker = StepLineage(tmp_path, "run-9", "hold", date(2024, 1, 5), deferred=True)
    blocker._send("START", held.wait)  # the events' thread is busy until the steps below are done
    try:  # released whatever happens: the thread is the process's, later tests drain it
        step = StepLineage.start(tmp_path, "run-9", "sanitize", date(2024, 1, 5), deferred=True)
        assert step is not None
        write_deltalake(str(san), pa.table({"email_token": ["tok"]}))
        step.complete()
        assert read_events(tmp_path) == []  # nothing written yet: the thread is held
        # The next step commits before the events are written: a new version with a new column.
        new = pa.table({"email_token": ["t2"], "extra": [1]})
        write_deltalake(str(san), new, mode="overwrite", schema_mode="merge")
    finally:
        held.set()
    drain()
    start, complete = read_events(tmp_path)
    for e in (start, complete):
        validate_run_event(e)
    assert (start["eventType"], complete["eventType"]) == ("START", "COMPLETE")
    assert start["eventTime"] <= complete["eventTime"]
    (out,) = complete["outputs"]
    assert out["facets"]["version"]["datasetVersion"] == "0"
    assert [f["name"] for f in out["facets"]["schema"]["fields"]] == ["email_token"]


def test_a_steps_events_feed_each_output_only_from_its_own_sources(tmp_path: Path) -> None:
    """A step's event lists all its inputs and outputs together; the graph drawn from it joins
    a table only to the outputs it is a declared source of, and a source file only to the raw
    table the ingested-files log says it went to (not every file to every raw table, nor the
    air-quality readings to the customers' app usage)."""
    import pyarrow as pa
    from deltalake import write_deltalake

    from c360.lineage import FILE_LOG_TABLE, StepLineage, run_graph

    def table(name: str, rows: dict) -> None:
        write_deltalake(str(tmp_path.joinpath(*name.split("."))), pa.table(rows), mode="append")

    ingest = StepLineage.start(tmp_path, "run-10", "ingest", date(2024, 1, 5))
    assert ingest is not None
    table("raw.customer.customers", {"email": ["tok"]})
    table("raw.air_quality.readings", {"station_id": ["S1"]})
    log = {"source_file": ["/x/customers.csv", "/x/readings.jsonl"], "ingest_id": ["run-10"] * 2}
    table(FILE_LOG_TABLE, {**log, "table": ["raw.customer.customers", "raw.air_quality.readings"]})
    ingest.complete()
    sanitize = StepLineage.start(tmp_path, "run-10", "sanitize", date(2024, 1, 5))
    assert sanitize is not None
    table("sanitized.customer.customers", {"email_token": ["tok"]})
    table("sanitized.air_quality.readings", {"station_id": ["S1"]})
    sanitize.complete()
    assert run_graph(tmp_path, "run-10").edges == {
        ("file:/x/customers.csv", "raw.customer.customers"),
        ("file:/x/readings.jsonl", "raw.air_quality.readings"),
        ("raw.customer.customers", "sanitized.customer.customers"),
        ("raw.air_quality.readings", "sanitized.air_quality.readings"),
    }


def test_the_files_feeding_a_table_are_one_group_in_the_tree_and_the_picture(tmp_path: Path) -> None:
    """A raw table is fed by a file per delivery: 90 lines per table in the tree for mock_data,
    and a picture 14,000 pixels tall. Grouped, each table's files are one node naming the path
    pattern, the count and the span; a single file stays itself. The picture keeps every node
    inside it (text does not widen matplotlib's axes: nodes past 0..1 were cut off)."""
    from c360.lineage import Graph, draw_png, grouped_files, lineage_figure

    g = Graph()
    for day in ("2024-01-01", "2024-01-02", "2024-01-03"):
        g.add(f"file:/x/{day}/customer/customers.csv", "raw.customer.customers")
    g.add("file:/x/2024-01-01/logistics/warehouse_locations.csv", "raw.logistics.warehouse_locations")
    g.add("file:/x/a/t.csv", "raw.sales.transactions")
    g.add("file:/x/b/c/t.csv", "raw.sales.transactions")
    g.add("raw.customer.customers", "sanitized.customer.customers")
    assert grouped_files(g).edges == {
        ("file:/x/*/customer/customers.csv (3 files, 2024-01-01 … 2024-01-03)", "raw.customer.customers"),
        ("file:/x/2024-01-01/logistics/warehouse_locations.csv", "raw.logistics.warehouse_locations"),
        ("file:/x/… (2 files)", "raw.sales.transactions"),
        ("raw.customer.customers", "sanitized.customer.customers"),
    }
    import matplotlib.image
    import matplotlib.pyplot as plt

    fig = lineage_figure(grouped_files(g), "sanitized.customer.customers")
    ax = fig.axes[0]
    (x0, x1), (y0, y1) = ax.get_xlim(), ax.get_ylim()
    placed = {t.get_text(): t.get_position() for t in ax.texts if t.get_text()}  # arrows are empty texts
    plt.close(fig)
    assert len(placed) == 7 and all(x0 < x < x1 and y0 < y < y1 for x, y in placed.values()), placed
    picture = draw_png(grouped_files(g), "sanitized.customer.customers", tmp_path / "g.png")
    height, width, _ = matplotlib.image.imread(picture).shape
    assert height < 600 < width  # a few layers side by side, not a column of every file
