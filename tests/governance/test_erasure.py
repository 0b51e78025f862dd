"""Erasing one customer of the published mock lake: no trace left in any file of any
version or log, every other row unchanged, and they stay out of later runs.

The checks read the lake with pyarrow, plain delta-rs and byte searches (tests/governance/
lakescan.py), never through the code under test.
"""

from __future__ import annotations

import csv
import shutil
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from deltalake import DeltaTable

from c360.pii import token
from tests.conftest import MOCK, PublishedLake, copy_lake
from tests.governance import lakescan
from tests.governance.lakescan import int_hits, parquet_hits, scan_lake

pytestmark = pytest.mark.filterwarnings("ignore::DeprecationWarning")


def _csv_rows(name: str) -> list[dict[str, str]]:
    rows = []
    for f in sorted(MOCK.glob(f"*/{name}")):
        with f.open(newline="") as fh:
            rows += list(csv.DictReader(fh))
    return rows


def _pick_subject() -> str:
    """The smallest customer id (so it is a min statistic somewhere) whose e-mail and phone
    nobody else uses, and who placed orders that were shipped."""
    customers = _csv_rows("customer/customers.csv")
    owners: dict[str, set[str]] = {}
    for r in customers:
        for c in ("email", "phone"):
            owners.setdefault(r[c].strip().lower(), set()).add(r["customer_id"])
    orders = {r["transaction_id"]: r["customer_id"] for r in _csv_rows("sales/transactions.csv")}
    shipped = {orders.get(r["transaction_id"]) for r in _csv_rows("logistics/shipments.csv")}
    for cid in sorted({r["customer_id"] for r in customers}):
        values = [r[c].strip().lower() for r in customers if r["customer_id"] == cid for c in ("email", "phone")]
        if all(owners[v] == {cid} for v in values if v) and cid in shipped:
            return cid
    raise AssertionError("mock_data has no customer with an unshared e-mail and phone and a shipped order")


# The rows of each data file read so far, by its path in the lake, size and modification time
# (lakescan's _TEXTS has the reasoning): the tests read this lake, its copies and their later
# versions, which share most of their files.
_FILE_ROWS: dict[tuple[str, int, int], Counter[str]] = {}


@pytest.fixture(scope="module", autouse=True)
def _forget_files() -> Iterator[None]:
    yield
    _FILE_ROWS.clear()
    lakescan.forget()


def table_rows(root: Path) -> dict[str, Counter[str]]:
    """The latest version of every table, read with plain delta-rs + pyarrow, as row multisets."""
    out: dict[str, Counter[str]] = {}
    for log in sorted(root.glob("*/*/*/_delta_log")):
        dt = DeltaTable(str(log.parent))
        name = ".".join(log.parent.relative_to(root).parts)
        rows: Counter[str] = Counter()
        for f in dt.file_uris():
            path = Path(f.removeprefix("file://"))  # the file pq.read_table(f) reads
            stat = path.stat()
            key = (path.relative_to(root).as_posix(), stat.st_size, stat.st_mtime_ns)
            if key not in _FILE_ROWS:
                _FILE_ROWS[key] = Counter(repr(sorted(r.items())) for r in pq.read_table(path).to_pylist())
            rows.update(_FILE_ROWS[key])
        out[name] = rows
    return out


@dataclass(frozen=True)
class Erased:
    root: Path
    customer_id: str
    needles: list[str]  # id, clear e-mails and phones, tokens
    keys: set[int]  # the subject's customer_key values
    linked: list[str]  # their order and shipment ids, their delivery addresses
    before: dict[str, Counter[str]]
    report: object
    data_docs_page: str  # a page quoting the subject before the erasure
    killed_ingest: str  # the staging file a killed ingest left, with the subject's clear values
    looked_up: dict[str, bool]  # audited SQL looking customers up by e-mail -> names the subject


def _vault(root: Path) -> list[dict]:
    dt = DeltaTable(str(root / "vault/pii/values"))
    return [r for f in dt.file_uris() for r in pq.read_table(f).to_pylist()]


@pytest.fixture(scope="module")
def erased(published_lake: PublishedLake, tmp_path_factory: pytest.TempPathFactory) -> Erased:
    from c360.privacy.erase import erase_customer
    from c360.storage import LakeCatalog

    root = copy_lake(published_lake.root, tmp_path_factory.mktemp("erasure") / "lake")
    cid = _pick_subject()
    key = published_lake.key
    clear = {r[c] for r in _csv_rows("customer/customers.csv") if r["customer_id"] == cid for c in ("email", "phone")}
    vault = _vault(root)
    mine = [r for r in vault if r["customer_id"] == cid]
    clear |= {r["value"] for r in mine if r["column"] in ("email", "phone")}
    others = {r["token"] for r in vault if r["customer_id"] not in (cid, None)}
    tokens = {r["token"] for r in mine} - others | {token(key, v) for v in clear}
    needles = sorted({cid, *clear, *tokens})
    assert scan_lake(root, [cid]), "the subject must be in the lake before the erasure"
    dim = DeltaTable(str(root / "enhanced/customer/dim_customer"))
    keys = {
        r["customer_key"]
        for f in dim.file_uris()
        for r in pq.read_table(f, columns=["customer_id", "customer_key"]).to_pylist()
        if r["customer_id"] == cid
    }
    orders = {r["transaction_id"] for r in _csv_rows("sales/transactions.csv") if r["customer_id"] == cid}
    shipped = [r for r in _csv_rows("logistics/shipments.csv") if r["transaction_id"] in orders]
    shipments = {r["shipment_id"] for r in shipped}
    # Their addresses: a vault row of a shipment's address names no customer, but is theirs.
    addresses = {r["destination_address"] for r in shipped if r["destination_address"]}
    docs = _plant_data_docs_page(root, cid, sorted(tokens)[0])
    staged = _plant_killed_ingest(root, cid, sorted(clear))
    looked_up = _plant_lookups(root, cid)
    before = table_rows(root)
    report = erase_customer(LakeCatalog(root), cid, "REQ-2026-0042", key)
    return Erased(
        root, cid, needles, keys, sorted(orders | shipments | addresses), before, report, docs, staged, looked_up
    )


def _email(customer_id: str) -> str:
    return next(r["email"] for r in _csv_rows("customer/customers.csv") if r["customer_id"] == customer_id)


def _plant_lookups(root: Path, customer_id: str) -> dict[str, bool]:
    """Requests a server audited that look customers up by a clear value, never by id: the
    subject by e-mail as delivered and in capitals; others (who must stay) by their e-mail, and
    by the subject's last name, a word of many other texts. Returns each request's SQL and
    whether it names the subject. (An address holding theirs, a.<theirs>, is another person's:
    test_a_quoted_contact_is_a_whole_address_or_number.)"""
    from c360.serve.audit import AUDIT_TABLE, AuditRecord
    from c360.storage.light import append_rows, ensure

    theirs = _email(customer_id)
    other = next(r["customer_id"] for r in _csv_rows("customer/customers.csv") if _email(r["customer_id"]) != theirs)
    last_name = next(r["last_name"] for r in _csv_rows("customer/customers.csv") if r["customer_id"] == customer_id)
    query = "SELECT customer_id FROM enhanced.customer.dim_customer WHERE email = '{}'"
    asked = {
        query.format(theirs): True,
        query.format(theirs.upper()): True,
        query.format(_email(other)): False,
        f"SELECT count(*) FROM enhanced.logistics.dim_location WHERE city = '{last_name}'": False,
    }
    ensure(AUDIT_TABLE, root)
    rows = [AuditRecord("POST", "/v1/sql", "/v1/sql", 200, "k1", "steward", sql=q).row() for q in asked]
    append_rows(root, AUDIT_TABLE.name, rows, operation="audit")
    return asked


def _plant_killed_ingest(root: Path, customer_id: str, values: list[str]) -> str:
    """What an ingest killed between its tasks and its commit leaves: a private staging folder
    under the vault holding the subject's clear values, in Parquet (compressed: a byte search
    of the file would not find them)."""
    folder = root / "vault/pii/values/_staging/ingest-0123456789abcdef"
    folder.mkdir(parents=True, mode=0o700)
    rows = pa.table({"value": values, "customer_id": [customer_id] * len(values)})
    pq.write_table(rows, folder / "part-0.parquet")
    assert parquet_hits(folder / "part-0.parquet", [values[0]]), "the planted file holds a clear value"
    return (folder / "part-0.parquet").relative_to(root).as_posix()


def _plant_data_docs_page(root: Path, customer_id: str, tok: str) -> str:
    """A Data Docs validation page that quotes the subject, as GX's SUMMARY result format does
    for a failed column expectation (its "partial unexpected" sample values). The mock lake's
    gates all pass, so no real page names a customer; this one stands for a failed gate's."""
    pages = sorted((root / "ops/data_docs/validations").rglob("*.html"))
    assert pages, "the published lake has Data Docs pages"
    page = pages[0].with_name("failed-validation.html")
    sample = f"<table><tr><th>Unexpected Value</th></tr><tr><td>{customer_id}</td></tr><tr><td>{tok}</td></tr></table>"
    page.write_text(pages[0].read_text().replace("</body>", sample + "</body>"))
    return page.relative_to(root).as_posix()


def test_no_trace_in_any_file_of_any_version_or_log(erased: Erased) -> None:
    assert erased.keys, "the subject has dim_customer rows"
    assert scan_lake(erased.root, erased.needles) == {}
    page = (erased.root / erased.data_docs_page).read_text()
    assert "[erased]" in page and "Unexpected Value" in page, "the page is kept, with the subject redacted"
    assert erased.data_docs_page in erased.report.files_redacted  # type: ignore[attr-defined]
    assert not (erased.root / erased.killed_ingest).exists()
    assert erased.killed_ingest in erased.report.staging_removed  # type: ignore[attr-defined]
    assert int_hits(erased.root, "customer_key", erased.keys) == {}


def test_an_audited_request_naming_them_by_a_clear_value_goes_and_others_stay(erased: Erased) -> None:
    audit = DeltaTable(str(erased.root / "ops/serve/audit"))
    kept = {r["sql"] for f in audit.file_uris() for r in pq.read_table(f, columns=["sql"]).to_pylist()}
    assert {q for q in erased.looked_up if q in kept} == {q for q, theirs in erased.looked_up.items() if not theirs}


def test_a_quoted_contact_is_a_whole_address_or_number() -> None:
    from c360.privacy.erase import _quotes

    texts = pa.array([
        "WHERE email = 'jane@example.com'", "WHERE email = 'JANE@Example.com'", "mail jane@example.com. Then",
        "/v1/x?email=jane@example.com&limit=1", "tel 15551234567",  # theirs
        "WHERE email = 'a.jane@example.com'", "jane@example.com.au", "jane@example.com-x", "x+jane@example.com",
        "p=5551234567", "tel 155512345678", None,  # other people's, or nobody's
    ])  # fmt: skip
    assert _quotes(texts, {"jane@example.com", "15551234567"}).tolist() == [True] * 5 + [False] * 7


def test_every_other_row_is_unchanged(erased: Erased) -> None:
    after = table_rows(erased.root)
    marks = [erased.customer_id, *erased.needles, *erased.linked]
    removed_somewhere = False
    for name, rows in erased.before.items():
        if name.startswith("ops.privacy."):
            continue
        now = after[name]
        assert not (now - rows), f"{name}: rows appeared or changed"
        for row in rows - now:
            removed_somewhere = True
            mentions = any(m.lower() in row.lower() for m in marks) or any(
                f"('customer_key', {k})" in row for k in erased.keys
            )
            assert mentions, f"{name}: removed a row that is not the subject's: {row[:300]}"
    assert removed_somewhere
    # the subject's rows are gone from the tables that held them
    for name in ("raw.customer.customers", "sanitized.sales.transactions", "enhanced.customer.dim_customer"):
        assert len(after[name]) < len(erased.before[name]), name


def test_an_interrupted_erasure_run_again_removes_all_an_uninterrupted_one_does(
    erased: Erased, published_lake: PublishedLake, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Interrupted after the sources' rows were gone, a second run searched afresh: the subject's
    shipment ids could no longer be found, and 4 tracking events of theirs stayed in
    fct_tracking_event. A run now resumes from what the first one found (its pending file)."""
    import c360.storage.rewrite as rw
    from c360.privacy.erase import PENDING_DIR, TOKEN, erase_customer
    from c360.storage import LakeCatalog

    root = copy_lake(published_lake.root, tmp_path / "lake")
    rewrite = rw.rewrite_without

    def interrupted(catalog: LakeCatalog, table: str, *args: object, **kwargs: object) -> object:
        if table == "enhanced.customer.customer360_profile":  # after every source table
            raise KeyboardInterrupt
        return rewrite(catalog, table, *args, **kwargs)

    monkeypatch.setattr(rw, "rewrite_without", interrupted)
    with pytest.raises(KeyboardInterrupt):
        erase_customer(LakeCatalog(root), erased.customer_id, "REQ-2026-0042", published_lake.key)
    (pending,) = (root / PENDING_DIR).iterdir()
    held = pending.read_text()  # ids and tokens to search from; never the id or a clear value
    assert not [n for n in erased.needles if n in held and not TOKEN.fullmatch(n)]
    monkeypatch.setattr(rw, "rewrite_without", rewrite)
    erase_customer(LakeCatalog(root), erased.customer_id, "REQ-2026-0042", published_lake.key)

    resumed, whole = table_rows(root), table_rows(erased.root)
    assert {n: r for n, r in resumed.items() if not n.startswith("ops.")} == {
        n: r for n, r in whole.items() if not n.startswith("ops.")
    }
    assert scan_lake(root, erased.needles) == {}
    assert not any((root / PENDING_DIR).iterdir()), "the pending file goes once the erasure is recorded"


def test_the_request_is_audited_without_pii(erased: Erased) -> None:
    audit = DeltaTable(str(erased.root / "ops/privacy/erasure_requests"))
    rows = pa.concat_tables([pq.read_table(f) for f in audit.file_uris()]).to_pylist()
    assert {r["request_ref"] for r in rows} == {"REQ-2026-0042"}
    tables = {r["table_name"]: r for r in rows}
    assert "-" in tables and tables["-"]["rows_removed"] > 0
    assert erased.data_docs_page in tables["-"]["files_rewritten"], "the redacted Data Docs page is listed"
    assert erased.killed_ingest in tables["-"]["files_purged"], "the killed ingest's staging file is listed"
    assert tables["vault.pii.values"]["rows_removed"] > 0
    assert tables["raw.customer.customers"]["files_purged"]
    erased_keys = DeltaTable(str(erased.root / "ops/privacy/erased_subjects"))
    kinds = Counter(r["kind"] for f in erased_keys.file_uris() for r in pq.read_table(f).to_pylist())
    assert kinds["subject"] == 1 and kinds["sales.transactions.transaction_id"] >= 1


def test_the_customer_360_tour_runs_on_the_erased_lake(erased: Erased, tmp_path: Path) -> None:
    """Before the next model run: the profile's history restarts at the erasure, so the tour's
    time-travel cell has one kept version to show (it compared "last - 1", which an erasure
    removes, and failed). Runs before the re-run test below, which adds versions."""
    from c360.jupyter import NOTEBOOKS_DIR, run_notebook
    from c360.storage import LakeCatalog
    from tests.notebooks.test_notebooks import TIME_LIMIT_S, _kernels

    profile = "enhanced.customer.customer360_profile"
    catalog = LakeCatalog(erased.root)
    assert catalog.earliest_version(profile) == catalog.version(profile)  # its history restarted
    tour = NOTEBOOKS_DIR / "01_customer360_tour.ipynb"
    nb = run_notebook(tour, kernels_dir=_kernels(tmp_path / "kernels", erased.root), cwd=tmp_path,
                      time_limit=TIME_LIMIT_S)  # fmt: skip
    printed = "".join(o.get("text", "") for c in nb.cells if c.cell_type == "code" for o in c.outputs)
    assert f"only version {catalog.version(profile)} is kept: nothing to compare it with" in printed


def test_rerun_and_resent_extract_do_not_bring_them_back(
    spark: object, erased: Erased, published_lake: PublishedLake, tmp_path: Path
) -> None:
    from c360.pipeline import RunContext, ingest_step, model_step, sanitize_step
    from c360.settings import Settings

    source = tmp_path / "extracts"
    shutil.copytree(MOCK, source, ignore=shutil.ignore_patterns("air_quality"))
    # A re-sent customer extract a day later: the subject and one other customer.
    lines = [line for f in sorted(MOCK.glob("*/customer/customers.csv")) for line in f.read_text().splitlines()]
    header = lines[0]
    subject_line = next(
        line
        for f in sorted(MOCK.glob("*/customer/customers.csv"))
        for line in f.read_text().splitlines()
        if line.startswith(erased.customer_id + ",")
    )
    other = next(line for line in lines[1:] if not line.startswith((erased.customer_id + ",", "customer_id,")))
    resent_day = max(published_lake.dates) + timedelta(days=1)
    resent = source / resent_day.isoformat() / "customer"
    resent.mkdir(parents=True)
    (resent / "customers.csv").write_text("\n".join([header, subject_line, other]) + "\n")

    settings = Settings(lake_root=erased.root, pseudonym_key=published_lake.key.decode())
    ctx = RunContext.create(settings, spark, "rerun-after-erasure")  # type: ignore[arg-type]
    dates = [*published_lake.dates, resent_day]
    report = ingest_step(ctx, source, dates)
    dropped = [f for f in report.files if any("erased subjects" in p for p in f.problems)]
    assert [(f.table, f.rows) for f in dropped] == [("raw.customer.customers", 1)]
    # Every extract is offered to ingest again (the original files must not come back in);
    # sanitize runs the re-sent day, and the model re-runs the last published date and runs
    # the re-sent day. Dimensions are rebuilt whole from the sanitized tier either way, and the
    # subject's past rows are checked absent from every file: rebuilding all 90 dates again cost
    # two minutes. (Sanitizing the last date again as well cost 20-40 s: sanitize reads only
    # raw rows, and test_no_trace_in_any_file_of_any_version_or_log finds none of the subject's.)
    again = [max(published_lake.dates), resent_day]
    sanitize_step(ctx, [resent_day])
    model_step(ctx, again, [resent_day])
    assert scan_lake(erased.root, erased.needles) == {}
    raw = table_rows(erased.root)["raw.customer.customers"]
    other_id = other.split(",", 1)[0]
    resent_rows = [r for r in raw if "rerun-after-erasure" in r]
    assert len(resent_rows) == 1 and other_id in resent_rows[0]
