"""Run expectations with Great Expectations 1.x on a Spark DataFrame and write Data Docs.

One ephemeral GX context per Data Docs folder lives for the whole process: importing
GX costs 5-9 s and its first validation ~7 s, later ones ~2 s, so every table of a
run (and every test of a session) shares it. The flow is GX's own: Spark data source
-> DataFrame asset -> whole-DataFrame batch definition -> suite -> validation
definition -> checkpoint. GX returns counts, never the table.

Sample values of the failing rows are fetched only for the expectations that failed: the
suite first runs for counts alone (``BASIC`` without samples), then once more over just the
failed expectations with ``SUMMARY``, whose samples the Data Docs page shows. Sampling every
expectation cost about six more Spark jobs per table, 40% of GX's time on a passing day
(the model's 17 tables: 294 jobs and 13.4-16.6 s with samples, 187 jobs and 8.2-10.2 s
without).

A frame of at most :data:`PANDAS_MAX_ROWS` rows (a day's partitions, a small dimension) is
judged by GX's pandas engine instead, from one Arrow collect: GX's Spark engine runs about
eleven Spark jobs per table, each with a job's fixed latency, which made it the largest part
of a daily run's gate (docs/benchmarks.md). The collect is converted so that both engines
give the same results (:func:`pandas_frame`; tests/quality/test_gx_engines.py holds them to
it) for the expectation types c360 declares (:data:`PANDAS_TYPES`). A suite with another type
(``TableSuite.gx`` takes any), or a float column holding NaN, which pandas cannot tell from
null, stays on Spark.

Checks GX cannot express (foreign keys, SQL invariants) are computed by c360 with
Spark; they are added to GX's validation result before the Data Docs are built, so the
HTML page shows the whole suite in one place.
"""

from __future__ import annotations

import contextlib
import logging
import threading
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlparse
from urllib.request import url2pathname

import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc
from pyspark.sql import DataFrame

from c360.quality.results import ExpectationResult
from c360.quality.suite import Expectation

_DATASOURCE = "c360"
_SITE = "c360"
_BATCH = "whole_dataframe"
_NAME_KEY = "c360_name"
_COUNTS = {"result_format": "BASIC", "partial_unexpected_count": 0}
_SAMPLES = {"result_format": "SUMMARY"}
# Frames up to this many rows are validated with GX's pandas engine (0: always Spark). A
# 200,000-row frame of a wide table is a few hundred MB in the driver at most.
PANDAS_MAX_ROWS = 200_000
# The expectation types both engines are shown to judge alike (tests/quality/test_gx_engines.py).
PANDAS_TYPES = frozenset(
    {
        "expect_column_values_to_not_be_null",
        "expect_column_values_to_be_unique",
        "expect_compound_columns_to_be_unique",
        "expect_column_values_to_be_in_set",
        "expect_column_values_to_be_between",
        "expect_column_max_to_be_between",
        "expect_table_row_count_to_be_between",
    }
)
# Keywords of the PANDAS_TYPES that name no column (judged_columns).
_NOT_COLUMNS = frozenset(
    {"value_set", "min_value", "max_value", "strict_min", "strict_max", "mostly", "ignore_row_if", "result_format"}
)
_lock = threading.Lock()
_runners: dict[Path, GxRunner] = {}
_prepared = False  # prepare() has started importing GX
_prepared_lock = threading.Lock()
_log = logging.getLogger(__name__)


@dataclass(frozen=True)
class GxCheck:
    """An expectation resolved for this run: its GX type and concrete kwargs."""

    expectation: Expectation
    gx_type: str
    kwargs: Mapping[str, Any]


def get_runner(docs_dir: Path) -> GxRunner:
    """The process's runner for ``docs_dir`` (created on first use)."""
    key = Path(docs_dir).resolve()
    with _lock:
        if key not in _runners:
            _runners[key] = GxRunner(key)
        return _runners[key]


def prepare() -> None:
    """Import GX in a background thread, once per process.

    In a new process GX's imports take 2.6 s of CPU, which a daily run paid in the middle of
    its model step. A run starts them when its steps start, so that they overlap its Spark
    jobs (not before its JVM starts: that start already keeps both cores busy). A gate that
    comes sooner waits for them (Python's import lock). Only the imports run here: creating
    the context (0.15 s) takes a Spark session, which GX would start itself if it found none,
    so the first gate does it while its session runs."""
    global _prepared
    with _prepared_lock:  # not _lock, which get_runner holds while GX creates a context
        if _prepared or _runners:
            return
        _prepared = True
    threading.Thread(target=_import_gx, name="c360-gx-prepare", daemon=True).start()


def _import_gx() -> None:
    try:
        import great_expectations  # noqa: F401
        from great_expectations.expectations.expectation_configuration import ExpectationConfiguration  # noqa: F401
    except Exception:  # noqa: BLE001 - the gate that needs GX raises it again, with its own message
        _log.debug("GX could not be imported in advance", exc_info=True)


class GxRunner:
    """An ephemeral GX context whose only Data Docs site is a folder under the lake."""

    def __init__(self, docs_dir: Path) -> None:
        import great_expectations as gx
        from great_expectations.data_context.types.base import ProgressBarsConfig

        self.docs_dir = docs_dir
        self.context = gx.get_context(mode="ephemeral")
        self.context.variables.progress_bars = ProgressBarsConfig(globally=False)
        self.context.add_data_docs_site(
            _SITE,
            {
                "class_name": "SiteBuilder",
                "store_backend": {
                    "class_name": "TupleFilesystemStoreBackend",
                    "base_directory": str(docs_dir),
                },
                "site_index_builder": {"class_name": "DefaultSiteIndexBuilder"},
            },
        )
        self.datasource = self.context.data_sources.add_spark(_DATASOURCE)
        self.pandas = self.context.data_sources.add_pandas(f"{_DATASOURCE}_pandas")
        self._lock = threading.Lock()
        self._unbuilt: list[Any] = []  # validation results stored, their pages not built yet

    def validate(
        self,
        df: DataFrame,
        table: str,
        checks: Sequence[GxCheck],
        run_id: str,
        collected: pa.Table | None = None,
    ) -> tuple[list[ExpectationResult], Any, Any]:
        """Validate ``df`` with GX; our results, plus GX's (key, result) for the Data Docs.

        ``collected`` is ``df`` collected as Arrow (the caller does it for a frame of at most
        :data:`PANDAS_MAX_ROWS` rows): GX's pandas engine then judges it, when every check is
        of a type in :data:`PANDAS_TYPES` and :func:`pandas_frame` can convert it."""
        eligible = collected is not None and checks and all(c.gx_type in PANDAS_TYPES for c in checks)
        frame = pandas_frame(judged_columns(collected, checks)) if eligible and collected is not None else None
        data, source = (df, self.datasource) if frame is None else (frame, self.pandas)
        with self._lock:  # the context's stores are not meant for concurrent mutation
            key, suite_result = self._run(source, data, table, checks, run_id, _COUNTS)
            failed = {_name(r) for r in suite_result.results if not r.success}
            if failed:
                retry = [c for c in checks if c.expectation.name in failed]
                _, sampled = self._run(source, data, table, retry, run_id, _SAMPLES)
                with_samples = {_name(r): r for r in sampled.results}
                suite_result.results = [with_samples.get(_name(r), r) for r in suite_result.results]
        by_name = {c.expectation.name: c.expectation for c in checks}
        results = [
            _from_gx(by_name[_name(r)], bool(r.success), r.result, r.exception_info) for r in suite_result.results
        ]
        order = {c.expectation.name: i for i, c in enumerate(checks)}
        results.sort(key=lambda res: order[res.expectation])
        return results, key, suite_result

    def _run(
        self,
        source: Any,
        df: DataFrame | pd.DataFrame,
        table: str,
        checks: Sequence[GxCheck],
        run_id: str,
        result_format: Mapping[str, Any],
    ) -> tuple[Any, Any]:
        """Register ``checks`` as the table's suite and run its checkpoint on ``df`` (a frame
        of ``source``'s engine)."""
        import great_expectations as gx
        from great_expectations.core.run_identifier import RunIdentifier
        from great_expectations.expectations.expectation_configuration import (
            ExpectationConfiguration,
        )

        if table in source.get_asset_names():
            asset = source.get_asset(table)
            batch = asset.get_batch_definition(_BATCH)
        else:
            asset = source.add_dataframe_asset(table)
            batch = asset.add_batch_definition_whole_dataframe(_BATCH)
        # The suite is code: rebuild it every run so the context never holds a stale one.
        for factory in (
            self.context.checkpoints,
            self.context.validation_definitions,
            self.context.suites,
        ):
            # "not found" has no common exception type across the factories
            with contextlib.suppress(Exception):
                factory.delete(table)
        suite = self.context.suites.add(gx.ExpectationSuite(name=table))
        for check in checks:
            config = ExpectationConfiguration(
                type=check.gx_type,
                kwargs=dict(check.kwargs),
                meta={_NAME_KEY: check.expectation.name},
            )
            suite.add_expectation(config.to_domain_obj())
        definition = self.context.validation_definitions.add(
            gx.ValidationDefinition(name=table, data=batch, suite=suite)
        )
        checkpoint = self.context.checkpoints.add(
            gx.Checkpoint(
                name=table,
                validation_definitions=[definition],
                actions=[],
                result_format=dict(result_format),
            )
        )
        outcome = checkpoint.run(batch_parameters={"dataframe": df}, run_id=RunIdentifier(run_name=run_id))
        return next(iter(outcome.run_results.items()))

    def write_docs(
        self, key: Any, suite_result: Any, extra: Sequence[ExpectationResult], *, build: bool = True
    ) -> Path:
        """Add c360-computed results to GX's result, then (re)build this validation's page.

        ``build=False`` stores the result and returns where its page will be: :meth:`build_docs`
        then renders the pages of a whole run at once (GX rebuilds the site index on every
        build, ~0.5 s, so once per run instead of once per table).
        """
        from great_expectations.core.expectation_validation_result import (
            ExpectationValidationResult,
        )
        from great_expectations.expectations.expectation_configuration import (
            ExpectationConfiguration,
        )

        for res in extra:
            # GX's UnexpectedRowsExpectation renders "N unexpected values found, x% of M rows":
            # the closest built-in shape for a check computed outside GX.
            config = ExpectationConfiguration(
                type="unexpected_rows_expectation",
                kwargs={
                    # GX warns unless the text it shows as the query names {batch}
                    "unexpected_rows_query": f"rows of {{batch}} failing: {res.details}",
                    "description": f"{res.expectation} [{res.severity.value}, c360 Spark check]: {res.details}",
                },
                meta={
                    _NAME_KEY: res.expectation,
                    "severity": res.severity.value,
                    "evaluated_by": "c360 (Spark)",
                },
            )
            result: dict[str, Any] = {"observed_value": res.observed_value}
            if res.unexpected_count is not None:
                result |= {
                    "observed_value": res.unexpected_count,
                    "unexpected_count": res.unexpected_count,
                    "element_count": res.element_count,
                    "unexpected_percent": res.unexpected_percent,
                }
            suite_result.results.append(
                ExpectationValidationResult(success=res.success, expectation_config=config, result=result)
            )
        evaluated = len(suite_result.results)
        successful = sum(1 for r in suite_result.results if r.success)
        suite_result.statistics.update(
            {
                "evaluated_expectations": evaluated,
                "successful_expectations": successful,
                "unsuccessful_expectations": evaluated - successful,
                "success_percent": 100.0 * successful / evaluated if evaluated else 100.0,
            }
        )
        suite_result.success = all(r.success for r in suite_result.results)
        with self._lock:
            self.context.validation_results_store.set(key, suite_result)
            self._unbuilt.append(key)
        if build:
            self.build_docs()
        urls = self.context.get_docs_sites_urls(resource_identifier=key, site_name=_SITE, only_if_exists=False)
        url = urls[0]["site_url"] if urls else None
        page = Path(url2pathname(urlparse(url).path)) if url else self.docs_dir / "index.html"
        return page if page.is_file() or not build else self.docs_dir / "index.html"

    def build_docs(self) -> None:
        """Render the pages of every validation stored since the last build, and the index."""
        with self._lock:
            keys, self._unbuilt = self._unbuilt, []
            if keys:
                self.context.build_data_docs(site_names=[_SITE], resource_identifiers=keys)


def judged_columns(table: pa.Table, checks: Sequence[GxCheck]) -> pa.Table:
    """``table`` narrowed to the columns ``checks`` name, for GX's pandas engine.

    GX judges each expectation on its own column(s) and the row count, so the others change no
    result; converting them did cost: a 50-column profile of 92,000 rows took GX 2.8 s whole
    and 0.9 s narrowed, 131,000 order lines 2.4 s and 0.4 s (docs/benchmarks.md). A check with a
    keyword that may name other columns (a ``row_condition``, or one not known here) keeps every
    column. With no column named (a row count alone) the first column keeps the rows."""
    named: list[str] = []
    for check in checks:
        for key, value in check.kwargs.items():
            if key == "column":
                named.append(str(value))
            elif key == "column_list":
                named += [str(c) for c in value]
            elif key not in _NOT_COLUMNS:
                return table
    keep = list(dict.fromkeys(c for c in named if c in table.column_names)) or table.column_names[:1]
    return table.select(keep)


def pandas_frame(table: pa.Table) -> pd.DataFrame | None:
    """A Spark frame's Arrow collect (``DataFrame.toArrow``) for GX's pandas engine, typed so
    that it judges every expectation as GX's Spark engine does on the Spark frame; None when
    it cannot (a float column holds NaN).

    - integers: pandas' nullable ``Int64``, exact (NumPy's float64 would round 64-bit keys
      with a null among them, and ``unique`` would then see duplicates that are not);
    - dates: Arrow-backed, whose ``max`` skips nulls and compares with a ``date`` bound
      (an object column's ``max`` fails on a null, a datetime64 one cannot meet a ``date``);
    - timestamps: naive, in UTC, the session time zone: what Spark hands GX;
    - booleans: nullable; decimals stay ``Decimal`` objects, strings ``str``.
    """
    for name, kind in zip(table.column_names, table.schema.types, strict=True):
        if pa.types.is_floating(kind) and pc.any(pc.is_nan(table[name])).as_py():
            return None  # pandas takes NaN for null, Spark does not
    fields = [pa.field(f.name, pa.timestamp(f.type.unit)) if pa.types.is_timestamp(f.type) else f for f in table.schema]
    return table.cast(pa.schema(fields)).to_pandas(types_mapper=_pandas_type)


def _pandas_type(kind: pa.DataType) -> Any:
    if pa.types.is_integer(kind):
        return pd.Int64Dtype()
    if pa.types.is_boolean(kind):
        return pd.BooleanDtype()
    if pa.types.is_date(kind):
        return pd.ArrowDtype(kind)
    return None  # pyarrow's default


def _name(result: Any) -> str:
    """The c360 expectation a GX result belongs to (GX echoes the config it evaluated)."""
    if result.expectation_config is None:
        raise RuntimeError(f"GX returned a result without its expectation: {result}")
    return str(result.expectation_config.meta[_NAME_KEY])


def _from_gx(
    expectation: Expectation,
    success: bool,
    result: Mapping[str, Any],
    exception: Mapping[str, Any] | None,
) -> ExpectationResult:
    raised = bool(exception and exception.get("raised_exception"))
    details = ""
    if raised and exception is not None:
        details = f"GX could not evaluate it: {str(exception.get('exception_message', '')).strip()}"
    unexpected = result.get("unexpected_count")
    observed = result.get("observed_value")
    return ExpectationResult(
        expectation=expectation.name,
        kind=expectation.kind.value,
        severity=expectation.severity,
        success=bool(success) and not raised,
        observed_value=None if observed is None else str(observed),
        unexpected_count=None if unexpected is None else int(unexpected),
        element_count=None if result.get("element_count") is None else int(result["element_count"]),
        unexpected_percent=None if result.get("unexpected_percent") is None else float(result["unexpected_percent"]),
        columns=expectation.columns,
        details=details or expectation.description,
    )
