"""Raw and sanitized tiers over the whole of mock_data, checked against its defect manifest.

One lake per module: every daily extract ingested, every date sanitized in one call.
The manifest says which record carries which defect; each retail kind must end where
it belongs (quarantined with the right reason, de-duplicated, kept as history or
flagged), nothing else may be quarantined, the tier reconciles to the row, re-runs
change no table, and no clear identifier is left outside the vault.
"""

from __future__ import annotations

import csv
import hashlib
import hmac
import json
import re
import threading
from collections import Counter, defaultdict
from dataclasses import dataclass
from datetime import date
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from pyspark.sql import DataFrame, SparkSession
from pyspark.sql import functions as F

import c360.sanitized.run as sanitize_run
from c360.contracts import CONTRACTS, Contract
from c360.contracts.retail import RETAIL_CONTRACTS
from c360.lake import Lake as Reader
from c360.mock.defects import RETAIL_KINDS, SENSOR_KINDS
from c360.ops import RECONCILIATION_TABLE
from c360.pii import VAULT_TABLE, token
from c360.quality.ops import METRICS_TABLE, RESULTS_TABLE
from c360.raw.ingest import discover, ingest
from c360.sanitized.run import SanitizeReport, sanitize
from c360.storage import DeltaStorage
from tests.conftest import MOCK_KEY, MockRetailLake, copy_lake

pytestmark = pytest.mark.slow

MOCK = Path(__file__).resolve().parents[2] / "mock_data"
MANIFEST = json.loads((MOCK / "manifest.json").read_text())
KEY = MOCK_KEY
# Where each quarantining kind must land: the reason it must carry (missing_mandatory names its column).
REASON = {
    "malformed_email": "invalid_format:email",
    "malformed_phone": "invalid_format:phone",
    "future_birth_date": "birth_date_in_future",
    "resolved_before_created": "resolved_before_created",
    "nonpositive_quantity": "out_of_range:quantity",
    "nonpositive_price": "out_of_range:unit_price",
    "total_mismatch": "total_mismatch",
    "orphan_product": "orphan_fk:product_id",
    "missing_mandatory": "missing_mandatory:{column}",
}


@dataclass
class Lake:
    storage: DeltaStorage
    dates: list[date]
    report: SanitizeReport
    versions: dict[str, int]


def _versions(storage: DeltaStorage) -> dict[str, int]:
    return {t: storage.catalog.describe(t).version for t in storage.catalog.list_tables()}


@pytest.fixture(scope="module")
def lake(spark: SparkSession, mock_retail_lake: MockRetailLake, tmp_path_factory: pytest.TempPathFactory) -> Lake:
    """A private copy of the session's mock lake (every file ingested, every date sanitized in one call)."""
    storage = DeltaStorage(spark, copy_lake(mock_retail_lake.root, tmp_path_factory.mktemp("mock") / "lake"))
    return Lake(storage, mock_retail_lake.dates, mock_retail_lake.report, _versions(storage))


def _contract_of(file: str) -> Contract:
    domain, name = file.split("/")[-2:]
    return CONTRACTS[f"{domain}.{name.split('.')[0]}"]


def _entries(*kinds: str) -> list[dict]:
    return [d for d in MANIFEST["defects"] if d["kind"] in kinds]


def _key(contract: Contract, row: object) -> str:
    return "|".join(str(row[k]) for k in contract.key)  # type: ignore[index]


def _by_key_date(df: DataFrame, contract: Contract, *cols: str) -> dict[tuple[str, date], list]:
    out: dict[tuple[str, date], list] = defaultdict(list)
    for r in df.select(*contract.key, "_extract_date", *cols).collect():
        out[(_key(contract, r), r["_extract_date"])].append(r)
    return out


def test_every_manifest_kind_is_checked_here() -> None:
    kinds = set(MANIFEST["defect_summary"])
    handled = set(REASON) | {"duplicate_row", "resent_changed", "orphan_customer", "extra_column", "late_arriving"}
    assert handled == set(RETAIL_KINDS)
    # Sensor kinds belong to the air-quality tier and its own tests.
    assert kinds - handled == set(SENSOR_KINDS) & kinds


@pytest.mark.parametrize("kind", sorted(REASON))
def test_quarantining_kinds_land_in_quarantine_with_their_reason(lake: Lake, kind: str) -> None:
    entries = _entries(kind)
    assert entries, f"mock_data has no {kind}"
    tables: dict[str, tuple[dict, dict]] = {}  # each contract's tables read once, not once per entry
    for e in entries:
        contract = _contract_of(e["file"])
        day = date.fromisoformat(e["extract_date"])
        reason = REASON[kind].format(column=e["column"])
        if contract.name not in tables:
            tables[contract.name] = (
                _by_key_date(lake.storage.read(contract.quarantine_table), contract, "_reasons"),
                _by_key_date(lake.storage.read(contract.sanitized_table), contract),
            )
        quarantined, sanitized = tables[contract.name]
        got = {k: sorted(reason in r["_reasons"] for r in quarantined.get((k, day), [])) for k in e["keys"]}
        assert got == {k: [True] for k in e["keys"]}, f"{kind} in {e['file']}"
        assert [k for k in e["keys"] if (k, day) in sanitized] == [], f"{kind} also sanitized in {e['file']}"


def _mock_rows(file: str) -> list[dict[str, str]]:
    """Every row of one extract file over all days, with its extract date in ``_day``."""
    rows = []
    for path in sorted(MOCK.glob(f"*/{file}")):
        with path.open(newline="") as fh:
            rows += [{**r, "_day": path.parts[-3]} for r in csv.DictReader(fh)]
    return rows


def _orders_made_negative() -> set[tuple[str, date]]:
    """Orders whose totals went negative because a non-positive line's totals "follow" into them.

    The manifest names only the line; the order then breaks ``subtotal >= 0`` on its own and
    is quarantined for that (``out_of_range:subtotal``), a consequence, not a false positive.
    """
    bad_lines = {k for e in _entries("nonpositive_quantity", "nonpositive_price") for k in e["keys"]}
    orders = {r["transaction_id"] for r in _mock_rows("sales/transaction_items.csv") if r["item_id"] in bad_lines}
    return {
        (r["transaction_id"], date.fromisoformat(r["_day"]))
        for r in _mock_rows("sales/transactions.csv")
        if r["transaction_id"] in orders and r["subtotal"] and float(r["subtotal"]) < 0
    }


def test_orders_made_negative_by_a_bad_line_are_quarantined_for_it(lake: Lake) -> None:
    negative = _orders_made_negative()
    assert negative
    quarantined = _by_key_date(
        lake.storage.read("quarantine.sales.transactions"), CONTRACTS["sales.transactions"], "_reasons"
    )
    assert {k: "out_of_range:subtotal" in quarantined[k][0]["_reasons"] for k in negative} == dict.fromkeys(
        negative, True
    )


def test_nothing_outside_the_manifest_is_quarantined(lake: Lake) -> None:
    expected: dict[str, set[tuple[str, date]]] = defaultdict(set)
    for e in _entries(*REASON):
        expected[_contract_of(e["file"]).quarantine_table] |= {
            (k, date.fromisoformat(e["extract_date"])) for k in e["keys"]
        }
    expected["quarantine.sales.transactions"] |= _orders_made_negative()
    for contract in RETAIL_CONTRACTS:
        held = set(_by_key_date(lake.storage.read(contract.quarantine_table), contract))
        assert held == expected[contract.quarantine_table], contract.quarantine_table


def test_exact_duplicates_are_dropped_once_each(lake: Lake) -> None:
    want: Counter[str] = Counter()
    for e in _entries("duplicate_row"):
        contract = _contract_of(e["file"])
        want[contract.sanitized_table] += e["count"]
        day = date.fromisoformat(e["extract_date"])
        raw = _by_key_date(lake.storage.read(contract.raw_table, partitions={"_extract_date": day}), contract)
        kept = _by_key_date(lake.storage.read(contract.sanitized_table, partitions={"_extract_date": day}), contract)
        assert {k: (len(raw[(k, day)]), len(kept[(k, day)])) for k in e["keys"]} == {k: (2, 1) for k in e["keys"]}
    got = Counter({t.table: t.counts["duplicate_exact"] for t in lake.report.tables if t.counts["duplicate_exact"]})
    assert got == want


def test_changed_resends_are_kept_as_history(lake: Lake) -> None:
    for e in _entries("resent_changed"):
        contract = _contract_of(e["file"])
        column = f"{e['column']}_token" if e["column"] in contract.pii_columns else e["column"]
        versions = _by_key_date(lake.storage.read(contract.sanitized_table), contract, column)
        day = date.fromisoformat(e["extract_date"])
        for k in e["keys"]:
            history = sorted((d, rows[0][column]) for (key, d), rows in versions.items() if key == k)
            assert [d for d, _ in history][-1] == day and len(history) >= 2, (k, history)
            assert history[-1][1] != history[-2][1], f"{k}: {e['column']} did not change"


def test_orphan_customer_tickets_are_kept_and_flagged(lake: Lake) -> None:
    """The manifest's orphans are flagged; any other flagged ticket belongs to a customer
    who was quarantined (never sanitized), which is what the flag is for."""
    entries = _entries("orphan_customer")
    contract = _contract_of(entries[0]["file"])
    flagged = lake.storage.read(contract.sanitized_table).filter(F.col("customer_id_is_orphan"))
    manifest = {(k, date.fromisoformat(e["extract_date"])) for e in entries for k in e["keys"]}
    got = {(r["ticket_id"], r["_extract_date"]): r["customer_id"] for r in flagged.collect()}
    assert manifest <= set(got)
    quarantined = {r[0] for r in lake.storage.read("quarantine.customer.customers").select("customer_id").collect()}
    sanitized = {r[0] for r in lake.storage.read("sanitized.customer.customers").select("customer_id").collect()}
    others = {got[k] for k in set(got) - manifest}
    assert others <= quarantined - sanitized


def test_extra_columns_are_kept_in_raw_and_do_not_quarantine(lake: Lake) -> None:
    for e in _entries("extra_column"):
        contract = _contract_of(e["file"])
        day = date.fromisoformat(e["extract_date"])
        raw = lake.storage.read(contract.raw_table, partitions={"_extract_date": day})
        raw = raw.filter(F.col("_source_file").endswith(e["file"]))
        values = {r["v"] for r in raw.select(F.col("_extra")[e["column"]].alias("v")).collect()}
        sent = day.strftime("%Y%m%d")
        # In a source with PII an unknown column is sealed too (it may hold identifiers).
        kept = token(KEY, sent) if contract.pii_columns else sent
        assert values <= {kept}, e["file"]  # a quiet day's file is header only
        # Every row of that file ends up somewhere other than quarantine unless the manifest says so
        # (checked in test_nothing_outside_the_manifest_is_quarantined); the extra column is not in sanitized.
        assert e["column"] not in lake.storage.read(contract.sanitized_table).columns


def test_late_orders_are_sanitized_in_the_extract_that_brought_them(lake: Lake) -> None:
    for e in _entries("late_arriving"):
        contract = _contract_of(e["file"])
        day = date.fromisoformat(e["extract_date"])
        kept = _by_key_date(lake.storage.read(contract.sanitized_table, partitions={"_extract_date": day}), contract)
        assert [k for k in e["keys"] if (k, day) not in kept] == [], e["file"]
    orders = lake.storage.read("sanitized.sales.transactions")
    late = [k for e in _entries("late_arriving") if e["file"].endswith("transactions.csv") for k in e["keys"]]
    lag = orders.filter(F.col("transaction_id").isin(late)).select(
        (F.col("_extract_date") > F.to_date("transaction_date")).alias("late")
    )
    assert {r["late"] for r in lag.collect()} == {True}
    late_lines = [
        k for e in _entries("late_arriving") if e["file"].endswith("transaction_items.csv") for k in e["keys"]
    ]
    lines = lake.storage.read("sanitized.sales.transaction_items").filter(F.col("item_id").isin(late_lines))
    flags = {r["item_id"]: r["transaction_id_is_orphan"] for r in lines.collect()}
    assert flags == dict.fromkeys(late_lines, False)  # a late line arrives with its order


def test_reconciliation_holds_exactly_per_table_and_date(lake: Lake) -> None:
    """The ops record equals rows counted directly in raw, sanitized and quarantine, per date.

    Read with delta-rs (c360.lake.Lake.arrow: DataFusion over the data files, not the row
    counts of the Delta log that sanitize reconciles with); one Spark plan over the 48 tables
    cost the suite 20-27 s."""
    reader = Reader(lake.storage.catalog.lake_root)
    recon = [r for r in reader.arrow(RECONCILIATION_TABLE).to_pylist() if r["run_id"] == "sanitize-all"]
    fates = ("rows_in", "sanitized", "quarantined")
    got = sorted((r["table"], r["extract_date"], *(r[f] for f in fates), r["balanced"]) for r in recon)
    counted: Counter[tuple[str, date, str]] = Counter()
    for c in RETAIL_CONTRACTS:
        for fate, name in zip(fates, (c.raw_table, c.sanitized_table, c.quarantine_table), strict=True):
            days = reader.arrow(name, columns=["_extract_date"]).column("_extract_date").value_counts()
            for day in days.to_pylist():
                counted[(c.sanitized_table, day["values"], fate)] += day["counts"]
    want = sorted(
        (c.sanitized_table, d, *(counted[(c.sanitized_table, d, f)] for f in fates), True)
        for c in RETAIL_CONTRACTS
        for d in lake.dates
    )
    assert got == want
    assert sum(counted[k] for k in counted if k[2] == "rows_in") > 0
    others = ("duplicate_exact", "superseded", "unchanged_resend")
    unbalanced = [r for r in recon if r["rows_in"] != sum(r[f] for f in (*fates[1:], *others))]
    assert unbalanced == []


def test_ingesting_everything_again_changes_no_table(lake: Lake, spark: SparkSession) -> None:
    files = [f for f in discover(MOCK) if f.contract is None or f.contract.domain != "air_quality"]
    report = ingest(spark, lake.storage, files, KEY, ingest_id="ingest-again")
    assert {f.status for f in report.files} <= {"already_ingested", "no_contract"}
    assert _versions(lake.storage) == lake.versions


def _rerun_dates() -> list[date]:
    """A date with a changed customer re-send and one with late orders (kept to two for time)."""
    first = lambda kind: date.fromisoformat(_entries(kind)[0]["extract_date"])  # noqa: E731
    return sorted({first("resent_changed"), first("late_arriving")})


def test_sanitizing_dates_one_by_one_changes_nothing(
    lake: Lake, spark: SparkSession, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Each date re-run alone, one source at a time, gives exactly the rows the one-call range
    gave two sources at a time (conftest's mock_retail_lake): no data table gets a new version
    (a replace whose rows are unchanged commits nothing). Only ops logs record the new runs:
    the reconciliation, and the orders/lines cross-table counts (quality results and metrics)
    each run that sanitized sales records.

    The re-runs read only the history of their own keys and the vault rows of their own
    tokens, as a day against a long history does (mock_data is below the size where that
    starts): the range, run as one batch, had no history to leave out."""
    monkeypatch.setattr(sanitize_run, "NARROW_MIN_ROWS", 0)
    narrowed: Counter[str] = Counter()
    for name in ("batch_keys", "vault_of_batch", "vault_values"):
        real = getattr(sanitize_run, name)
        monkeypatch.setattr(sanitize_run, name, lambda *a, real=real, name=name: narrowed.update([name]) or real(*a))
    skipped: dict[str, int] = {}  # table -> most files left out of one read by their key bounds
    holding = sanitize_run._Reads.holding

    def counted(reads, name, schema, values):  # noqa: ANN001, ANN202
        frame = holding(reads, name, schema, values)
        every = len(reads.storage.read(name).inputFiles())
        skipped[name] = max(skipped.get(name, 0), every - len(frame.inputFiles()))
        return frame

    monkeypatch.setattr(sanitize_run._Reads, "holding", counted)
    collect_max = sanitize_run.COLLECT_MAX_ROWS
    for i, day in enumerate(_rerun_dates()):
        # The first date's rows are written and added to the vault through Spark, and its
        # tokens looked up there; the second's from the driver (the range's were written so
        # too): either way the same rows.
        monkeypatch.setattr(sanitize_run, "COLLECT_MAX_ROWS", 0 if i == 0 else collect_max)
        sanitize(spark, lake.storage, [day], KEY, f"rerun-{day}")
    # The first date's tokens were looked up in Spark, the second's read on the driver.
    assert narrowed["batch_keys"] and narrowed["vault_of_batch"] and narrowed["vault_values"], narrowed
    # Histories and parents were read from the files their key bounds allow: the orders
    # (a parent of lines and shipments, and a history of their own) left files out.
    assert skipped.get("sanitized.sales.transactions", 0) > 0, skipped
    changed = {t for t, v in _versions(lake.storage).items() if lake.versions.get(t) != v}
    assert RECONCILIATION_TABLE in changed
    assert changed <= {RECONCILIATION_TABLE, RESULTS_TABLE, METRICS_TABLE}, changed
    recon = lake.storage.read(RECONCILIATION_TABLE).filter(F.col("run_id").startswith("rerun-"))
    assert {r["extract_date"] for r in recon.select("extract_date").distinct().collect()} == set(_rerun_dates())


def test_the_run_s_last_writes_run_at_once_and_one_failing_loses_none_of_the_others(
    lake: Lake, spark: SparkSession, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The vault's additions, the reconciliation and the cross-table checks do not read each
    other, so a run writes them at once; a failing one is raised after the others have ended."""
    threads: list[str] = []

    def broken(*args: object) -> None:
        threads.append(threading.current_thread().name)
        raise RuntimeError("the cross-table checks broke")

    def reconcile(*args: object) -> None:
        threads.append(threading.current_thread().name)
        write(*args)

    write = sanitize_run._write_reconciliation
    monkeypatch.setattr(sanitize_run, "record_cross_table_checks", broken)
    monkeypatch.setattr(sanitize_run, "_write_reconciliation", reconcile)
    day = date.fromisoformat(_entries("late_arriving")[0]["extract_date"])  # orders arrived: checks run
    with pytest.raises(RuntimeError, match="the cross-table checks broke"):
        sanitize(spark, lake.storage, [day], KEY, "tail-fails")
    assert len(set(threads)) == 2 and all(t.startswith("c360-sanitize-tail") for t in threads), threads
    # Every source's reconciliation of the day was written by the failed run.
    recon = lake.storage.read(RECONCILIATION_TABLE).filter(F.col("extract_date") == day)
    written = {r["table"] for r in recon.filter(F.col("run_id") == "tail-fails").collect()}
    assert written == {t.table for t in lake.report.tables}


# ----------------------------------------------------------------------------- PII


def _mock_customers() -> list[dict[str, str]]:
    rows = []
    for path in sorted(MOCK.glob("*/customer/customers.csv")):
        with path.open(newline="") as fh:
            rows += list(csv.DictReader(fh))
    return rows


def _strings(array: pa.Array) -> set[str]:
    if pa.types.is_string(array.type) or pa.types.is_large_string(array.type):
        return {v for v in array.unique().to_pylist() if v is not None}
    if pa.types.is_map(array.type):
        return _strings(array.items)
    if pa.types.is_list(array.type) or pa.types.is_large_list(array.type):
        return _strings(array.flatten())
    return set()


def _all_strings(lake: Lake) -> set[str]:
    """Every distinct string outside the vault: string columns, map values, array elements.

    Read with pyarrow from each table's current files (no Spark job per column)."""
    values: set[str] = set()
    for name in lake.storage.catalog.list_tables():
        if name == VAULT_TABLE:
            continue
        files = [u.removeprefix("file://") for u in lake.storage.catalog.open(name).file_uris()]
        for f in files:
            for column in pq.read_table(f).columns:
                values |= _strings(column.combine_chunks())
    return values


@pytest.fixture(scope="module")
def lake_strings(lake: Lake) -> set[str]:
    return _all_strings(lake)


def test_no_clear_identifier_outside_the_vault(lake_strings: set[str]) -> None:
    customers = _mock_customers()
    emails = {r["email"] for r in customers if r["email"]} | {r["email"].lower() for r in customers if r["email"]}
    phones = {r["phone"] for r in customers if r["phone"]}
    phones |= {"+" + re.sub(r"\D", "", p) for p in phones}
    # A name that is also a value of a non-personal column (a colour "Brown", a city) cannot be
    # told apart from it; those few are skipped.
    words = {
        v for f in ("products/products.csv", "logistics/tracking_events.csv") for r in _mock_rows(f) for v in r.values()
    }
    words |= {r[c] for r in customers for c in ("city", "state")}
    names = {r[c] for r in customers for c in ("first_name", "last_name") if r[c]} - words
    addresses = {r["address_line1"] for r in customers if r["address_line1"]}
    assert emails and phones and names and addresses
    assert sorted(lake_strings & (emails | phones | names | addresses)) == []
    # Free text (a malformed line, an unknown column) may embed an identifier: look inside long strings too.
    long_text = [s for s in lake_strings if len(s) > 20 and not re.fullmatch(r"[0-9a-f]{64}", s)]
    embedded = [s for s in long_text for v in emails | phones if v in s]
    assert embedded == []


def test_one_input_always_gives_the_same_token(lake: Lake) -> None:
    vault = lake.storage.read(VAULT_TABLE).select("token", "value").distinct().collect()
    assert vault
    assert [r for r in vault if token(KEY, r["value"]) != r["token"]] == []
    per_value = Counter(r["value"] for r in vault)
    assert [v for v, n in per_value.items() if n > 1] == []
    # The sanitized tier carries the token of the standardised e-mail, the one the vault holds.
    customers = lake.storage.read("sanitized.customer.customers").select("email_token")
    emails = {r["email"].strip().lower() for r in _mock_customers() if r["email"]}
    assert {r[0] for r in customers.collect()} <= {token(KEY, e) for e in emails}


def test_a_dictionary_attack_without_the_key_matches_nothing(lake_strings: set[str]) -> None:
    emails = {r["email"] for r in _mock_customers() if r["email"]}
    candidates = emails | {e.lower() for e in emails}
    tokens = {s for s in lake_strings if re.fullmatch(r"[0-9a-f]{64}", s)}
    with_key = {token(KEY, e) for e in candidates}
    assert tokens & with_key, "control: with the key the dictionary must match"
    wrong_key = {hmac.new(b"guessed-key", e.encode(), hashlib.sha256).hexdigest() for e in candidates}
    dev_key = {token(b"c360-local-development-key-not-secret", e) for e in candidates}
    plain = {hashlib.sha256(e.encode()).hexdigest() for e in candidates}
    assert tokens & (wrong_key | dev_key | plain) == set()
