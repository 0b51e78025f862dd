"""Raw tier: every source record as received, once per source file.

``raw.<domain>.<source>`` holds the delivered fields as strings (a bad value never fails
a cast here), plus ingest id and time, source file, checksum, line number and extract
date (the partition). Malformed lines are kept with their text and the reason. Direct
identifiers are sealed on the way in: the raw row holds their token, the clear value
goes to the vault first (so a crash can never leave a token without its value).

A file is ingested once per table: its checksum is recorded as an application
transaction in the same commit as its rows, so a second ingest of the same bytes,
from any folder, adds nothing.

Source folders are untrusted. Nothing outside the source folder is ever read: every
path is resolved (links followed) and checked to lie inside it, and a file is opened
only as the regular file that was checked (never through a link, never a FIFO, device
or socket). One bad file or folder never stops a run: it becomes an outcome with its
reason in ``ops.pipeline.ingested_files`` and the rest goes on. The stages of
:func:`ingest` are named after what they do: discover, read, parse, seal, commit, record.

Where they run: the driver discovers (every check above) and plans. Reading, parsing and
sealing run in Spark tasks (``mapInArrow`` over a small DataFrame of the files to read,
balanced by bytes), with the pseudonym key and the erased subjects' filter shipped to
them; each task writes its files' sealed rows and vault values as Parquet into a private
staging folder on the lake (``DeltaStorage.scratch``, removed at the end, also on failure)
and sends back one small row per file: checksum, counts, problems. The driver decides
which checksums are new, then commits from the staging folder: the vault first, then one
append per raw table, whose files are moved in as the tasks wrote them (no Spark job). So
the driver's memory does not grow with the rows, and on a cluster the executors parse; they
import c360 (docs/cluster.md). A day's few bytes (``DRIVER_READ_MAX_BYTES``) are read by the
driver with the same task code instead, which costs less than starting Spark's Python
workers (``_read_files``).
"""

from __future__ import annotations

import bz2
import errno
import functools
import gzip
import hashlib
import heapq
import io
import lzma
import os
import re
import stat
import uuid
import zlib
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq
from pyspark.sql import DataFrame, SparkSession
from pyspark.sql import types as T

from c360.contracts import CONTRACTS, Contract, group_of
from c360.contracts.model import RAW_META
from c360.pii import VAULT_TABLE, add_to_vault, token, vault_schema
from c360.privacy.erased import linked_kinds, load_erased
from c360.raw.parse import ParsedFile, escape_undecodable, parse_csv, parse_json
from c360.registry import PLATFORM, Retention, Table, column
from c360.storage import DeltaStorage
from c360.storage.delta import COLLECT_MAX_ROWS, data_file_schema, table_file
from c360.storage.locks import PIPELINE_LOCK, ingest_lock, lake_locks
from c360.storage.schema import rows_to_arrow

DATE_DIR = re.compile(r"^\d{4}-\d{2}-\d{2}$")
# A file is a source only under its exact name: <source><extension>[<compression>].
EXTENSIONS: dict[str, tuple[str, ...]] = {"csv": (".csv",), "json": (".json", ".jsonl")}
COMPRESSIONS = (".gz", ".bz2", ".xz")
# A file is parsed in one Spark task's memory: a file (after decompression) over this is not read.
MAX_FILE_BYTES = 1 << 30
# Copies and work files of editors and transfers: never the delivery itself, even when the
# name starts with a source's name (transactions.csv.bak once became real orders).
NOT_DELIVERIES = (
    (".bak", "backup copy"),
    (".orig", "backup copy"),
    (".old", "backup copy"),
    (".swp", "editor swap file"),
    (".swo", "editor swap file"),
    (".tmp", "temporary file"),
    (".temp", "temporary file"),
    (".part", "partial transfer"),
    (".partial", "partial transfer"),
    (".crdownload", "partial transfer"),
)

# Outcomes of a file or folder seen by an ingest (ops.pipeline.ingested_files.status).
INGESTED = "ingested"  # rows written
EMPTY = "empty"  # read, no data rows
ALREADY_INGESTED = "already_ingested"  # the same bytes are in the table already
NO_CONTRACT = "no_contract"  # not a delivery: no contract has this exact name (backups, hidden files...)
REFUSED = "refused"  # not read, on purpose: a link out of the source folder, a special file, a bad date folder
FAILED = "failed"  # tried and could not: unreadable, vanished, corrupt compression, too large
STATUSES = (INGESTED, EMPTY, ALREADY_INGESTED, NO_CONTRACT, REFUSED, FAILED)

FILE_LOG_TABLE = "ops.pipeline.ingested_files"
# checksum, table and extract_date are empty for what was never read, matched or dated.
FILE_LOG_SCHEMA = T.StructType(
    [
        column("ingest_id", T.StringType(), "the ingest run", False),
        column("ingest_time", T.TimestampType(), "when it was ingested (UTC)", False),
        column("source_file", T.StringType(), "real path of the file read, or the path seen when not read", False),
        column("checksum", T.StringType(), "SHA-256 of the content (decompressed); empty when not read"),
        column("table", T.StringType(), "raw table it went to; empty when it matched no contract"),
        column("status", T.StringType(), "ingested, empty, already_ingested, no_contract, refused or failed", False),
        column("rows", T.LongType(), "rows ingested", False),
        column("malformed_rows", T.LongType(), "of which lines that could not be parsed", False),
        column("message", T.StringType(), "why, when it was not ingested in full"),
        column("extract_date", T.DateType(), "the extract date of its folder, or the run date (partition)"),
    ]
)
FILE_LOG = Table(
    name=FILE_LOG_TABLE,
    schema=FILE_LOG_SCHEMA,
    description="Every source file and folder an ingest saw, with what became of it and why.",
    grain="one row per source item and outcome, the first time an ingest saw it",
    keys=("ingest_id", "source_file"),
    product=PLATFORM,
    owner="data-platform",
    partition_by=("extract_date",),
    retention=Retention(rows_days=730, row_date="extract_date"),
)


# Selects the rows of a parsed file that must not be ingested (erased subjects).
Skip = Callable[[dict[str, str | None]], bool]


def shown(path: Path | str) -> str:
    """A path as stored and printed: bytes of a file name that are not UTF-8 written as \\xNN."""
    return escape_undecodable(str(path))


@dataclass(frozen=True)
class SourceFile:
    """A file (or folder) found under the source folder.

    ``path`` is the real path (links resolved) of the file that will be read. An item that
    discovery already decided about (``verdict``: no_contract, refused or failed, with the
    ``reason``) keeps the path it was seen at and is recorded, never read. ``identity``
    (device, inode) is checked again when the file is opened, so a file swapped for a link
    or a FIFO after it was listed is not read.
    """

    path: Path
    contract: Contract | None
    extract_date: date
    verdict: str | None = None
    reason: str | None = None
    seen_as: Path | None = None  # the link inside the source folder it was reached through
    identity: tuple[int, int] | None = None
    compression: str | None = None


@dataclass
class FileOutcome:
    path: Path
    table: str | None
    status: str  # one of STATUSES
    rows: int = 0
    malformed: int = 0
    problems: list[str] = field(default_factory=list)
    checksum: str | None = None
    extract_date: date | None = None

    def message(self) -> str:
        return escape_undecodable("; ".join(self.problems))


@dataclass
class IngestReport:
    ingest_id: str
    files: list[FileOutcome] = field(default_factory=list)

    @property
    def rows(self) -> int:
        return sum(f.rows for f in self.files)

    def by_status(self, status: str) -> list[FileOutcome]:
        return [f for f in self.files if f.status == status]


# -- discover -------------------------------------------------------------------------------


def folder_date(name: str) -> date | None:
    """The extract date a folder name stands for, or None (2024-13-45 is shaped like one, but is not)."""
    if not DATE_DIR.match(name):
        return None
    try:
        return date.fromisoformat(name)
    except ValueError:
        return None


@dataclass(frozen=True)
class _Entry:
    """What is at a path, found without opening it."""

    seen: Path
    real: Path
    kind: str | None = None  # "file" | "dir" when it may be read
    identity: tuple[int, int] | None = None
    linked: bool = False
    verdict: str | None = None
    reason: str | None = None

    def item(self, day: date, verdict: str | None = None, reason: str | None = None) -> SourceFile:
        return SourceFile(self.seen, None, day, verdict or self.verdict, reason or self.reason)


_SPECIAL = (
    (stat.S_ISFIFO, "a FIFO (named pipe)"),
    (stat.S_ISSOCK, "a socket"),
    (stat.S_ISCHR, "a character device"),
    (stat.S_ISBLK, "a block device"),
)


class _SourceFolder:
    """The source folder, resolved once; every path under it is checked against it."""

    def __init__(self, source: Path) -> None:
        self.root = os.path.realpath(source)

    def inside(self, real: str) -> bool:
        return real == self.root or real.startswith(self.root.rstrip(os.sep) + os.sep)

    def entries(self, folder: Path) -> list[Path]:
        with os.scandir(folder) as it:
            return sorted((folder / e.name for e in it), key=lambda p: p.name)

    def resolve(self, seen: Path) -> _Entry:
        """Kind and real path of ``seen`` with links followed, or why it will not be read."""
        try:
            st = os.lstat(seen)
        except OSError as exc:
            return _Entry(seen, seen, verdict=FAILED, reason=f"{shown(seen)} cannot be examined: {exc.strerror}")
        linked = stat.S_ISLNK(st.st_mode)
        target = f"{shown(seen)} -> {shown(os.readlink(seen))}" if linked else shown(seen)
        try:
            real = os.path.realpath(seen, strict=True)
        except (OSError, RuntimeError) as exc:
            why = getattr(exc, "strerror", None) or str(exc)
            return _Entry(seen, seen, verdict=FAILED, reason=f"link {target} cannot be followed ({why}): not read")
        if not self.inside(real):
            what = "link" if linked else "path (through a linked folder)"
            reason = f"{what} {target} leads outside the source folder (to {shown(real)}): refused, not read"
            return _Entry(seen, seen, verdict=REFUSED, reason=reason)
        if linked:
            try:
                st = os.stat(real)
            except OSError as exc:
                return _Entry(seen, seen, verdict=FAILED, reason=f"link {target} cannot be followed: {exc.strerror}")
        identity = (st.st_dev, st.st_ino)
        if stat.S_ISDIR(st.st_mode):
            return _Entry(seen, Path(real), "dir", identity, linked)
        if stat.S_ISREG(st.st_mode):
            return _Entry(seen, Path(real), "file", identity, linked)
        kind = next((name for test, name in _SPECIAL if test(st.st_mode)), "a special file")
        return _Entry(seen, seen, verdict=REFUSED, reason=f"{target} is {kind}: special files are never opened")


def discover(source: Path, run_date: date | None = None) -> list[SourceFile]:
    """Source files under ``source``: daily folders ``YYYY-MM-DD/<domain>/<file>``, or one
    dump ``<domain>/<file>`` whose extract date is ``run_date``.

    Everything seen on the way is returned: a file or folder that will not be read carries
    its verdict and reason. With ``run_date``, other dates' folders are not read at all, and
    what sits at the top of the source folder besides date folders (a folder named like a
    date that is not one, stray files, links) is reported under that date. Without it
    (a library call over every date) only the date folders' contents are listed.
    """
    source = Path(source)
    if not source.is_dir():
        raise FileNotFoundError(f"source folder {source} does not exist")
    folder = _SourceFolder(source)
    top = folder.entries(source)
    if any(DATE_DIR.match(p.name) for p in top):
        return _dated(folder, source, top, run_date)
    if run_date is None:
        raise ValueError(f"{source} holds no dated extract folders; give the extract date (--run-date) of this dump")
    return _domains(folder, source, run_date)


def _dated(folder: _SourceFolder, source: Path, top: list[Path], run_date: date | None) -> list[SourceFile]:
    found: list[SourceFile] = []
    selected = False
    for seen in top:
        day = folder_date(seen.name)
        if day is not None and run_date in (None, day):
            selected = True
            entry = folder.resolve(seen)
            if entry.verdict:
                found.append(entry.item(day))
            elif entry.kind != "dir":
                found.append(
                    entry.item(day, NO_CONTRACT, f"{shown(seen)} is a file named like a date folder: not read")
                )
            else:
                found += _domains(folder, seen, day)
        elif day is None and run_date is not None:
            found.append(_top_item(folder, seen, run_date))
    if run_date is not None and not selected:
        held = sorted(d for d in (folder_date(p.name) for p in top) if d is not None)
        span = f"{held[0]}..{held[-1]}" if len(held) > 1 else f"{held[0]}" if held else "none"
        raise FileNotFoundError(
            f"no extract folder {source / run_date.isoformat()} under {source} (its extract dates: {len(held)}, {span})"
        )
    return found


def _top_item(folder: _SourceFolder, seen: Path, run_date: date) -> SourceFile:
    """What sits at the top of a dated source folder besides the date folders: reported, never read."""
    if DATE_DIR.match(seen.name):
        return SourceFile(seen, None, run_date, REFUSED, f"folder {shown(seen.name)} is not a valid date: skipped")
    entry = folder.resolve(seen)
    if entry.verdict:
        return entry.item(run_date)
    if entry.kind == "dir":
        return entry.item(
            run_date, NO_CONTRACT, f"folder {shown(seen.name)} is not an extract date (YYYY-MM-DD): not read"
        )
    return entry.item(run_date, NO_CONTRACT, f"{shown(seen.name)} is not inside an extract date folder: not ingested")


def _listing(folder: _SourceFolder, base: Path, day: date) -> tuple[list[Path], list[SourceFile]]:
    try:
        return folder.entries(base), []
    except OSError as exc:
        return [], [SourceFile(base, None, day, FAILED, f"folder {shown(base)} cannot be listed: {exc.strerror}")]


def _domains(folder: _SourceFolder, base: Path, day: date) -> list[SourceFile]:
    """``<domain>/<file>`` under one extract folder."""
    entries, found = _listing(folder, base, day)
    for seen in entries:
        entry = folder.resolve(seen)
        if entry.verdict:
            found.append(entry.item(day))
        elif seen.name.startswith("."):
            found.append(entry.item(day, NO_CONTRACT, f"hidden {_kind(entry)} {shown(seen.name)}: not read"))
        elif entry.kind == "file":
            found.append(
                entry.item(day, NO_CONTRACT, f"{shown(seen.name)} is not inside a domain folder: not ingested")
            )
        else:
            found += _files(folder, seen, day)
    return found


def _kind(entry: _Entry) -> str:
    return "folder" if entry.kind == "dir" else "file"


def _files(folder: _SourceFolder, domain_dir: Path, day: date) -> list[SourceFile]:
    domain = domain_dir.name
    entries, found = _listing(folder, domain_dir, day)
    for seen in entries:
        entry = folder.resolve(seen)
        if entry.verdict:
            found.append(entry.item(day))
            continue
        if entry.kind == "dir":
            reason = f"folder {shown(seen.name)} inside domain folder {shown(domain)}: only <domain>/<file> is read"
            found.append(entry.item(day, NO_CONTRACT, reason))
            continue
        contract, compression, reason = match_name(domain, seen.name)
        if contract is None:
            found.append(entry.item(day, NO_CONTRACT, reason))
            continue
        seen_as = seen if entry.linked else None
        found.append(
            SourceFile(entry.real, contract, day, seen_as=seen_as, identity=entry.identity, compression=compression)
        )
    return found


def match_name(domain: str, name: str) -> tuple[Contract | None, str | None, str]:
    """(contract, compression, "") for a source's exact file name, else (None, None, why not)."""
    where = f"{shown(domain)}/{shown(name)}"
    if name.startswith("."):
        return None, None, f"hidden file {where}: not ingested"
    if name.endswith("~"):
        return None, None, f"{where} is an editor backup (name ends in ~): not ingested"
    lower = name.lower()
    for suffix, what in NOT_DELIVERIES:
        if lower.endswith(suffix):
            return None, None, f"{where} is a {what} ({suffix}): not ingested"
    base, compression = name, None
    for ext in COMPRESSIONS:
        if name.endswith(ext):
            base, compression = name[: -len(ext)], ext
    stem, dot, ext = base.rpartition(".")
    contract = CONTRACTS.get(f"{domain}.{stem}") if dot else None
    if contract is None:
        near = [c for c in CONTRACTS.values() if c.domain == domain and name.lower().startswith(c.source.lower())]
        hint = f" (the source {near[0].name} is read from {_expected(near[0])})" if near else ""
        return None, None, f"no source contract for {where}{hint}: not ingested"
    if f".{ext}" not in EXTENSIONS[contract.format]:
        return None, None, f"{where}: .{shown(ext)} is not read for {contract.name} (expected {_expected(contract)})"
    return contract, compression, ""


def _expected(contract: Contract) -> str:
    names = " or ".join(f"{contract.source}{e}" for e in EXTENSIONS[contract.format])
    return f"{names}, optionally {'/'.join(COMPRESSIONS)}"


# -- read, parse, seal: in Spark tasks ------------------------------------------------------


class _NotRead(Exception):
    """A file that could not be read or parsed: becomes its outcome, never stops the run."""

    def __init__(self, status: str, reason: str) -> None:
        super().__init__(reason)
        self.status, self.reason = status, reason


def _open_source(path: Path) -> int:
    """A descriptor on the file itself: never through a link, never blocking on a FIFO."""
    return os.open(path, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK | os.O_CLOEXEC)


def _read(f: SourceFile, open_source: Callable[[Path], int] = _open_source) -> bytes:
    """The file's content (decompressed), only if it is still the regular file discovery checked.

    Runs in a Spark task. ``open_source`` is the opener the driver resolved when the ingest
    began (the tasks' processes import this module afresh, so the caller's is handed over)."""
    try:
        fd = open_source(f.path)
    except OSError as exc:
        if exc.errno == errno.ELOOP:
            raise _NotRead(REFUSED, "became a link after it was listed: not read") from None
        raise _NotRead(FAILED, f"cannot be opened: {exc.strerror}") from None
    with os.fdopen(fd, "rb") as fp:
        st = os.fstat(fd)
        if not stat.S_ISREG(st.st_mode):
            raise _NotRead(REFUSED, "is no longer a regular file: not read")
        if f.identity is not None and (st.st_dev, st.st_ino) != f.identity:
            raise _NotRead(REFUSED, "was replaced by another file after it was listed: not read")
        if st.st_size > MAX_FILE_BYTES:
            raise _NotRead(FAILED, f"{st.st_size} bytes, over the {MAX_FILE_BYTES >> 20} MiB limit per file")
        try:
            data = fp.read(MAX_FILE_BYTES + 1)
        except OSError as exc:
            raise _NotRead(FAILED, f"cannot be read: {exc.strerror}") from None
    if f.compression:
        data = _decompress(data, f.compression)
    if len(data) > MAX_FILE_BYTES:
        raise _NotRead(FAILED, f"over the {MAX_FILE_BYTES >> 20} MiB limit per file (after decompression)")
    return data


def _decompress(data: bytes, compression: str) -> bytes:
    try:
        if compression == ".gz":
            return gzip.GzipFile(fileobj=io.BytesIO(data)).read(MAX_FILE_BYTES + 1)  # noqa: SIM115 - in memory
        if compression == ".bz2":
            return bz2.BZ2File(io.BytesIO(data)).read(MAX_FILE_BYTES + 1)  # noqa: SIM115
        # bounded reads: a small compression bomb cannot fill memory
        return lzma.LZMAFile(io.BytesIO(data)).read(MAX_FILE_BYTES + 1)  # noqa: SIM115
    except (OSError, EOFError, lzma.LZMAError, zlib.error) as exc:
        raise _NotRead(FAILED, f"not a valid {compression} file ({exc or type(exc).__name__}): not ingested") from None


def _parse(contract: Contract, f: SourceFile, data: bytes) -> ParsedFile:
    try:
        if contract.format == "json":
            return parse_json(f.path, data, contract.encoding)
        return parse_csv(f.path, data, contract.raw_columns, contract.key, contract.encoding)
    except Exception as exc:  # noqa: BLE001 - one file's surprise must not stop the other files
        raise _NotRead(FAILED, f"could not be parsed ({type(exc).__name__}: {exc}): not ingested") from None


@dataclass(frozen=True)
class _Tasks:
    """What every read task needs besides its files; travels to the executors with the task."""

    staging: str  # the ingest's private folder on the lake's file system
    key: bytes  # the pseudonym key (sealing)
    ingest_id: str
    now: datetime
    skips: dict[str, Skip | None]  # per contract: the rows of erased subjects
    open_source: Callable[[Path], int]


# One row per file to read, as the tasks receive it. Paths are bytes (os.fsencode): a file
# name need not be UTF-8. ``identity`` is "device:inode" as discovery saw it.
FILES_SCHEMA = T.StructType(
    [
        T.StructField("task", T.IntegerType(), False),
        T.StructField("contract", T.StringType(), False),
        T.StructField("path", T.BinaryType(), False),
        T.StructField("extract_date", T.DateType(), False),
        T.StructField("compression", T.StringType()),
        T.StructField("identity", T.StringType()),
        T.StructField("size", T.LongType(), False),
    ]
)
# One row per task: the files it reads.
LISTING_SCHEMA = T.StructType([T.StructField("files", T.ArrayType(FILES_SCHEMA, False), False)])
# A batch of at most this many bytes to read (compressed files weigh five times their size)
# is read by the driver, not in Spark tasks (``_read_files``); ``ingest``'s default, and
# Settings.ingest_driver_read_max_bytes's.
DRIVER_READ_MAX_BYTES = 8 * 1024 * 1024
# One row per file read, back to the driver. Texts that may hold a file's undecodable bytes
# (as lone surrogates) travel as bytes (surrogateescape), so the report says exactly what it did.
READ_SCHEMA = T.StructType(
    [
        T.StructField("task", T.IntegerType(), False),
        T.StructField("checksum", T.StringType()),
        T.StructField("status", T.StringType()),  # refused or failed: not read, ``reason`` says why
        T.StructField("reason", T.BinaryType()),
        T.StructField("rows", T.LongType(), False),  # rows parsed, erased subjects' included
        T.StructField("dropped", T.LongType(), False),  # of which rows of erased subjects
        T.StructField("malformed", T.LongType(), False),
        T.StructField("problems", T.ArrayType(T.BinaryType(), False), False),
    ]
)


@dataclass(frozen=True)
class _Read:
    """What a task found in one file: its checksum and counts, or why it could not be read."""

    checksum: str | None
    status: str | None
    reason: str | None
    rows: int
    dropped: int
    malformed: int
    problems: list[str]


def _wire(text: str) -> bytes:
    return text.encode("utf-8", "surrogateescape")


def _unwire(data: bytes | bytearray | None) -> str | None:
    return None if data is None else bytes(data).decode("utf-8", "surrogateescape")


def _raw_folder(staging: Path, contract: Contract) -> Path:
    """Where the tasks write one raw table's files, laid out as the table's: the commit moves
    them into it as they are (``DeltaStorage.write``'s ``files``)."""
    return staging / "raw" / contract.name


def _raw_file(staging: Path, contract: Contract, task: int, extract_date: date) -> Path:
    # Named after the ingest's private staging folder too: unique among the table's files.
    name = f"part-{task:06d}-{staging.name}.parquet"
    return _raw_folder(staging, contract) / table_file({"_extract_date": extract_date}, name)


@functools.cache
def _raw_file_schema(contract: str) -> pa.Schema:
    """The Arrow schema of a raw table's data files (all but ``_extract_date``, its folder)."""
    return data_file_schema(CONTRACTS[contract].raw_schema(), ["_extract_date"])


def _vault_file(staging: Path, task: int) -> Path:
    return staging / "vault" / f"part-{task:06d}.parquet"


def _write_parquet(table: pa.Table, path: Path) -> None:
    """One task's file, complete or absent: written under a hidden name (Spark's reader skips
    those), then renamed, so a retried task replaces it whole."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{uuid.uuid4().hex}.tmp")
    pq.write_table(table, tmp)
    os.replace(tmp, path)


def _vault_table(rows: list[tuple[str, str, str | None, str, str]]) -> pa.Table:
    """Vault rows as Arrow (a full customer extract is ~6 values per customer)."""
    columns = list(zip(*rows, strict=True))
    return pa.table({f.name: pa.array(columns[i], pa.string()) for i, f in enumerate(vault_schema().fields)})


def _read_one(row: dict[str, object], tasks: _Tasks) -> _Read:
    """In a task: read, parse and seal one file; its raw rows and vault values go to the
    staging folder (a Parquet file each), and only what the driver decides on comes back."""
    contract = CONTRACTS[str(row["contract"])]
    identity = str(row["identity"] or "")
    f = SourceFile(
        Path(os.fsdecode(bytes(row["path"]))),  # type: ignore[call-overload]
        contract,
        row["extract_date"],  # type: ignore[arg-type]
        identity=tuple(int(n) for n in identity.split(":")) if identity else None,  # type: ignore[arg-type]
        compression=row["compression"],  # type: ignore[arg-type]
    )
    try:
        parsed = _parse(contract, f, _read(f, tasks.open_source))
    except _NotRead as exc:
        return _Read(None, exc.status, exc.reason, 0, 0, 0, [])
    table, vault = _seal(contract, [(f, parsed)], tasks.ingest_id, tasks.now, tasks.key, tasks.skips.get(contract.name))
    task = int(row["task"])  # type: ignore[call-overload]
    if table.num_rows:
        data = _raw_file_schema(contract.name)
        path = _raw_file(Path(tasks.staging), contract, task, f.extract_date)
        _write_parquet(table.select(data.names).cast(data), path)
    if vault:
        _write_parquet(_vault_table(vault), _vault_file(Path(tasks.staging), task))
    rows = len(parsed.rows)
    return _Read(parsed.checksum, None, None, rows, rows - table.num_rows, parsed.malformed, parsed.problems)


def _read_task(batches: Iterable[pa.RecordBatch], tasks: _Tasks) -> Iterator[pa.RecordBatch]:
    """The body of a read task (``mapInArrow``): one result row per file of its partition."""
    from pyspark.sql.pandas.types import to_arrow_schema

    schema = to_arrow_schema(READ_SCHEMA)
    for batch in batches:
        for part in batch.column("files").to_pylist():
            for row in part:
                r = _read_one(row, tasks)
                result = {
                    "task": row["task"],
                    "checksum": r.checksum,
                    "status": r.status,
                    "reason": None if r.reason is None else _wire(r.reason),
                    "rows": r.rows,
                    "dropped": r.dropped,
                    "malformed": r.malformed,
                    "problems": [_wire(p) for p in r.problems],
                }
                yield pa.RecordBatch.from_pylist([result], schema=schema)


def _weight(size: int, compression: str | None) -> int:
    """What reading a file costs, in bytes: decompressed, a file is several times larger."""
    return size * 5 if compression else size


def _balance(files: list[tuple[int, SourceFile]], parallelism: int) -> list[list[tuple]]:
    """FILES_SCHEMA rows in ``parallelism`` groups of about equal bytes, largest file first
    onto the lightest group: one big dump gets a task of its own, small daily files share one."""
    rows: list[tuple[int, tuple]] = []
    for task, f in files:
        try:
            size = os.stat(f.path, follow_symlinks=False).st_size
        except OSError:
            size = 0  # the task finds out why, and says so
        weight = _weight(size, f.compression)
        identity = f"{f.identity[0]}:{f.identity[1]}" if f.identity else None
        assert f.contract is not None
        row = (task, f.contract.name, os.fsencode(f.path), f.extract_date, f.compression, identity, size)
        rows.append((weight, row))
    n = max(1, min(len(rows), parallelism))
    heap = [(0, i) for i in range(n)]
    parts: list[list[tuple]] = [[] for _ in range(n)]
    for weight, row in sorted(rows, key=lambda wr: (-wr[0], wr[1][0])):
        load, i = heapq.heappop(heap)
        parts[i].append(row)
        heapq.heappush(heap, (load + max(weight, 1), i))
    return [sorted(p, key=lambda r: r[0]) for p in parts if p]


def _read_files(
    spark: SparkSession, files: list[tuple[int, SourceFile]], tasks: _Tasks, driver_max_bytes: int
) -> dict[int, _Read]:
    """Read every file in Spark tasks; the driver gets one small row per file back.

    The file list is a small DataFrame with one row per group of files (``_balance``); a
    local frame of at most ``defaultParallelism`` rows is split one row per partition, so
    each group is one task. The tasks, not the driver, open, decompress, parse and seal;
    the rows never pass through the driver.

    A batch of at most ``driver_max_bytes`` (a day's few small files) is read by the
    driver itself, with the same code and into the same staging folder: the first Python
    task of a process waits about 2 s for Spark to start its Python workers, more than
    such a batch takes to read. The driver then holds one file's rows at a time, bounded by
    that size, so its memory still does not grow with the days.
    """
    parallelism = spark.sparkContext.defaultParallelism
    parts = _balance(files, parallelism)
    if driver_max_bytes and sum(_weight(row[-1], row[4]) for part in parts for row in part) <= driver_max_bytes:
        from pyspark.sql.pandas.types import to_arrow_schema

        names = FILES_SCHEMA.fieldNames()
        listing = pa.RecordBatch.from_pylist(
            [{"files": [dict(zip(names, row, strict=True)) for row in part]} for part in parts],
            schema=to_arrow_schema(LISTING_SCHEMA),
        )
        results: Iterator[dict[str, Any]] = (r for b in _read_task([listing], tasks) for r in b.to_pylist())
    else:
        results = _read_in_tasks(spark, parts, tasks)
    found: dict[int, _Read] = {}
    for r in results:
        problems = [_unwire(p) or "" for p in r["problems"]]
        found[r["task"]] = _Read(
            r["checksum"], r["status"], _unwire(r["reason"]), r["rows"], r["dropped"], r["malformed"], problems
        )
    return found


def _read_in_tasks(spark: SparkSession, parts: list[list[tuple]], tasks: _Tasks) -> Iterator[dict[str, Any]]:
    """:func:`_read_task` over ``parts`` in Spark tasks, one per part; their result rows."""
    listing = spark.createDataFrame([(p,) for p in parts], LISTING_SCHEMA)

    def read(batches: Iterable[pa.RecordBatch]) -> Iterator[pa.RecordBatch]:
        return _read_task(batches, tasks)

    for r in listing.mapInArrow(read, READ_SCHEMA).collect():
        yield r.asDict()


# -- the stages together --------------------------------------------------------------------


def ingest(
    spark: SparkSession,
    storage: DeltaStorage,
    files: Iterable[SourceFile],
    pseudonym_key: bytes,
    ingest_id: str | None = None,
    driver_read_max_bytes: int | None = None,
) -> IngestReport:
    """Ingest source files into the raw tier: one commit per raw table, nothing twice.

    discover (the caller) -> read, parse, seal (Spark tasks, into a private staging folder)
    -> decide which files are new -> commit (vault first, then one append per raw table);
    then record every outcome in ``ops.pipeline.ingested_files``. The driver holds one small
    row per file, never the files' rows. A batch of at most ``driver_read_max_bytes`` (default
    ``DRIVER_READ_MAX_BYTES``; 0: never) is read by the driver (``_read_files``).
    """
    files = list(files)
    # The raw tables are asked which files they hold, then appended to: no other ingest of the
    # same source groups may do the same meanwhile (c360.storage.locks).
    owners = {g for f in files if f.contract is not None and (g := group_of(f.contract)) is not None}
    what = f"ingest of {', '.join(sorted(owners))}" + (f" (run {ingest_id})" if ingest_id else "")
    locks = [ingest_lock(g) for g in owners]
    with lake_locks(storage.catalog.lake_root, locks, what, shared=[PIPELINE_LOCK]):
        return _ingest(spark, storage, files, pseudonym_key, ingest_id, driver_read_max_bytes)


def _ingest(
    spark: SparkSession,
    storage: DeltaStorage,
    files: list[SourceFile],
    pseudonym_key: bytes,
    ingest_id: str | None,
    driver_read_max_bytes: int | None,
) -> IngestReport:
    report = IngestReport(ingest_id or uuid.uuid4().hex)
    now = datetime.now(UTC).replace(microsecond=0)
    groups = _by_contract(files, report)
    if groups:
        # Erased customers stay out: their rows in a re-sent extract are dropped in the tasks,
        # before anything (raw, vault) holds them again; the file's outcome says how many.
        erased = load_erased(storage.catalog, pseudonym_key)
        skips: dict[str, Skip | None] = {}
        for name, group in groups.items():
            contract = group[0].contract
            assert contract is not None
            skips[name] = erased.row_filter(contract.subject, linked_kinds(contract)) if erased else None
        numbered = list(enumerate(f for group in groups.values() for f in group))
        with storage.scratch(VAULT_TABLE, "ingest") as staging:
            tasks = _Tasks(str(staging), pseudonym_key, report.ingest_id, now, skips, _open_source)
            limit = DRIVER_READ_MAX_BYTES if driver_read_max_bytes is None else driver_read_max_bytes
            found = _read_files(spark, numbered, tasks, limit)
            accepted: dict[str, list[tuple[int, str]]] = {}
            start = 0
            for name, group in groups.items():
                contract = CONTRACTS[name]
                mine = numbered[start : start + len(group)]
                start += len(group)
                accepted[name] = _accept(contract, mine, found, report, _transactions(storage, contract.raw_table))
                _discard(staging, contract, mine, {t for t, _ in accepted[name]})
            _check_staged(staging, accepted, found)
            _commit(spark, storage, staging, accepted, report.ingest_id)
    _record(spark, storage, report, now)
    return report


def _by_contract(files: Iterable[SourceFile], report: IngestReport) -> dict[str, list[SourceFile]]:
    """Files to read, by contract; what discovery decided about goes to the report (once)."""
    groups: dict[str, list[SourceFile]] = {}
    decided: set[tuple[Path, str, str]] = set()
    for f in files:
        if f.contract is not None and f.verdict is None:
            groups.setdefault(f.contract.name, []).append(f)
            continue
        status = f.verdict or NO_CONTRACT
        reason = f.reason or "no source contract for this file: not ingested"
        if (f.path, status, reason) not in decided:  # a range run lists the top of the folder once per date
            decided.add((f.path, status, reason))
            report.files.append(FileOutcome(f.path, None, status, problems=[reason], extract_date=f.extract_date))
    return groups


def _accept(
    contract: Contract,
    group: list[tuple[int, SourceFile]],
    found: dict[int, _Read],
    report: IngestReport,
    done: Callable[[str], bool],
) -> list[tuple[int, str]]:
    """(task, checksum) of the group's files to commit: each checksum once, and only when the
    table does not hold it yet. Every file gets its outcome in the report, in the group's
    order; rows of erased subjects are not counted as ingested."""
    accepted: list[tuple[int, str]] = []
    seen: set[str] = set()
    for task, f in group:
        r = found[task]
        if r.status is not None or r.checksum is None:
            problems = [r.reason or "not read"]
            report.files.append(
                FileOutcome(
                    f.path, contract.raw_table, r.status or FAILED, problems=problems, extract_date=f.extract_date
                )
            )
            continue
        via = [f"read through link {shown(f.seen_as)}"] if f.seen_as else []
        if r.checksum in seen or done(_txn(contract, r.checksum)):
            problems = [*via, "same bytes already ingested; skipped"]
            report.files.append(
                FileOutcome(f.path, contract.raw_table, ALREADY_INGESTED, 0, 0, problems, r.checksum, f.extract_date)
            )
            continue
        seen.add(r.checksum)
        status = INGESTED if r.rows else EMPTY
        erased = [f"{r.dropped} row(s) of erased subjects dropped"] if r.dropped else []
        problems = [*via, *r.problems, *erased]
        report.files.append(
            FileOutcome(
                f.path,
                contract.raw_table,
                status,
                r.rows - r.dropped,
                r.malformed,
                problems,
                r.checksum,
                f.extract_date,
            )
        )
        accepted.append((task, r.checksum))
    return accepted


def _discard(staging: Path, contract: Contract, files: list[tuple[int, SourceFile]], kept: set[int]) -> None:
    """Remove what the tasks wrote for files that are not committed (already ingested, or
    the same bytes twice in this batch), so the staging folder holds exactly what is new."""
    for task, f in files:
        if task not in kept:
            _raw_file(staging, contract, task, f.extract_date).unlink(missing_ok=True)
            _vault_file(staging, task).unlink(missing_ok=True)


class StagingError(RuntimeError):
    """The staging folder does not hold what the tasks say they wrote: nothing was committed."""


def _check_staged(staging: Path, accepted: dict[str, list[tuple[int, str]]], found: dict[int, _Read]) -> None:
    """Before anything is committed: the staging folder holds every row the tasks say they
    staged for the files to commit. A task that wrote its rows elsewhere, or not at all, then
    stops the ingest, instead of its files being logged as ingested without their rows (an
    executor running another c360 than the driver lays its files out differently)."""
    for name, batch in accepted.items():
        expected = sum(found[t].rows - found[t].dropped for t, _ in batch)
        folder = _raw_folder(staging, CONTRACTS[name])
        files = sorted(folder.rglob("*.parquet")) if folder.is_dir() else []
        staged = sum(pq.ParquetFile(f).metadata.num_rows for f in files)
        if staged != expected:
            raise StagingError(
                f"{name}: the tasks read {expected} rows to commit, the staging folder holds {staged}; "
                "nothing was committed (do the executors run the same c360 as the driver? docs/cluster.md)"
            )


def _staged(spark: SparkSession, folder: Path, schema: T.StructType) -> DataFrame:
    """What the tasks wrote to one staging folder, read by Spark with ``schema``."""
    if folder.is_dir() and any(folder.glob("*.parquet")):
        return _conform(spark.read.schema(schema).parquet(str(folder)), schema)
    return spark.createDataFrame([], schema)


def _staged_rows(folder: Path) -> pa.Table | None:
    """The vault values the tasks staged, read on the driver when they are a day's few (at
    most ``COLLECT_MAX_ROWS``); None for more (a history's), which Spark reads."""
    files = sorted(folder.glob("*.parquet"))
    if sum(pq.ParquetFile(f).metadata.num_rows for f in files) > COLLECT_MAX_ROWS:
        return None
    return pq.read_table(files, partitioning=None)  # a lake path may hold "="


def _commit(
    spark: SparkSession,
    storage: DeltaStorage,
    staging: Path,
    accepted: dict[str, list[tuple[int, str]]],
    ingest_id: str,
) -> None:
    """The new files' clear values into the vault first (so no token is ever committed without
    its value), then one append per raw table carrying its files' checksums as transactions.

    The raw rows are committed as the files the tasks wrote, moved into the tables: no Spark
    job reads and writes them again. A day's vault values are added from the driver, a
    history's through Spark (an anti-join with the vault)."""
    vault = staging / "vault"
    if vault.is_dir() and any(vault.glob("*.parquet")):
        additions = _staged_rows(vault)
        add_to_vault(storage, additions if additions is not None else _staged(spark, vault, vault_schema()))
    for name, batch in accepted.items():
        if not batch:
            continue
        contract = CONTRACTS[name]
        schema = contract.raw_schema()
        storage.ensure_table(contract.raw_table, schema, ["_extract_date"], description=f"raw {contract.description}")
        storage.append(
            schema,  # the rows are the files
            contract.raw_table,
            files=_raw_folder(staging, contract),
            record_transactions=[(_txn(contract, checksum), 1) for _, checksum in batch],
            metadata={"c360.ingest_id": ingest_id},
        )


def _log_key(outcome: FileOutcome) -> str:
    """The file log's transaction for an outcome: a path's bytes are logged once (ingested, or
    already_ingested when they came from elsewhere first); anything else once per reason."""
    if outcome.checksum is not None:
        basis = f"{outcome.path}\0{outcome.checksum}"
    else:
        basis = f"{outcome.path}\0{outcome.status}\0{outcome.message()}"
    return "seen:" + hashlib.sha256(basis.encode("utf-8", "surrogateescape")).hexdigest()


def _record(spark: SparkSession, storage: DeltaStorage, report: IngestReport, now: datetime) -> None:
    """Every outcome not logged before goes to ops.pipeline.ingested_files (so a re-run that
    sees nothing new commits nothing)."""
    logged = _transactions(storage, FILE_LOG_TABLE)
    rows: list[tuple] = []
    txns: dict[str, int] = {}
    for o in report.files:
        key = _log_key(o)
        if key in txns or logged(key):
            continue
        txns[key] = 1
        rows.append(
            (
                report.ingest_id,
                now,
                shown(o.path),
                o.checksum,
                o.table,
                o.status,
                o.rows,
                o.malformed,
                o.message() or None,
                o.extract_date,
            )
        )
    if rows:
        FILE_LOG.ensure(storage)
        storage.append(
            FILE_LOG_SCHEMA,
            FILE_LOG_TABLE,
            record_transactions=list(txns.items()),
            rows=rows_to_arrow(rows, FILE_LOG_SCHEMA),
        )


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


def _seal(
    contract: Contract,
    parsed_files: list[tuple[SourceFile, ParsedFile]],
    ingest_id: str,
    now: datetime,
    key: bytes,
    skip: Skip | None = None,
) -> tuple[pa.Table, list[tuple[str, str, str | None, str, str]]]:
    """Seal: Arrow columns of the raw rows, PII sealed, and the vault rows for the clear values
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

    raw_columns = contract.raw_columns
    for f, parsed in parsed_files:
        source_file = shown(f.path)
        for row in parsed.rows:
            if skip is not None and skip(row.values):
                continue
            subject = row.values.get(contract.subject) if contract.subject else None
            for c in raw_columns:
                v = row.values.get(c)
                cols[c].append(seal(v, c, subject) if c in pii else v)
            extra = {k: (seal(v, k, subject) if seal_all else v) for k, v in row.extra.items()}
            meta["_extra"].append(list(extra.items()) if extra else None)
            meta["_line_number"].append(row.line_number)
            meta["_raw_line"].append(seal(row.raw_line, "_raw_line", subject) if seal_all else row.raw_line)
            meta["_parse_error"].append(row.parse_error)
            meta["_ingest_id"].append(ingest_id)
            meta["_ingest_time"].append(now)
            meta["_source_file"].append(source_file)
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
