"""Erasure on a tiny hand-made lake (delta-rs only, no Spark): who goes, who stays.

Two customers share a phone (a household): the subject's rows, linked rows and their own
tokens go; the other customer's rows, and the shared token in them and in the vault, stay.
"""

from __future__ import annotations

from datetime import date
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
from deltalake import DeltaTable, write_deltalake

from c360.privacy.erase import ErasureError, erase
from c360.storage import LakeCatalog
from tests.governance.lakescan import scan_lake

KEY = b"unit-test-key"
SUBJECT = "CUST-SUBJECT-01"
OTHER = "CUST-OTHER-002"


def _field(name: str, typ: pa.DataType, tags: str = "") -> pa.Field:
    md = {"comment": name, **({"c360.tags": tags} if tags else {})}
    return pa.field(name, typ, metadata=md)


def _write(
    root: Path, name: str, fields: list[pa.Field], rows: list[dict], mode: str = "append", part: str = ""
) -> None:
    schema = pa.schema(fields)
    table = pa.Table.from_pylist(rows, schema=schema)
    path = root / name.replace(".", "/")
    write_deltalake(str(path), table, mode=mode, partition_by=[part] if part else None)


def _rows(root: Path, name: str) -> list[dict]:
    dt = DeltaTable(str(root / name.replace(".", "/")))
    return sorted((r for f in dt.file_uris() for r in pq.read_table(f).to_pylist()), key=repr)


def _lake(root: Path) -> None:
    d1, d2 = date(2024, 1, 1), date(2024, 1, 2)
    raw = [
        _field("customer_id", pa.string(), "subject"),
        _field("email", pa.string(), "pii"),
        _field("phone", pa.string(), "pii"),
        _field("_extra", pa.map_(pa.string(), pa.string()), "pii"),
        _field("_extract_date", pa.date32()),
    ]
    first = [
        {"customer_id": SUBJECT, "email": "tok-email-subject", "phone": "tok-phone-shared", "_extra": None,
         "_extract_date": d1},
        {"customer_id": OTHER, "email": "tok-email-other", "phone": "tok-phone-shared", "_extra": None,
         "_extract_date": d1},
    ]  # fmt: skip
    _write(root, "raw.customer.customers", raw, first, part="_extract_date")
    # The first day re-delivered: the old file stays on disk for time travel (it holds the subject).
    _write(root, "raw.customer.customers", raw, first, mode="overwrite", part="_extract_date")
    # A malformed line naming nobody, but holding the subject's e-mail token in an unknown column.
    nobody = {"customer_id": None, "email": None, "phone": None, "_extra": [("mail2", "tok-email-subject")],
              "_extract_date": d2}  # fmt: skip
    _write(root, "raw.customer.customers", raw, [nobody], part="_extract_date")
    _write(
        root,
        "vault.pii.values",
        [_field("token", pa.string(), "pii"), _field("value", pa.string(), "pii"),
         _field("customer_id", pa.string(), "subject")],
        [
            {"token": "tok-email-subject", "value": "subject@example.com", "customer_id": SUBJECT},
            {"token": "tok-phone-shared", "value": "+15550001", "customer_id": SUBJECT},
            {"token": "tok-phone-shared", "value": "+15550001", "customer_id": OTHER},
            {"token": "tok-email-other", "value": "other@example.com", "customer_id": OTHER},
        ],
    )  # fmt: skip
    _write(
        root,
        "raw.sales.transactions",
        [_field("transaction_id", pa.string()), _field("customer_id", pa.string(), "subject")],
        [{"transaction_id": "TXN-S-1", "customer_id": SUBJECT}, {"transaction_id": "TXN-O-1", "customer_id": OTHER}],
    )
    _write(
        root,
        "raw.sales.transaction_items",
        [_field("item_id", pa.string()), _field("transaction_id", pa.string())],
        [{"item_id": "ITM-S-1", "transaction_id": "TXN-S-1"}, {"item_id": "ITM-O-1", "transaction_id": "TXN-O-1"}],
    )
    _write(
        root,
        "enhanced.customer.dim_customer",
        [_field("customer_key", pa.int64()), _field("customer_id", pa.string(), "subject"),
         _field("email_token", pa.string(), "pii")],
        [{"customer_key": 101, "customer_id": SUBJECT, "email_token": "tok-email-subject"},
         {"customer_key": 202, "customer_id": OTHER, "email_token": "tok-email-other"}],
    )  # fmt: skip
    _write(
        root,
        "enhanced.logistics.fct_shipment",
        [_field("shipment_id", pa.string()), _field("customer_key", pa.int64()), _field("cost", pa.float64())],
        [{"shipment_id": "SHP-S-1", "customer_key": 101, "cost": 1.0},
         {"shipment_id": "SHP-O-1", "customer_key": 202, "cost": 2.0}],
    )  # fmt: skip


def _audit(root: Path) -> None:
    """A serving audit: one lookup of the subject by path, one export of a table."""
    from datetime import UTC, datetime

    at = datetime(2024, 1, 3, tzinfo=UTC)
    _write(
        root,
        "ops.serve.audit",
        [_field("target", pa.string(), "subject"), _field("at", pa.timestamp("us", tz="UTC")),
         _field("export_table", pa.string()), _field("export_version", pa.int64())],
        [{"target": f"/v1/customers/{SUBJECT}", "at": at, "export_table": None, "export_version": None},
         {"target": f"/v1/customers/{OTHER}", "at": at, "export_table": None, "export_version": None},
         {"target": "export", "at": at, "export_table": "enhanced.customer.dim_customer", "export_version": 0}],
    )  # fmt: skip


def test_the_subject_goes_and_the_household_stays(tmp_path: Path) -> None:
    root = tmp_path / "lake"
    _lake(root)
    _audit(root)
    before = {n: _rows(root, n) for n in ("raw.sales.transactions", "enhanced.logistics.fct_shipment")}
    report, erased, audit = erase(LakeCatalog(root), SUBJECT, "REQ-1", KEY)

    assert scan_lake(root, [SUBJECT, "tok-email-subject", "subject@example.com", "TXN-S-1", "ITM-S-1"]) == {}
    assert [r["customer_id"] for r in _rows(root, "raw.customer.customers")] == [OTHER]
    # the shared phone is the other customer's too: their raw row and vault row keep it
    assert _rows(root, "vault.pii.values") == sorted(
        [
            {"token": "tok-phone-shared", "value": "+15550001", "customer_id": OTHER},
            {"token": "tok-email-other", "value": "other@example.com", "customer_id": OTHER},
        ],
        key=repr,
    )
    assert _rows(root, "raw.sales.transaction_items") == [{"item_id": "ITM-O-1", "transaction_id": "TXN-O-1"}]
    assert _rows(root, "enhanced.logistics.fct_shipment") == [
        r for r in before["enhanced.logistics.fct_shipment"] if r["customer_key"] == 202
    ]
    assert _rows(root, "raw.sales.transactions") == [
        r for r in before["raw.sales.transactions"] if r["customer_id"] == OTHER
    ]

    by_table = {t.table: t for t in report.tables}
    customers = by_table["raw.customer.customers"]
    assert customers.rows_removed == 2  # the subject's row and the malformed line with their token
    assert len(customers.files_purged) == 3  # two live files rewritten + the overwritten day's old file
    assert customers.log_entries_purged >= 3
    # one commit per table, then the checkpoint: the history starts at the erasure
    dt = DeltaTable(str(root / "raw/customer/customers"))
    assert [h.get("c360.operation") for h in dt.history()] == ["erase"]
    assert sorted(erased.column("kind").to_pylist()) == [
        "sales.transaction_items.item_id",
        "sales.transactions.transaction_id",
        "subject",
    ]
    assert [r["target"] for r in _rows(root, "ops.serve.audit")] == ["/v1/customers/CUST-OTHER-002", "export"]
    assert report.exports_before == ["enhanced.customer.dim_customer@v0 at 2024-01-03 00:00:00+00:00"]
    assert SUBJECT not in repr(audit.to_pylist()) and "tok-email-subject" not in repr(audit.to_pylist())


def test_the_command_warns_of_an_id_found_nowhere_and_never_starts_spark(tmp_path: Path) -> None:
    """A mistyped id erases nothing: the DPO is told so rather than shown an empty table. A
    request without its reference is refused. The command is pyarrow and delta-rs work: it
    started Spark's JVM for its two small ops appends, 9-12 s of its 15 s on the demo lake."""
    from typer.testing import CliRunner

    from c360.cli import app
    from c360.cli.state import state
    from c360.settings import Settings

    root = tmp_path / "lake"
    _lake(root)
    state._settings = Settings(lake_root=root, pseudonym_key=KEY.decode())
    runner = CliRunner()
    try:
        refused = runner.invoke(app, ["privacy", "erase", "--customer-id", SUBJECT, "--request", " "])
        assert isinstance(refused.exception, ErasureError) and "request reference" in str(refused.exception)
        nowhere = runner.invoke(app, ["privacy", "erase", "--customer-id", "CUST-TYPO-99", "--request", "REQ-9"])
        assert nowhere.exit_code == 0, nowhere.output
        assert "customer 'CUST-TYPO-99' is in no table or file of this lake, so nothing was removed" in " ".join(
            nowhere.output.split()
        )
        found = runner.invoke(app, ["privacy", "erase", "--customer-id", SUBJECT, "--request", "REQ-10"])
        assert found.exit_code == 0, found.output
        assert "is in no table" not in found.output and "row(s) removed" in found.output
        assert state._spark is None  # no session was asked for
    finally:
        state._settings = None


def test_the_server_s_export_files_that_may_hold_the_subject_are_deleted(tmp_path: Path) -> None:
    """The server writes each export once, outside the lake root, and serves it again: after an
    erasure the files of the tables it changed (and of versions the lake no longer keeps) still
    held the subject's rows, a steward's with clear values. Those go; a clean table's kept
    version stays."""
    root, exports = tmp_path / "lake", tmp_path / "exports"
    _lake(root)
    _write(root, "enhanced.shared.dim_date", [_field("date_key", pa.int64())], [{"date_key": 20240101}])

    def cached(table: str, version: int, text: str) -> Path:
        folder = exports / table / f"v{version}"
        folder.mkdir(parents=True, exist_ok=True)
        (folder / f"{table}.v{version}.steward.csv.manifest.json").write_text("{}")
        path = folder / f"{table}.v{version}.steward.csv"
        path.write_text(text)
        return path

    customers = cached("enhanced.customer.dim_customer", 0, f"{SUBJECT},subject@example.com\n")
    shipments = cached("enhanced.logistics.fct_shipment", 0, "SHP-S-1,101\n")
    clean = cached("enhanced.shared.dim_date", 0, "20240101\n")
    unknown = cached("enhanced.shared.dim_date", 7, "a version the table never had\n")
    report, _, audit = erase(LakeCatalog(root), SUBJECT, "REQ-EXP", KEY, export_dir=exports)

    assert not customers.exists() and not shipments.exists() and not unknown.exists()
    assert clean.exists()
    gone = [f"exports/{p.relative_to(exports).as_posix()}" for p in (customers, shipments, unknown)]
    assert sorted(report.exports_purged) == sorted([*gone, *(f"{g}.manifest.json" for g in gone)])
    summary = [r for r in audit.to_pylist() if r["table_name"] == "-"][0]
    assert set(report.exports_purged) <= set(summary["files_purged"])
    assert scan_lake(exports, [SUBJECT, "subject@example.com", "SHP-S-1"]) == {}


def test_the_server_s_audit_rows_whose_sql_or_error_names_the_subject_go(tmp_path: Path) -> None:
    """A SQL query's audit row names the subject in its text, not in its path (``/v1/sql``): the
    serving audit's own schema, written by its own writer, tags the columns that can."""
    from c360.serve.audit import AuditRecord, AuditWriter

    root = tmp_path / "lake"
    _lake(root)
    writer = AuditWriter(root)
    writer.start()
    asked = f"SELECT * FROM enhanced.customer.customer360_profile WHERE customer_id = '{SUBJECT}'"
    failed = AuditRecord("POST", "/v1/sql", "/v1/sql", status=400, sql="SELECT * FROM x")
    failed.error = f"no table x (near {SUBJECT})"
    for rec in (
        AuditRecord("POST", "/v1/sql", "/v1/sql", status=200, sql=asked, rows=1),
        failed,
        AuditRecord("POST", "/v1/sql", "/v1/sql", status=200, sql=asked.replace(SUBJECT, OTHER), rows=1),
    ):
        writer.record(rec)
    writer.close()
    erase(LakeCatalog(root), SUBJECT, "REQ-3", KEY)
    assert [r["sql"] for r in _rows(root, "ops.serve.audit")] == [asked.replace(SUBJECT, OTHER)]
    assert scan_lake(root, [SUBJECT]) == {}
