"""Raw tier: every source record as received, once per source file.

``raw.<domain>.<source>`` holds the delivered fields as strings (a bad value never fails
a cast here), plus ingest id and time, source file, checksum, line number and extract
date (the partition). Malformed lines are kept with their text and the reason. Direct
identifiers are sealed on the way in: the raw row holds their token, the clear value
goes to the vault first (so a crash can never leave a token without its value).

A file is ingested once per table: its checksum is recorded as an application
transaction in the same commit as its rows, so a second ingest of the same bytes,
from any folder, adds nothing.
"""

from __future__ import annotations

import re
import uuid
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from pathlib import Path

import pyarrow as pa
from pyspark.sql import DataFrame, SparkSession
from pyspark.sql import types as T

from c360.contracts import CONTRACTS, Contract
from c360.contracts.model import RAW_META
from c360.pii import add_to_vault, token, vault_schema
from c360.privacy.erased import linked_kinds, load_erased
from c360.raw.parse import ParsedFile, parse_csv, parse_json
from c360.registry import PLATFORM, Retention, Table, column
from c360.storage import DeltaStorage

DATE_DIR = re.compile(r"^\d{4}-\d{2}-\d{2}$")
FILE_LOG_TABLE = "ops.pipeline.ingested_files"
FILE_LOG_SCHEMA = T.StructType(
    [
        column("ingest_id", T.StringType(), "the ingest run", False),
        column("ingest_time", T.TimestampType(), "when it was ingested (UTC)", False),
        column("source_file", T.StringType(), "path of the file (resolved)", False),
        column("checksum", T.StringType(), "SHA-256 of the file", False),
        column("table", T.StringType(), "raw table it went to, or empty when it has no contract", False),
        column("status", T.StringType(), "what became of the file", False),
        column("rows", T.LongType(), "rows ingested", False),
        column("malformed_rows", T.LongType(), "of which lines that could not be parsed", False),
        column("message", T.StringType(), "why, when it was not ingested in full"),
        column("extract_date", T.DateType(), "the extract date of its folder (partition)", False),
    ]
)
FILE_LOG = Table(
    name=FILE_LOG_TABLE,
    schema=FILE_LOG_SCHEMA,
    description="Every source file an ingest saw, with what became of it.",
    grain="one row per source file per ingest run",
    keys=("ingest_id", "source_file"),
    product=PLATFORM,
    owner="data-platform",
    partition_by=("extract_date",),
    retention=Retention(rows_days=730, row_date="extract_date"),
)


@dataclass(frozen=True)
class SourceFile:
    path: Path
    contract: Contract | None
    extract_date: date


@dataclass
class FileOutcome:
    path: Path
    table: str | None
    status: str  # ingested | empty | already_ingested | no_contract
    rows: int = 0
    malformed: int = 0
    problems: list[str] = field(default_factory=list)

    def message(self) -> str:
        return "; ".join(self.problems)


@dataclass
class IngestReport:
    ingest_id: str
    files: list[FileOutcome] = field(default_factory=list)

    @property
    def rows(self) -> int:
        return sum(f.rows for f in self.files)

    def by_status(self, status: str) -> list[FileOutcome]:
        return [f for f in self.files if f.status == status]


def discover(source: Path, run_date: date | None = None) -> list[SourceFile]:
    """Source files under ``source``: daily folders ``YYYY-MM-DD/<domain>/<file>``, or one
    dump ``<domain>/<file>`` whose extract date is ``run_date``."""
    source = Path(source)
    if not source.is_dir():
        raise FileNotFoundError(f"source folder {source} does not exist")
    day_dirs = sorted(p for p in source.iterdir() if p.is_dir() and DATE_DIR.match(p.name))
    found: list[SourceFile] = []
    if day_dirs:
        for day_dir in day_dirs:
            day = date.fromisoformat(day_dir.name)
            if run_date is None or day == run_date:
                found += _files_in(day_dir, day)
        if run_date is not None and not found:
            raise FileNotFoundError(f"no extract folder {source / run_date.isoformat()} under {source}")
        return found
    if run_date is None:
        raise ValueError(f"{source} holds no dated extract folders; give the extract date (--run-date) of this dump")
    return _files_in(source, run_date)


def _files_in(folder: Path, day: date) -> list[SourceFile]:
    out = []
    for path in sorted(p for p in folder.glob("*/*") if p.is_file() and not p.name.startswith(".")):
        domain, stem = path.parent.name, path.name.split(".")[0]
        out.append(SourceFile(path, CONTRACTS.get(f"{domain}.{stem}"), day))
    return out


def ingest(
    spark: SparkSession,
    storage: DeltaStorage,
    files: Iterable[SourceFile],
    pseudonym_key: bytes,
    ingest_id: str | None = None,
) -> IngestReport:
    """Ingest source files into the raw tier: one commit per raw table, nothing twice."""
    report = IngestReport(ingest_id or uuid.uuid4().hex)
    now = datetime.now(UTC).replace(microsecond=0)
    by_contract: dict[str, list[SourceFile]] = {}
    for f in files:
        if f.contract is None:
            report.files.append(
                FileOutcome(f.path, None, "no_contract", problems=["no source contract for this file; not ingested"])
            )
        else:
            by_contract.setdefault(f.contract.name, []).append(f)
    log_rows: list[tuple] = []
    log_txns: list[tuple[str, int]] = []
    logged = _transactions(storage, FILE_LOG_TABLE)
    # Erased customers stay out: their rows in a re-sent extract are dropped here, before
    # anything (raw, vault) holds them again; the file's outcome says how many.
    erased = load_erased(storage.catalog, pseudonym_key)
    for name, group in by_contract.items():
        contract = CONTRACTS[name]
        storage.ensure_table(
            contract.raw_table, contract.raw_schema(), ["_extract_date"], description=f"raw {contract.description}"
        )
        parsed_files: list[tuple[SourceFile, ParsedFile]] = []
        seen: set[str] = set()
        done = _transactions(storage, contract.raw_table)
        skip = erased.row_filter(contract.subject, linked_kinds(contract)) if erased else None
        for f in group:
            data = f.path.read_bytes()
            parsed = (
                parse_json(f.path, data)
                if contract.format == "json"
                else parse_csv(f.path, data, contract.raw_columns, contract.key)
            )
            txn = _txn(contract, parsed.checksum)
            if parsed.checksum in seen or done(txn):
                report.files.append(
                    FileOutcome(
                        f.path,
                        contract.raw_table,
                        "already_ingested",
                        problems=["same bytes already ingested; skipped"],
                    )
                )
                continue
            seen.add(parsed.checksum)
            status = "ingested" if parsed.rows else "empty"
            dropped = sum(1 for r in parsed.rows if skip(r.values)) if skip else 0
            outcome = FileOutcome(
                f.path,
                contract.raw_table,
                status,
                len(parsed.rows) - dropped,
                parsed.malformed,
                [*parsed.problems, *([f"{dropped} row(s) of erased subjects dropped"] if dropped else [])],
            )
            report.files.append(outcome)
            parsed_files.append((f, parsed))
            if not logged(txn):
                log_rows.append(
                    (
                        report.ingest_id,
                        now,
                        str(f.path),
                        parsed.checksum,
                        contract.raw_table,
                        status,
                        outcome.rows,
                        outcome.malformed,
                        outcome.message() or None,
                        f.extract_date,
                    )
                )
                log_txns.append((txn, 1))
        if not parsed_files:
            continue
        table, vault_rows = _to_arrow(contract, parsed_files, report.ingest_id, now, pseudonym_key, skip)
        if vault_rows:
            _add_to_vault(spark, storage, vault_rows)
        rows_df = (
            spark.createDataFrame(table).select(*contract.raw_schema().fieldNames())
            if table.num_rows
            else spark.createDataFrame([], contract.raw_schema())
        )
        storage.append(
            _conform(rows_df, contract.raw_schema()),
            contract.raw_table,
            record_transactions=[(_txn(contract, p.checksum), 1) for _, p in parsed_files],
            metadata={"c360.ingest_id": report.ingest_id},
        )
    if log_rows:
        FILE_LOG.ensure(storage)
        storage.append(spark.createDataFrame(log_rows, FILE_LOG_SCHEMA), FILE_LOG_TABLE, record_transactions=log_txns)
    return report


def _transactions(storage: DeltaStorage, table: str) -> Callable[[str], bool]:
    """ "Is this application transaction committed to ``table``?", on one snapshot of its log.

    Opened once per table and run, not once per file: a year of daily files would
    otherwise replay the growing log thousands of times.
    """
    if not storage.exists(table):
        return lambda _txn: False
    snapshot = storage.catalog.open(table)
    return lambda txn: snapshot.transaction_version(txn) is not None


def _txn(contract: Contract, checksum: str) -> str:
    return f"file:{contract.name}:{checksum}"


def _conform(df: DataFrame, schema: T.StructType) -> DataFrame:
    from pyspark.sql import functions as F

    return df.select(*[F.col(f.name).cast(f.dataType).alias(f.name) for f in schema.fields])


def _to_arrow(
    contract: Contract,
    parsed_files: list[tuple[SourceFile, ParsedFile]],
    ingest_id: str,
    now: datetime,
    key: bytes,
    skip: Callable[[dict[str, str | None]], bool] | None = None,
) -> tuple[pa.Table, list[tuple[str, str, str | None, str, str]]]:
    """Arrow columns of the raw rows, PII sealed, and the vault rows for the clear values
    (rows ``skip`` selects, those of erased subjects, are left out)."""
    cols: dict[str, list[object]] = {c: [] for c in contract.raw_columns}
    meta: dict[str, list[object]] = {f.name: [] for f in RAW_META}
    pii = set(contract.pii_columns)
    seal_all = bool(pii)  # unknown columns and unparsed lines of a PII source may hold PII too
    vault: dict[tuple[str, str | None], tuple[str, str, str | None, str, str]] = {}

    def seal(value: str | None, column: str, subject: str | None) -> str | None:
        if value is None or value == "":
            return value
        tok = token(key, value)
        vault.setdefault((tok, subject), (tok, value, subject, contract.name, column))
        return tok

    for f, parsed in parsed_files:
        for row in parsed.rows:
            if skip is not None and skip(row.values):
                continue
            subject = row.values.get(contract.subject) if contract.subject else None
            for c in contract.raw_columns:
                v = row.values.get(c)
                cols[c].append(seal(v, c, subject) if c in pii else v)
            extra = {k: (seal(v, k, subject) if seal_all else v) for k, v in row.extra.items()}
            meta["_extra"].append(list(extra.items()) if extra else None)
            meta["_line_number"].append(row.line_number)
            meta["_raw_line"].append(seal(row.raw_line, "_raw_line", subject) if seal_all else row.raw_line)
            meta["_parse_error"].append(row.parse_error)
            meta["_ingest_id"].append(ingest_id)
            meta["_ingest_time"].append(now)
            meta["_source_file"].append(str(f.path))
            meta["_source_checksum"].append(parsed.checksum)
            meta["_extract_date"].append(f.extract_date)
    arrays = {c: pa.array(v, pa.string()) for c, v in cols.items()}
    arrays["_extra"] = pa.array(meta.pop("_extra"), pa.map_(pa.string(), pa.string()))
    arrays["_line_number"] = pa.array(meta.pop("_line_number"), pa.int64())
    arrays["_ingest_time"] = pa.array(meta.pop("_ingest_time"), pa.timestamp("us", tz="UTC"))
    arrays["_extract_date"] = pa.array(meta.pop("_extract_date"), pa.date32())
    for name, values in meta.items():
        arrays[name] = pa.array(values, pa.string())
    return pa.table(arrays), list(vault.values())


def _add_to_vault(
    spark: SparkSession, storage: DeltaStorage, rows: list[tuple[str, str, str | None, str, str]]
) -> None:
    """The sealed values into the vault (through Arrow: a full customer extract is ~6 values per
    customer, too many to pickle row by row)."""
    schema = vault_schema()
    columns = list(zip(*rows, strict=True))
    arrow = pa.table({f.name: pa.array(columns[i], pa.string()) for i, f in enumerate(schema.fields)})
    add_to_vault(storage, _conform(spark.createDataFrame(arrow), schema))
