"""AQI calculator throughput: DataFrame path vs JSON path vs python-aqi's per-value loop.

All three read the same 1M generated records in one run on one machine. The DataFrame
and JSON paths go file-to-result (Spark reads the JSON Lines file with string columns; the
JSON path streams it through the worker pool and serialises JSON Lines); python-aqi is the
anchor, fed pre-parsed string values, so its figure flatters it. python-aqi implements the
2012 tables without SO2 24-hour; the anchor measures speed, not agreement.
"""

from __future__ import annotations

import json
import os
import random
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


def main() -> None:
    from c360.aqi import calculate
    from c360.settings import load_settings
    from c360.spark import get_spark

    settings = load_settings(spark_ui=False, spark_log_level="ERROR")
    with tempfile.TemporaryDirectory(prefix="bench_aqi_") as tmp:
        source = Path(tmp) / "readings.jsonl"
        _write_input(source, N)
        size_mb = source.stat().st_size / 1e6

        spark = get_spark(settings)
        schema = ", ".join(f"{c} string" for c in ("station", *FIELDS))
        calculate(spark.read.schema(schema).json(str(source)).limit(1000)).collect()  # warm-up
        start = time.perf_counter()
        df = calculate(spark.read.schema(schema).json(str(source)))
        df.write.format("noop").mode("overwrite").save()
        spark_s = time.perf_counter() - start
        spark.stop()

        start = time.perf_counter()
        run = calculate(source, settings=settings)
        with open(os.devnull, "w") as sink:
            counts = run.write_jsonl(sink)
        json_s = time.perf_counter() - start
        assert counts.total == N, counts

        anchor_s = _python_aqi(N)

    rows = [
        ["c360 DataFrame path (Spark, native expressions)", "JSON Lines file", spark_s],
        [f"c360 JSON path ({settings.aqi_worker_count} worker processes)", "JSON Lines file", json_s],
        ["python-aqi `to_aqi` loop (anchor, 7 pollutants)", "pre-parsed strings", anchor_s],
    ]
    table = markdown_table(
        ["path", "input", "records", "seconds", "records/s"],
        [[name, src, f"{N:,}", f"{secs:.1f}", f"{N / secs:,.0f}"] for name, src, secs in rows],
    )
    body = (
        f"{N:,} wide records (8 concentrations each, {size_mb:.0f} MB of JSON Lines), "
        f"US EPA 2024 standard, Spark `{settings.spark_master}`, "
        f"chunk size {settings.aqi_chunk_size}. DataFrame path: read + calculate + noop write; "
        "JSON path: stream + validate + calculate + serialise JSON Lines (the CLI's path); "
        "python-aqi: its per-record loop only, no parsing or output.\n\n"
        f"{table}\n\nJSON path outcome: {counts.ok:,} ok, {counts.invalid:,} invalid, "
        f"{counts.failed:,} failed."
    )
    path = write_section("aqi", "AQI calculator", body)
    print(body)
    print(f"written to {path}")
