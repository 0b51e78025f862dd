"""The one entry point: ``calculate(source, standard=...)`` for every kind of input.

A Spark DataFrame comes back as a DataFrame (native column expressions); pandas, Polars and
Arrow frames as their own kind, Parquet/CSV files as an Arrow stream (:mod:`c360.aqi.frames`,
over the integer kernel :mod:`c360.aqi.kernel`); anything JSON
(a file, a folder, JSON text, an iterable of records) comes back as an :class:`AqiRun`, a
one-pass stream of result records in input order that knows its counts when it ends.
"""

from __future__ import annotations

import contextlib
import io
import itertools
import os
import tempfile
from collections.abc import Generator, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal, TextIO, overload

from c360.aqi.jsonio import Item, Spooled, Written, iter_items, line_blocks, looks_like_json
from c360.aqi.runner import run_chunks
from c360.aqi.standards import Standard, resolve_standard
from c360.settings import Settings, load_settings

SparkEngine = Literal["jvm", "arrow", "native", "local"]  # how a Spark DataFrame's AQI is computed (calculate)

if TYPE_CHECKING:
    from pyspark.sql import DataFrame


@dataclass
class Counts:
    """Outcome of a run: ``ok + invalid + failed`` is the number of input records."""

    ok: int = 0
    invalid: int = 0
    failed: int = 0

    @property
    def total(self) -> int:
        return self.ok + self.invalid + self.failed

    def add(self, status: str) -> None:
        setattr(self, status, getattr(self, status) + 1)


class AqiRun:
    """Results of a JSON-path calculation, computed lazily as they are consumed (once)."""

    def __init__(self, source: object, standard: Standard, *, workers: int, chunk_size: int) -> None:
        self.standard = standard
        self.counts = Counts()
        self._source = source
        self._workers = workers
        self._chunk_size = chunk_size
        self._started = False
        self.retries: list[tuple[int, int]] = []  # (chunk, attempt) of every worker death

    def _outputs(self, as_json: bool, spool: Path | None = None) -> Generator[list[Any], None, None]:
        if self._started:
            raise RuntimeError("an AqiRun is a stream and can be consumed only once")
        self._started = True
        # Serialising a JSON Lines file: whole blocks of lines to the workers (parsed there).
        chunks = line_blocks(self._source, self._chunk_size) if as_json else None
        return run_chunks(
            chunks if chunks is not None else _chunked(iter_items(self._source), self._chunk_size),
            self.standard,
            workers=self._workers,
            as_json=as_json,
            on_retry=lambda chunk, attempt: self.retries.append((chunk, attempt)),
            spool=spool if chunks is not None else None,
        )

    def __iter__(self) -> Iterator[dict[str, Any]]:
        for output in self._outputs(as_json=False):
            for record in output:
                self.counts.add(record["status"])
                yield record

    def write_jsonl(self, out: TextIO) -> Counts:
        """Write one JSON line per input record (serialised in the workers); return counts.

        Blocks of a JSON Lines file come back serialised as UTF-8, left by the workers in a
        spool folder (a RAM disk where there is one): they are copied into ``out`` by the
        kernel when it is a UTF-8 stream on a file descriptor (a file, stdout), else decoded
        and written as text. Whatever was written as text before is flushed first.
        """
        sink = _ByteSink(out)
        ram = Path("/dev/shm")
        with tempfile.TemporaryDirectory(prefix="c360-aqi-", dir=ram if ram.is_dir() else None) as folder:
            outputs = self._outputs(as_json=True, spool=Path(folder))
            with contextlib.closing(outputs):  # the workers stop before their folder goes
                self._write(outputs, out, sink)
        return self.counts

    def _write(self, outputs: Iterator[list[Any]], out: TextIO, sink: _ByteSink) -> None:
        for output in outputs:
            for entry in output:
                if isinstance(entry, (Written, Spooled)):
                    self.counts.ok += entry.ok
                    self.counts.invalid += entry.invalid
                    self.counts.failed += entry.failed
                    if isinstance(entry, Written):
                        sink.write(entry.data)
                    else:
                        sink.copy(Path(entry.path))
                    continue
                status, line = entry
                self.counts.add(status)
                out.write(line)
                out.write("\n")


class _ByteSink:
    """Bytes into a text stream: through its byte buffer or file descriptor when it is UTF-8."""

    def __init__(self, out: TextIO) -> None:
        self._out = out
        encoding = (getattr(out, "encoding", "") or "").lower().replace("-", "")
        self._binary = getattr(out, "buffer", None) if encoding == "utf8" else None
        self._fd: int | None = None
        if self._binary is not None:
            with contextlib.suppress(OSError, ValueError, AttributeError, io.UnsupportedOperation):
                self._fd = self._binary.fileno()

    def write(self, data: bytes) -> None:
        if self._binary is None:
            self._out.write(data.decode("utf-8"))
            return
        self._out.flush()
        self._binary.write(data)

    def copy(self, path: Path) -> None:
        try:
            if self._fd is None:
                self.write(path.read_bytes())
                return
            self._out.flush()
            self._binary.flush()  # type: ignore[union-attr]
            with path.open("rb") as source:
                size, offset = os.fstat(source.fileno()).st_size, 0
                while offset < size:
                    try:
                        sent = os.sendfile(self._fd, source.fileno(), offset, size - offset)
                    except OSError:  # a system whose sendfile wants a socket: copy by hand
                        source.seek(offset)
                        self._binary.write(source.read())  # type: ignore[union-attr]
                        return
                    if sent == 0:
                        raise OSError(f"could not copy {path} into the output")
                    offset += sent
        finally:
            path.unlink(missing_ok=True)


def _chunked(items: Iterator[Item], size: int) -> Iterator[list[Item]]:
    while chunk := list(itertools.islice(items, size)):
        yield chunk


def _kind(source: object) -> str | None:
    """Which frame or file kind ``source`` is, by type name: plain JSON callers never import
    pyspark, pandas or polars."""
    cls = type(source)
    module, name = cls.__module__, cls.__name__
    if module.startswith("pyspark.sql") and name == "DataFrame":
        return "spark"
    if module.startswith("pandas") and name == "DataFrame":
        return "pandas"
    if module.startswith("polars") and name == "DataFrame":
        return "polars"
    if module.startswith("pyarrow") and name in ("Table", "RecordBatch"):
        return "arrow"
    if module.startswith("pyarrow") and hasattr(source, "read_next_batch"):  # any RecordBatchReader
        return "arrow_reader"
    is_path = isinstance(source, Path) or (isinstance(source, str) and not looks_like_json(source))
    if is_path and Path(source).suffix.lower() in (".parquet", ".csv"):  # type: ignore[arg-type]
        return "file"
    return None


@overload
def calculate(  # type: ignore[overload-overlap]
    source: DataFrame,
    standard: str | Path | Standard = ...,
    *,
    settings: Settings | None = ...,
    workers: int | None = ...,
    chunk_size: int | None = ...,
    engine: SparkEngine | None = ...,
) -> DataFrame: ...


@overload
def calculate(
    source: object,
    standard: str | Path | Standard = ...,
    *,
    settings: Settings | None = ...,
    workers: int | None = ...,
    chunk_size: int | None = ...,
    engine: SparkEngine | None = ...,
) -> Any: ...


def calculate(
    source: object,
    standard: str | Path | Standard = "us-epa-2024",
    *,
    settings: Settings | None = None,
    workers: int | None = None,
    chunk_size: int | None = None,
    engine: SparkEngine | None = None,
) -> Any:
    """AQI results for ``source`` in the caller's shape.

    ``source``: a Spark, pandas or Polars DataFrame, a pyarrow Table, RecordBatch or
    RecordBatchReader (each comes back as its own kind, result columns appended); a Parquet
    or CSV path (an Arrow ``RecordBatchReader`` of results, streamed); a path to a JSON Lines /
    JSON array file or a folder of them; JSON text; or an iterable of dicts (or JSON strings).
    ``standard``: a built-in id, a path to a standard's JSON file, or a :class:`Standard`.
    ``workers``/``chunk_size`` default to ``Settings.aqi_worker_count``/``aqi_chunk_size``; a
    Spark DataFrame is computed by ``engine``, by default ``Settings.aqi_spark_engine`` (the same
    results every way): "arrow" in Spark's Python workers, "native" in generated column
    expressions, "local" in the driver (for a frame the caller knows to be small).
    """
    resolved = resolve_standard(standard)
    kind = _kind(source)
    if kind == "spark":
        from c360.aqi import spark

        engine = engine or (settings or load_settings()).aqi_spark_engine
        compute = {
            "jvm": spark.calculate_df_jvm,
            "arrow": spark.calculate_df_arrow,
            "native": spark.calculate_df,
            "local": spark.calculate_df_local,
        }
        if engine not in compute:
            raise ValueError(f"unknown Spark engine {engine!r}: one of {', '.join(compute)}")
        return compute[engine](source, resolved)  # type: ignore[arg-type]
    if kind is not None:
        from c360.aqi import frames

        if kind == "pandas":
            return frames.calculate_pandas(source, resolved)  # type: ignore[no-any-return]
        if kind == "polars":
            return frames.calculate_polars(source, resolved)  # type: ignore[no-any-return]
        if kind == "arrow":
            return frames.calculate_arrow(source, resolved)  # type: ignore[arg-type]
        if kind == "arrow_reader":
            return frames.calculate_reader(source, resolved)  # type: ignore[arg-type]
        path = Path(source)  # type: ignore[arg-type]
        if not path.is_file():
            raise FileNotFoundError(f"no such file: {path}")
        return frames.calculate_reader(frames.read_file(path, frames.format_of(path)), resolved)
    if workers is None or chunk_size is None:
        settings = settings or load_settings()
    return AqiRun(
        source,
        resolved,
        workers=workers if workers is not None else settings.aqi_worker_count,  # type: ignore[union-attr]
        chunk_size=chunk_size if chunk_size is not None else settings.aqi_chunk_size,  # type: ignore[union-attr]
    )
