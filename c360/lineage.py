"""Lineage: which tables (and source files) a table comes from, and what each run read and wrote.

Two sources, one graph:

* **Declared**: every table's ``sources`` in the registry; a raw table's sources are the
  files ``ops.pipeline.ingested_files`` says were ingested into it. Column lineage is by
  name through those edges (``x_token`` comes from ``x``: the masked identifier).
* **Observed**: every pipeline step emits OpenLineage run events (START, then COMPLETE or
  FAIL) through the client's file transport into ``<lake>/ops/lineage/events.jsonl``. A
  COMPLETE event names the tables the step committed (outputs) and what they were built
  from (inputs), each with its Delta version, schema and column lineage; the c360 run id is
  the parent run, so ``c360 lineage TABLE --run RUN_ID`` shows that run's graph long after.

Emission never fails a step: lineage is a record of the work, not part of it. In a whole run
(``c360.pipeline.run_all``) the events are written by a thread of their own, in order, while
the next step runs; the run waits for them (:func:`drain`) before it ends.
"""

from __future__ import annotations

import json
import logging
import os
import threading
import uuid
from collections.abc import Callable, Iterable, Mapping
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time
from pathlib import Path
from typing import Any

import pyarrow.parquet as pq

from c360.registry import Registry, registry
from c360.storage import LakeCatalog

log = logging.getLogger(__name__)

PRODUCER = "https://github.com/c360/c360"  # the producing software, as OpenLineage asks
JOB_NAMESPACE = "c360"
FILE_NAMESPACE = "file"
FILE_LOG_TABLE = "ops.pipeline.ingested_files"


def events_path(lake_root: Path) -> Path:
    return Path(lake_root) / "ops" / "lineage" / "events.jsonl"


def dataset_namespace(lake_root: Path) -> str:
    return f"file://{Path(lake_root).resolve()}"


def _run_uuid(*parts: str) -> str:
    """A stable UUID for a run id that may not be one (OpenLineage requires UUIDs)."""
    joined = "/".join(parts)
    try:
        return str(uuid.UUID(joined))
    except ValueError:
        return str(uuid.uuid5(uuid.NAMESPACE_URL, f"c360:{joined}"))


# ---------------------------------------------------------------- the declared graph
@dataclass
class Graph:
    """Edges source -> target between tables ("tier.domain.table") and files ("file:<path>")."""

    edges: set[tuple[str, str]] = field(default_factory=set)
    versions: dict[str, int] = field(default_factory=dict)  # node -> version seen (run graphs)

    def add(self, source: str, target: str) -> None:
        if source != target:
            self.edges.add((source, target))

    def upstream(self, node: str) -> list[str]:
        return self._walk(node, {t: [s for s, t2 in self.edges if t2 == t] for _, t in self.edges})

    def downstream(self, node: str) -> list[str]:
        return self._walk(node, {s: [t for s2, t in self.edges if s2 == s] for s, _ in self.edges})

    @staticmethod
    def _walk(node: str, step: Mapping[str, list[str]]) -> list[str]:
        seen: list[str] = []
        frontier = [node]
        while frontier:
            nxt = []
            for n in frontier:
                for m in sorted(step.get(n, [])):
                    if m not in seen and m != node:
                        seen.append(m)
                        nxt.append(m)
            frontier = nxt
        return seen

    def restricted(self, node: str, direction: str) -> Graph:
        """The part of the graph upstream and/or downstream of ``node``."""
        keep = {node}
        if direction in ("upstream", "both"):
            keep |= set(self.upstream(node))
        if direction in ("downstream", "both"):
            keep |= set(self.downstream(node))
        g = Graph({(s, t) for s, t in self.edges if s in keep and t in keep})
        g.versions = {k: v for k, v in self.versions.items() if k in keep}
        return g


def _ingested_files(catalog: LakeCatalog, version: int | None = None) -> list[dict[str, Any]]:
    if not catalog.exists(FILE_LOG_TABLE):
        return []
    files = catalog.open(FILE_LOG_TABLE, version=version).file_uris()
    cols = ["source_file", "table", "ingest_id"]
    return [r for f in files for r in pq.read_table(f, columns=cols).to_pylist()]


def declared_graph(catalog: LakeCatalog) -> Graph:
    """Registry edges, plus each raw table's ingested source files."""
    g = Graph()
    for t in registry():
        for s in t.sources:
            g.add(s, t.name)
    for r in _ingested_files(catalog):
        g.add(f"{FILE_NAMESPACE}:{r['source_file']}", r["table"])
    return g


def column_sources(table: str, column: str) -> list[tuple[str, str]]:
    """(source table, column) pairs a column comes from, by name through the declared sources."""
    reg = registry()
    t = reg.get(table)
    out = []
    for s in t.sources:
        if s not in reg:
            continue
        names = reg.get(s).schema.fieldNames()
        base = column[: -len("_token")] if column.endswith("_token") else None
        if column in names:
            out.append((s, column))
        elif base and base in names:
            out.append((s, base))
    return out


# ---------------------------------------------------------------- run events
def _schema_facet(catalog: LakeCatalog, name: str, version: int | None) -> Any:
    from openlineage.client.generated.schema_dataset import SchemaDatasetFacet, SchemaDatasetFacetFields

    fields = []
    for f in catalog.schema(name, version):
        md = {k.decode(): v.decode() for k, v in (f.metadata or {}).items()}
        fields.append(SchemaDatasetFacetFields(name=f.name, type=str(f.type), description=md.get("comment") or None))
    return SchemaDatasetFacet(fields=fields)


def _column_lineage_facet(namespace: str, name: str, inputs: Iterable[str]) -> Any | None:
    from openlineage.client.generated.column_lineage_dataset import ColumnLineageDatasetFacet, Fields, InputField

    if name not in registry():
        return None
    inputs = set(inputs)
    fields = {}
    for col in registry().get(name).schema.fieldNames():
        sources = [(s, c) for s, c in column_sources(name, col) if s in inputs]
        if sources:
            masked = col.endswith("_token") and all(c != col for _, c in sources)
            fields[col] = Fields(
                inputFields=[InputField(namespace=namespace, name=s, field=c) for s, c in sources],
                transformationType="MASKED" if masked else "IDENTITY",
                transformationDescription="HMAC token of the source value" if masked else "same column by name",
            )
    return ColumnLineageDatasetFacet(fields=fields) if fields else None


@dataclass
class StepLineage:
    """The OpenLineage record of one pipeline step: START now, COMPLETE or FAIL at the end."""

    lake_root: Path
    run_id: str  # the c360 run id
    step: str
    run_date: date
    before: dict[str, int] = field(default_factory=dict)
    started: datetime = field(default_factory=lambda: datetime.now(UTC))
    # The data products (c360.registry) whose tables the step writes, when another step runs
    # beside it (c360.pipeline.run_all): its outputs are the tables whose versions moved, and
    # the other step's move too. None: every table that moved.
    products: frozenset[str] | None = None
    deferred: bool = False  # events written by the events' thread (drain() waits for them)

    @property
    def step_run_id(self) -> str:
        return _run_uuid(self.run_id, self.step, self.run_date.isoformat())

    @classmethod
    def start(
        cls,
        lake_root: Path,
        run_id: str,
        step: str,
        run_date: date,
        products: frozenset[str] | None = None,
        deferred: bool = False,
    ) -> StepLineage | None:
        """The step's START event, now or (``deferred``) by the events' thread: the versions
        the step starts from are read now either way."""
        try:
            versions = LakeCatalog(lake_root).versions()
            me = cls(Path(lake_root), run_id, step, run_date, versions, products=products, deferred=deferred)
        except Exception as exc:  # noqa: BLE001 - lineage never fails a step
            log.warning("lineage: no START event for %s: %s", step, exc)
            return None
        me._send("START", lambda: me._emit("START", me.started, [], []))
        return me

    def complete(self) -> None:
        """The COMPLETE event: the versions the step ended with are read now, the event is
        written now or (``deferred``) by the events' thread, from those versions."""
        ended = datetime.now(UTC)
        try:
            after = LakeCatalog(self.lake_root).versions()
        except Exception as exc:  # noqa: BLE001
            log.warning("lineage: no COMPLETE event for %s: %s", self.step, exc)
            return
        self._send("COMPLETE", lambda: self._complete(ended, after))

    def _complete(self, ended: datetime, after: dict[str, int]) -> None:
        catalog = LakeCatalog(self.lake_root)
        reg = registry()
        outputs = sorted(n for n, v in after.items() if self.before.get(n) != v and self._writes(n, reg))
        inputs: dict[str, int | None] = {}
        for n in outputs:
            for s in reg.tables[n].sources if n in reg.tables else ():
                if s in after and s not in outputs:
                    inputs[s] = self.before.get(s, after[s])
        # Source files are inputs of raw tables only: a step that wrote none skips their log.
        raw = [n for n in outputs if n in reg.tables and reg.tables[n].tier == "raw"]
        files = [
            f"{FILE_NAMESPACE}:{r['source_file']}"
            for r in (_ingested_files(catalog, after.get(FILE_LOG_TABLE)) if raw else [])
            if r["ingest_id"] == self.run_id and r["table"] in outputs
        ]
        self._emit(
            "COMPLETE",
            ended,
            [(n, v) for n, v in sorted(inputs.items())] + [(f, None) for f in files],
            [(n, after[n]) for n in outputs],
            catalog,
        )

    def _writes(self, name: str, reg: Registry) -> bool:
        if name.startswith("ops."):
            return False
        return self.products is None or (name in reg.tables and reg.tables[name].product in self.products)

    def fail(self, error: BaseException) -> None:
        failed = datetime.now(UTC)
        self._send("FAIL", lambda: self._emit("FAIL", failed, [], [], error=error))

    def abort(self) -> None:
        """The ABORT event: the step was stopped (Ctrl-C, a stopped task), not failed."""
        aborted = datetime.now(UTC)
        self._send("ABORT", lambda: self._emit("ABORT", aborted, [], []))

    def _send(self, event_type: str, emit: Callable[[], None]) -> None:
        def logged() -> None:
            try:
                emit()
            except Exception as exc:  # noqa: BLE001 - lineage never fails a step
                log.warning("lineage: no %s event for %s: %s", event_type, self.step, exc)

        if self.deferred:
            _events_thread().submit(logged)
        else:
            logged()

    def _emit(
        self,
        event_type: str,
        event_time: datetime,
        inputs: list[tuple[str, int | None]],
        outputs: list[tuple[str, int]],
        catalog: LakeCatalog | None = None,
        error: BaseException | None = None,
    ) -> None:
        from openlineage.client import OpenLineageClient
        from openlineage.client.event_v2 import InputDataset, Job, OutputDataset, Run, RunEvent, RunState
        from openlineage.client.generated.dataset_version_dataset import DatasetVersionDatasetFacet
        from openlineage.client.generated.error_message_run import ErrorMessageRunFacet
        from openlineage.client.generated.nominal_time_run import NominalTimeRunFacet
        from openlineage.client.generated.parent_run import Job as ParentJob
        from openlineage.client.generated.parent_run import ParentRunFacet
        from openlineage.client.generated.parent_run import Run as ParentRun
        from openlineage.client.generated.tags_run import TagsRunFacet, TagsRunFacetFields
        from openlineage.client.transport.file import FileConfig, FileTransport

        path = events_path(self.lake_root)
        path.parent.mkdir(parents=True, exist_ok=True)
        client = OpenLineageClient(transport=FileTransport(FileConfig(log_file_path=str(path), append=True)))
        ns = dataset_namespace(self.lake_root)
        start = datetime.combine(self.run_date, time(0), UTC)
        facets: dict[str, Any] = {
            "nominalTime": NominalTimeRunFacet(nominalStartTime=start.isoformat()),
            "parent": ParentRunFacet(
                run=ParentRun(runId=_run_uuid(self.run_id)),
                job=ParentJob(namespace=JOB_NAMESPACE, name="c360.pipeline"),
            ),
            "tags": TagsRunFacet(
                tags=[
                    TagsRunFacetFields(key="c360.run_id", value=self.run_id, source="c360"),
                    TagsRunFacetFields(key="c360.run_date", value=self.run_date.isoformat(), source="c360"),
                ]
            ),
        }
        if error is not None:
            facets["errorMessage"] = ErrorMessageRunFacet(
                message=f"{type(error).__name__}: {error}"[:2000], programmingLanguage="python"
            )

        def dataset_facets(name: str, version: int | None) -> dict[str, Any]:
            if catalog is None or name.startswith(f"{FILE_NAMESPACE}:"):
                return {}
            out: dict[str, Any] = {"schema": _schema_facet(catalog, name, version)}
            if version is not None:
                out["version"] = DatasetVersionDatasetFacet(datasetVersion=str(version))
            return out

        def split(name: str) -> tuple[str, str]:
            if name.startswith(f"{FILE_NAMESPACE}:"):
                return FILE_NAMESPACE, name.split(":", 1)[1]
            return ns, name

        ins = [InputDataset(*split(n), facets=dataset_facets(n, v)) for n, v in inputs]
        outs = []
        for n, v in outputs:
            f = dataset_facets(n, v)
            lineage = _column_lineage_facet(ns, n, [i for i, _ in inputs]) if catalog is not None else None
            if lineage is not None:
                f["columnLineage"] = lineage
            outs.append(OutputDataset(*split(n), facets=f))
        client.emit(
            RunEvent(
                eventType=RunState[event_type],
                eventTime=event_time.isoformat(),
                run=Run(runId=self.step_run_id, facets=facets),
                job=Job(namespace=JOB_NAMESPACE, name=f"c360.{self.step}"),
                inputs=ins,
                outputs=outs,
                producer=PRODUCER,
            )
        )


_events: ThreadPoolExecutor | None = None
_events_lock = threading.Lock()


def _events_thread() -> ThreadPoolExecutor:
    """One thread writes the deferred events, in the order they were sent."""
    global _events
    with _events_lock:
        if _events is None:
            _events = ThreadPoolExecutor(1, thread_name_prefix="c360-lineage")
        return _events


def drain() -> None:
    """Wait until every deferred event sent so far is written."""
    with _events_lock:
        pending = _events
    if pending is not None:
        pending.submit(lambda: None).result()


def read_events(lake_root: Path) -> list[dict[str, Any]]:
    path = events_path(lake_root)
    if not path.exists():
        return []
    return [json.loads(line) for line in path.read_text().splitlines() if line.strip()]


def c360_run_id(event: Mapping[str, Any]) -> str | None:
    for tag in event.get("run", {}).get("facets", {}).get("tags", {}).get("tags", []):
        if tag.get("key") == "c360.run_id":
            return str(tag.get("value"))
    return None


def run_graph(lake_root: Path, run_id: str | None = None) -> Graph:
    """Edges the COMPLETE events observed (of one c360 run, or of all runs), with versions.

    An event lists a step's inputs and outputs, not which input fed which output: a table
    feeds an output it is a declared source of (an output the registry does not know: every
    input), a source file the raw tables the ingested-files log says it went to."""
    g = Graph()
    reg = registry()
    file_tables: dict[str, set[str]] | None = None  # read once, if an event names a file
    for e in read_events(lake_root):
        if e.get("eventType") != "COMPLETE" or (run_id is not None and c360_run_id(e) != run_id):
            continue
        for node in (*e.get("inputs", []), *e.get("outputs", [])):
            version = node.get("facets", {}).get("version", {}).get("datasetVersion")
            if version is not None:
                g.versions[_node(node)] = int(version)
        for o in e.get("outputs", []):
            for i in e.get("inputs", []):
                src = _node(i)
                if i["namespace"] == FILE_NAMESPACE:
                    if file_tables is None:
                        file_tables = {}
                        for r in _ingested_files(LakeCatalog(lake_root)):
                            file_tables.setdefault(f"{FILE_NAMESPACE}:{r['source_file']}", set()).add(r["table"])
                    fed = o["name"] in file_tables.get(src, ())
                else:
                    fed = o["name"] not in reg or src in reg.get(o["name"]).sources
                if fed:
                    g.add(src, o["name"])
    return g


def _node(dataset: Mapping[str, Any]) -> str:
    """A graph node's name for an event's dataset: a table's name, or ``file:<path>``."""
    return dataset["name"] if dataset["namespace"] != FILE_NAMESPACE else f"{FILE_NAMESPACE}:{dataset['name']}"


def lineage_graph(catalog: LakeCatalog, run_id: str | None = None) -> Graph:
    """The declared graph merged with every observed run (or only the given run's graph)."""
    if run_id is not None:
        g = run_graph(catalog.lake_root, run_id)
        if not g.edges:
            known = sorted({r for e in read_events(catalog.lake_root) if (r := c360_run_id(e))})
            raise LookupError(f"no lineage events for run {run_id!r} (runs with events: {', '.join(known) or 'none'})")
        return g
    g = declared_graph(catalog)
    observed = run_graph(catalog.lake_root)
    g.edges |= observed.edges
    return g


# ---------------------------------------------------------------- pictures
def grouped_files(g: Graph) -> Graph:
    """The graph with the many files feeding one table shown as one node.

    A raw table is fed by a file per delivery (90 for mock_data, one a day for years): listed
    one by one, they make the tree thousands of lines long and the picture a column of
    unreadable labels. The group's node is named by the files' common path, ``*`` for the
    part that varies, with their count and the first and last value of that part."""
    by_target: dict[str, list[str]] = {}
    for s, t in g.edges:
        if s.startswith(f"{FILE_NAMESPACE}:"):
            by_target.setdefault(t, []).append(s)
    groups = {t: _file_group(files) for t, files in by_target.items() if len(files) > 1}
    out = Graph(versions=dict(g.versions))
    for s, t in g.edges:
        out.add(groups[t] if t in groups and s.startswith(f"{FILE_NAMESPACE}:") else s, t)
    return out


def _file_group(nodes: list[str]) -> str:
    paths = sorted(n.split(":", 1)[1] for n in nodes)
    parts = [p.split("/") for p in paths]
    span = ""
    if len({len(p) for p in parts}) == 1:
        columns = [sorted(set(c)) for c in zip(*parts, strict=True)]
        pattern = "/".join(c[0] if len(c) == 1 else "*" for c in columns)
        varying = [c for c in columns if len(c) > 1]
        if len(varying) == 1:
            span = f", {varying[0][0]} … {varying[0][-1]}"
    else:
        pattern = os.path.commonpath(paths).rstrip("/") + "/…"
    return f"{FILE_NAMESPACE}:{pattern} ({len(paths)} files{span})"


def to_dot(g: Graph, focus: str) -> str:
    """Graphviz dot text of the graph (the focus table highlighted)."""
    nodes = sorted({n for e in g.edges for n in e} | {focus})
    lines = ["digraph lineage {", "  rankdir=LR;", '  node [shape=box, fontname="Helvetica"];']
    for n in nodes:
        label = n.split(":", 1)[1].rsplit("/", 2)[-2:] if n.startswith(f"{FILE_NAMESPACE}:") else [n]
        text = "/".join(label) + (f"\\nv{g.versions[n]}" if n in g.versions else "")
        style = (
            ', style=filled, fillcolor="#ffd27f"' if n == focus else (", shape=note" if n.startswith("file:") else "")
        )
        lines.append(f'  "{n}" [label="{text}"{style}];')
    for s, t in sorted(g.edges):
        lines.append(f'  "{s}" -> "{t}";')
    lines.append("}")
    return "\n".join(lines) + "\n"


def draw_png(g: Graph, focus: str, path: Path) -> Path:
    """A layered picture (sources left, the focus in its layer) drawn with matplotlib."""
    import matplotlib.pyplot as plt

    fig = lineage_figure(g, focus)
    fig.savefig(path, dpi=110, bbox_inches="tight")
    plt.close(fig)
    return path


def lineage_figure(g: Graph, focus: str) -> Any:
    """The matplotlib figure :func:`draw_png` saves."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    nodes = sorted({n for e in g.edges for n in e} | {focus})
    depth: dict[str, int] = {n: 0 for n in nodes}
    for _ in nodes:  # longest path from a source: at most len(nodes) relaxations
        changed = False
        for s, t in g.edges:
            if depth[t] < depth[s] + 1:
                depth[t] = depth[s] + 1
                changed = True
        if not changed:
            break
    layers: dict[int, list[str]] = {}
    for n in nodes:
        layers.setdefault(depth[n], []).append(n)
    pos = {n: (d, i - len(ns) / 2) for d, ns in layers.items() for i, n in enumerate(sorted(ns))}
    height = max(len(ns) for ns in layers.values())
    fig, ax = plt.subplots(figsize=(4 + 3.2 * len(layers), 1 + 0.35 * height))
    for s, t in g.edges:
        ax.annotate("", xy=pos[t], xytext=pos[s], arrowprops={"arrowstyle": "->", "color": "#999", "lw": 0.6})
    for n, (x, y) in pos.items():
        label = "/".join(n.split(":", 1)[1].rsplit("/", 2)[-2:]) if n.startswith("file:") else n
        ax.text(
            x,
            y,
            label,
            ha="center",
            va="center",
            fontsize=6,
            bbox={"boxstyle": "round", "fc": "#ffd27f" if n == focus else "#eef", "ec": "#669"},
        )
    # Text and arrows do not widen the axes' limits: without these, nodes past (0..1, 0..1) are cut off.
    xs, ys = [x for x, _ in pos.values()], [y for _, y in pos.values()]
    ax.set_xlim(min(xs) - 0.6, max(xs) + 0.6)
    ax.set_ylim(min(ys) - 0.7, max(ys) + 0.7)
    ax.set_axis_off()
    ax.set_title(f"lineage of {focus}")
    return fig
