"""The one settings object. Environments differ only in values (``C360_*`` variables).

Nothing here reads the environment at import: call :func:`load_settings` (or build
``Settings(...)`` directly in tests) and pass the object on.
"""

from __future__ import annotations

import os
from enum import StrEnum
from pathlib import Path
from typing import Literal

from pydantic import Field, SecretStr, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

# A fixed key so local runs are reproducible; refused outside the local environment.
_LOCAL_DEV_PSEUDONYM_KEY = "c360-local-development-key-not-secret"


class Environment(StrEnum):
    LOCAL = "local"
    DEV = "dev"
    PROD = "prod"


class SettingsError(ValueError):
    """A setting is missing or inconsistent for the chosen environment."""


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="C360_", extra="ignore", frozen=True)

    environment: Environment = Environment.LOCAL
    lake_root: Path = Field(default=Path("./lakehouse"), description="Root folder of the lake.")
    spark_master: str = "local[*]"
    spark_app_name: str = "c360"
    spark_shuffle_partitions: int = Field(
        default=0, ge=0, description="0 = sized for the machine (2 x cores, at least 2)."
    )
    spark_driver_memory: str = "4g"
    spark_ui: bool = True
    spark_log_level: str = "WARN"
    spark_java_options: str = Field(
        default="",
        description="Extra JVM options for Spark's driver and executors (after c360's own, so they win).",
    )
    # Tables the sanitize and model steps write at the same time: their builds, checkpoints and
    # quality gates overlap, their commits stay in order (c360.inorder). On a day's few rows
    # each table is mostly fixed latency per Spark job, which a second table fills: 2 took the
    # warm daily model step from 34 to 28 s on 2 cores (docs/benchmarks.md). 1 = one at a time.
    publish_workers: int = Field(default=2, ge=1)
    # The same for a step that reads fewer rows than ``codegen_min_rows`` (a day of mock_data;
    # the sanitize step counts the history it joins): its tables wait on fixed latency, not on
    # the cores, and 4 at a time took the mock day as a new process 3-4% less than 2
    # (docs/benchmarks.md). A larger step keeps ``publish_workers``: its tables' rows share the
    # cores and the memory. 0 = ``publish_workers`` for every step.
    small_step_workers: int = Field(default=4, ge=0)
    # A step that reads fewer rows than this runs its queries' expressions interpreted instead
    # of compiling a class for each (c360.spark.codegen_for_rows): a mock_data day 20-25% faster,
    # the 1M-order-line model step 15-30% slower if interpreted (docs/benchmarks.md). 0 = always
    # compiled, Spark's own behaviour.
    codegen_min_rows: int = Field(default=1_000_000, ge=0)
    # A step whose tables hold fewer rows than this joins by sort-merge instead of broadcasting
    # a join's smaller side in a Spark job of its own (c360.spark.joins_for_rows): a mock_data
    # day as a new process 7% faster (docs/benchmarks.md). 0 = Spark's own choice always.
    broadcast_min_rows: int = Field(default=1_000_000, ge=0)
    # A Spark JVM that c360 starts for a run or an Airflow task reading fewer rows than this
    # JIT-compiles with HotSpot's C1 only (c360.spark.C1_ONLY_JIT): a mock_data day as a new
    # process 14% faster with a third less CPU; the 1M-order-line day's sanitize 7-16% slower
    # with it (docs/benchmarks.md). 0 = tiered compilation always (C1, then C2, asked later:
    # c360.spark.LATE_C2_JIT).
    c2_jit_min_rows: int = Field(default=1_000_000, ge=0)
    # Dimensions rebuilt only as far as their inputs changed since their build record
    # (c360.publish, "Build records"); False rebuilds every dimension whole, as a check or an
    # anchor (the content is the same either way).
    incremental_dimensions: bool = True
    # An incremental table with a key is rebuilt only for the groups a run changed when it holds
    # at least this many rows, and whole below that (the same rows either way): finding the
    # groups costs Spark jobs of their own, which a small table's whole build does not. The
    # model step of mock_data's next day took 18.0-20.8 s by groups and 9.3-13.4 s whole; the
    # 1M-order-line day's, 92 s by groups and 120 s whole (docs/benchmarks.md). 0 = by groups
    # always.
    groups_min_rows: int = Field(default=100_000, ge=0)
    # HMAC-SHA256 key for pseudonymising direct identifiers (sanitized tier).
    pseudonym_key: SecretStr | None = None
    # Worker processes for the JSON path of the AQI calculator; 0 = CPU count.
    aqi_workers: int = Field(default=0, ge=0)
    # Records (JSON Lines: lines) per chunk a worker takes. 20000 rather than 5000: a JSON Lines
    # block's fixed cost per chunk (reader, kernel, writer calls) then weighs less, 2.10 instead
    # of 2.57 CPU seconds per million lines; 4 chunks in flight stay a few MB each.
    aqi_chunk_size: int = Field(default=20000, ge=1)
    # How a Spark DataFrame's AQI is computed: "jvm" by c360's Java kernel in Spark's own tasks
    # (c360/jvm/AqiKernel.java, in c360's jar; a frame it does not take, long form or floats,
    # goes to "arrow"), "arrow" the integer kernel in the executors' Python workers (mapInArrow;
    # they need c360, as ingest's tasks do), "native" generated column expressions. Same results;
    # on 1M records jvm measured 1.6-1.9x arrow and 6-9x native (docs/benchmarks.md).
    aqi_spark_engine: Literal["jvm", "arrow", "native"] = "jvm"
    # The air-quality step scores a run of at most this many readings in the driver instead
    # (c360.aqi.spark.calculate_df_local): starting Spark's Python workers costs a daily run
    # more than its rows. 0 = always the engine above.
    aqi_local_max_rows: int = Field(default=50_000, ge=0)
    # Ingest reads a batch of at most this many bytes of source files in the driver instead of
    # Spark tasks (c360.raw.ingest._read_files), for the same reason: a mock_data day is ~100 KB,
    # a day of the 1M-order-line set ~1.5 MB. 0 = always in Spark tasks.
    ingest_driver_read_max_bytes: int = Field(default=8 * 1024 * 1024, ge=0)
    # Vacuum retention; Delta's usual safety default is 7 days.
    vacuum_retention_hours: int = Field(default=168, ge=0)
    # Serving API (c360 serve): no Spark; tables are delta-rs snapshots reloaded on new versions.
    serve_host: str = "127.0.0.1"
    serve_port: int = Field(default=8000, ge=1, le=65535)
    serve_workers: int = Field(
        default=1, ge=1, le=64, description="Server processes; each holds its own copy of the served tables."
    )
    serve_reload_seconds: float = Field(default=5.0, gt=0, description="How often the server polls for new versions.")
    serve_sql_row_limit: int = Field(default=10_000, ge=1)
    serve_sql_timeout_seconds: float = Field(default=30.0, gt=0)
    serve_sql_processes: int = Field(
        default=4, ge=1, le=64, description="Queries a server process runs at once, each in a query process of its own."
    )
    sql_memory_mb: int | None = Field(
        default=None,
        ge=256,  # a query process holds 70-140 MiB before its first query
        description="Memory one SQL query process may allocate (c360 sql, notebooks, the server's queries); a query "
        "needing more fails alone. Default: half the machine's memory shared by the query processes that can run "
        "at once.",
    )
    serve_page_max: int = Field(default=500, ge=1, description="Largest page of a list endpoint.")
    serve_aqi_max_records: int = Field(default=5000, ge=1, description="Records per POST /v1/aqi request.")
    serve_max_body_bytes: int = Field(
        default=16 * 1024 * 1024, ge=1024, description="Largest request body; a larger one is a 413, never read whole."
    )
    serve_audit_flush_seconds: float = Field(default=2.0, gt=0)
    serve_export_dir: Path | None = Field(
        default=None, description="Where the server keeps export files (default: <lake_root>/../exports)."
    )

    @model_validator(mode="after")
    def _absolute_lake_root(self) -> Settings:
        # Resolve once so every component (Spark, delta-rs, the CLI) sees one path.
        object.__setattr__(self, "lake_root", self.lake_root.expanduser().resolve())
        return self

    @property
    def shuffle_partitions(self) -> int:
        if self.spark_shuffle_partitions:
            return self.spark_shuffle_partitions
        return max(2, 2 * (os.cpu_count() or 1))

    def sql_memory_bytes(self, processes: int) -> int:
        """What each of ``processes`` SQL query processes that may run at once may allocate."""
        from c360.sql import default_memory_bytes

        return default_memory_bytes(processes) if self.sql_memory_mb is None else self.sql_memory_mb * 1024 * 1024

    def pseudonym_key_bytes(self) -> bytes:
        """The pseudonymisation key; the fixed development key only in ``local``."""
        if self.pseudonym_key is not None and self.pseudonym_key.get_secret_value():
            return self.pseudonym_key.get_secret_value().encode()
        if self.environment is Environment.LOCAL:
            return _LOCAL_DEV_PSEUDONYM_KEY.encode()
        raise SettingsError(
            f"C360_PSEUDONYM_KEY is not set; it is required in the {self.environment.value!r} "
            "environment (the development key is only allowed in 'local')."
        )

    @property
    def aqi_worker_count(self) -> int:
        return self.aqi_workers or (os.cpu_count() or 1)

    @property
    def export_dir(self) -> Path:
        """Where the server keeps the export files it wrote (one per table version, format and role)."""
        return self.serve_export_dir or self.lake_root.parent / "exports"


def load_settings(**overrides: object) -> Settings:
    """Read settings from ``C360_*`` environment variables (and explicit overrides)."""
    return Settings(**overrides)  # type: ignore[arg-type]
