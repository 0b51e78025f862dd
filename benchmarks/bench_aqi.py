"""AQI calculator throughput, every path side by side on the same generated records.

One run, one machine, the same N records (``C360_BENCH_AQI_RECORDS``, default 1M; set it
small to try the benchmark):

- the JSON path, JSON Lines file -> JSON Lines (the CLI's path: worker pool + kernel);
- Spark, Parquet -> results -> noop write: native column expressions, ``mapInArrow`` over
  the integer kernel, and the JVM kernel (``calculate``'s default), with two floors: reading
  alone, and reading plus a ``mapInArrow`` that passes the batches through; then the two
  kernels on the same readings as a Parquet file of doubles;
- the kernel per input kind: an in-memory Arrow table (of text, as the JSON records hold it;
  of doubles and of decimals, as frames from sensors and databases hold it), a pandas frame,
  a Parquet file and a CSV file (read, calculate, results consumed); and an Arrow table whose
  values never repeat (the kernel works once per distinct value, so this is its worst case);
- the decimal core's per-record loop (the exact reference the kernel is tested against),
  on a tenth of the records;
- anchors: python-aqi's per-record loop (fed pre-parsed strings: its figure flatters it;
  2012 tables without SO2 24-hour, so it measures speed, not agreement) and a plain NumPy
  float evaluation of one pollutant's table (the hardware's whole-array speed).
"""

from __future__ import annotations

import json
import os
import random
import sys
import tempfile
import time
from pathlib import Path

from benchmarks.report import markdown_table, write_section

N = int(os.environ.get("C360_BENCH_AQI_RECORDS", "1000000"))
FIELDS = ("pm25_24h", "pm10_24h", "o3_8h", "o3_1h", "co_8h", "so2_1h", "so2_24h", "no2_1h")


def _records(n: int, seed: int = 2024):
    rng = random.Random(seed)
    for i in range(n):
        yield {
            "station": f"S{i % 500:03d}",
            "pm25_24h": f"{rng.uniform(0, 300):.1f}",
            "pm10_24h": str(rng.randint(0, 500)),
            "o3_8h": f"{rng.uniform(0, 0.2):.3f}",
            "o3_1h": f"{rng.uniform(0.125, 0.6):.3f}",
            "co_8h": f"{rng.uniform(0, 40):.1f}",
            "so2_1h": str(rng.randint(0, 300)),
            "so2_24h": str(rng.randint(0, 900)),
            "no2_1h": str(rng.randint(0, 1500)),
        }


def _distinct_table(n: int):  # type: ignore[no-untyped-def]
    """The same fields with (almost) no repeated value: floats rounded to 6 decimals, as text.

    The kernel parses and looks up each distinct value once; on sensor data values repeat,
    here they do not, so this row shows the row-by-row cost."""
    import numpy as np
    import pyarrow as pa
    import pyarrow.compute as pc

    rng = np.random.default_rng(7)
    tops = {"pm25_24h": 300, "pm10_24h": 500, "o3_8h": 0.2, "o3_1h": 0.6, "co_8h": 40, "so2_1h": 300,
            "so2_24h": 900, "no2_1h": 1500}  # fmt: skip
    return pa.table({c: pc.cast(pc.round(pa.array(rng.uniform(0, top, n)), 6), pa.string()) for c, top in tops.items()})


def _write_input(path: Path, n: int) -> None:
    # Numbers as JSON numbers, as sensors send them.
    with path.open("w") as fp:
        for r in _records(n):
            fp.write(json.dumps({k: (v if k == "station" else json.loads(v)) for k, v in r.items()}))
            fp.write("\n")


def _python_aqi(n: int) -> float:
    import aqi  # benchmark anchor only; c360 never imports it
    from aqi.constants import (
        POLLUTANT_CO_8H,
        POLLUTANT_NO2_1H,
        POLLUTANT_O3_1H,
        POLLUTANT_O3_8H,
        POLLUTANT_PM10,
        POLLUTANT_PM25,
        POLLUTANT_SO2_1H,
    )

    keys = {
        "pm25_24h": POLLUTANT_PM25,
        "pm10_24h": POLLUTANT_PM10,
        "o3_8h": POLLUTANT_O3_8H,
        "o3_1h": POLLUTANT_O3_1H,
        "co_8h": POLLUTANT_CO_8H,
        "so2_1h": POLLUTANT_SO2_1H,
        "no2_1h": POLLUTANT_NO2_1H,
    }
    batch = [[(keys[k], r[k]) for k in keys] for r in _records(n)]
    start = time.perf_counter()
    for values in batch:
        aqi.to_aqi(values)
    return time.perf_counter() - start


def _numpy_anchor(n: int) -> float:
    """One pollutant's table (PM2.5, 8 bands) evaluated on n floats with NumPy: the ceiling."""
    import numpy as np

    from c360.aqi import load_standard

    table = load_standard("us-epa-2024").field("pm25_24h")
    lo = np.array([float(b.c_low) for b in table.bands])
    hi = np.array([float(b.c_high) for b in table.bands])
    ilo = np.array([b.i_low for b in table.bands], dtype=float)
    ihi = np.array([b.i_high for b in table.bands], dtype=float)
    values = np.random.default_rng(1).uniform(0, 300, n)
    start = time.perf_counter()
    c = np.floor(values * 10) / 10
    band = np.minimum(np.searchsorted(hi, c), len(hi) - 1)
    np.rint((ihi[band] - ilo[band]) / (hi[band] - lo[band]) * (c - lo[band]) + ilo[band])
    return time.perf_counter() - start


def _decimal_core(n: int) -> float:
    from c360.aqi import load_standard
    from c360.aqi.core import evaluate

    standard = load_standard("us-epa-2024")
    records = list(_records(n))
    start = time.perf_counter()
    for record in records:
        evaluate(record, standard)
    return time.perf_counter() - start


def _timed(fn) -> float:  # type: ignore[no-untyped-def]
    start = time.perf_counter()
    fn()
    return time.perf_counter() - start


def _passed_through(batches):  # type: ignore[no-untyped-def]
    yield from batches


def main() -> None:
    import pyarrow as pa
    import pyarrow.compute as pc
    import pyarrow.csv as pcsv
    import pyarrow.parquet as pq

    from c360.aqi import calculate
    from c360.settings import load_settings
    from c360.spark import get_spark

    # mapInArrow's Python workers must be this interpreter (it has c360 and pyarrow).
    os.environ.setdefault("PYSPARK_PYTHON", sys.executable)
    settings = load_settings(spark_ui=False, spark_log_level="ERROR")
    rows: list[list[object]] = []
    with tempfile.TemporaryDirectory(prefix="bench_aqi_") as tmp:
        source = Path(tmp) / "readings.jsonl"
        _write_input(source, N)
        size_mb = source.stat().st_size / 1e6
        columns = ("station", *FIELDS)
        strings = list(_records(N))
        table = pa.table({c: pa.array([r[c] for r in strings], pa.string()) for c in columns})
        del strings
        parquet, csv = Path(tmp) / "readings.parquet", Path(tmp) / "readings.csv"
        # Row groups of a quarter each, as a writer of 1M rows makes them: one row group would
        # be one Spark task, and leave a core idle.
        pq.write_table(table, parquet, row_group_size=max(1, N // 4))
        # The same readings as numbers, as a sensor's or a database's Parquet holds them.
        numeric = Path(tmp) / "readings-doubles.parquet"
        doubles = pa.table({c: pc.cast(table[c], pa.float64()) if c in FIELDS else table[c] for c in columns})
        pq.write_table(doubles, numeric, row_group_size=max(1, N // 4))
        del doubles
        pcsv.write_csv(table, csv)

        start = time.perf_counter()
        run = calculate(source, settings=settings)
        with open(os.devnull, "w") as sink:
            counts = run.write_jsonl(sink)
        rows.append([f"c360 JSON path (kernel, {settings.aqi_worker_count} workers)",
                     "JSON Lines file -> JSON Lines", time.perf_counter() - start])  # fmt: skip
        assert counts.total == N, counts

        spark = get_spark(settings)
        for engine in ("jvm", "arrow", "native"):  # warm-up
            calculate(spark.read.parquet(str(parquet)).limit(1000), engine=engine).collect()
        for name, fn in (
            # The floors: Spark reading the file alone, then also handing every batch to a
            # Python worker and back (what mapInArrow costs before any AQI is computed).
            ("Spark floor: read only", lambda df: df),
            ("Spark floor: mapInArrow passing batches through", lambda df: df.mapInArrow(_passed_through, df.schema)),
            ("c360 Spark, native column expressions", lambda df: calculate(df, engine="native")),
            ("c360 Spark, mapInArrow over the kernel", lambda df: calculate(df, engine="arrow")),
            ("c360 Spark, the JVM kernel (calculate's default)", lambda df: calculate(df, engine="jvm")),
        ):
            secs = _timed(
                lambda fn=fn: fn(spark.read.parquet(str(parquet))).write.format("noop").mode("overwrite").save()
            )
            rows.append([name, "Parquet file -> noop write", secs])
        # The same call again: a session's first full-size call of a plan also pays its code
        # generation and the JIT compiling the kernel and that code (about 1 s here); the row
        # above is that first call, this one what every later call of the session costs.
        secs = _timed(lambda: calculate(spark.read.parquet(str(parquet))).write.format("noop").mode("overwrite").save())
        rows.append(["c360 Spark, the JVM kernel, the same call again", "Parquet file -> noop write", secs])
        for name, engine in (("mapInArrow over the kernel", "arrow"), ("the JVM kernel", "jvm")):
            secs = _timed(
                lambda engine=engine: calculate(spark.read.parquet(str(numeric)), engine=engine)
                .write.format("noop").mode("overwrite").save()
            )  # fmt: skip
            rows.append([f"c360 Spark, {name}", "Parquet file of doubles -> noop write", secs])
        spark.stop()

        pandas_frame = table.to_pandas()
        # Arrow's buffers from the C library's allocator, which c360's own processes use
        # (c360.aqi.kernel.use_system_allocator); a caller's process keeps Arrow's default.
        # Measured first, so that any warm-up is paid by this row, not the default's.
        default_pool = pa.default_memory_pool()
        pa.set_memory_pool(pa.system_memory_pool())
        system_s = _timed(lambda: calculate(table))
        pa.set_memory_pool(default_pool)
        rows.append(["c360 kernel, Arrow table", "in memory -> Arrow table", _timed(lambda: calculate(table))])
        rows.append(["c360 kernel, Arrow table, the C library's allocator", "in memory -> Arrow table", system_s])
        for label, kind in (("doubles", pa.float64()), ("decimals", pa.decimal128(12, 3))):
            typed = pa.table({c: pc.cast(table[c], kind) if c in FIELDS else table[c] for c in columns})
            rows.append([f"c360 kernel, Arrow table of {label}", "in memory -> Arrow table",
                         _timed(lambda typed=typed: calculate(typed))])  # fmt: skip
        distinct = _distinct_table(N)  # the kernel's worst case: no value repeats
        rows.append(["c360 kernel, Arrow table of distinct values", "in memory -> Arrow table",
                     _timed(lambda: calculate(distinct))])  # fmt: skip
        rows.append(["c360 kernel, pandas frame", "in memory -> pandas frame", _timed(lambda: calculate(pandas_frame))])
        rows.append(["c360 kernel, Parquet file", "file -> Arrow batches",
                     _timed(lambda: calculate(parquet).read_all())])  # fmt: skip
        rows.append(["c360 kernel, CSV file", "file -> Arrow batches", _timed(lambda: calculate(csv).read_all())])

    sample = max(1, N // 10)
    core_s = _decimal_core(sample) * N / sample
    rows.append([f"c360 decimal core loop (reference; {sample:,} records, scaled)", "parsed records", core_s])
    anchor_s = _python_aqi(N)
    rows.append(["python-aqi `to_aqi` loop (anchor, 7 pollutants)", "pre-parsed strings", anchor_s])
    numpy_s = _numpy_anchor(N)
    rows.append(["NumPy, one pollutant's table in floats (anchor)", "in-memory float array", numpy_s])

    table_md = markdown_table(
        ["path", "input -> output", "records", "seconds", "records/s", "x python-aqi"],
        [
            [name, src, f"{N:,}", f"{secs:.2f}", f"{N / secs:,.0f}", f"{anchor_s / secs:.1f}"]
            for name, src, secs in rows
        ],
    )
    load = os.getloadavg()
    body = (
        f"{N:,} wide records (8 concentrations each, {size_mb:.0f} MB of JSON Lines), "
        f"US EPA 2024 standard, Spark `{settings.spark_master}`, chunk size {settings.aqi_chunk_size}, "
        f"load average {load[0]:.2f} / {load[1]:.2f} / {load[2]:.2f} at the end. "
        "Every c360 path includes reading, validating, calculating and writing or materialising "
        "its results; python-aqi and NumPy are compute only.\n\n"
        f"{table_md}\n\nJSON path outcome: {counts.ok:,} ok, {counts.invalid:,} invalid, "
        f"{counts.failed:,} failed."
    )
    path = write_section("aqi", "AQI calculator", body)
    print(body)
    print(f"written to {path}")
