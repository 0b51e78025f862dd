"""The source data generator: determinism, contracts, defects found in the files, soundness.

Defect checks do not trust the manifest: independent detectors scan the written files and
must find exactly the manifest's keys (no more, no fewer) for every kind.
"""

from __future__ import annotations

import csv
import json
import re
from collections import Counter, defaultdict
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

import pytest

from c360.mock import generate

REPO = Path(__file__).resolve().parents[2]
MOCK_DATA = REPO / "mock_data"
# The command documented in mock_data/README.md.
MOCK_DATA_COMMAND = (
    "c360 mock generate --out mock_data --customers 200 --days 90 --start 2024-01-01 "
    "--seed 42 --defect-rate 0.02 --stations 3"
)
MOCK_DATA_ARGS: dict[str, Any] = {
    "customers": 200, "days": 90, "start": date(2024, 1, 1), "seed": 42, "defect_rate": 0.02,
    "stations": 3,
}

# Headers of the 14 reference extracts (../shared/reference/c360_mock_data), copied verbatim.
REFERENCE_HEADERS: dict[str, str] = {
    "customer/app_usage.csv": "usage_id,customer_id,session_date,session_start,"
    "session_duration_minutes,pages_viewed,actions_taken,device_type,app_version",
    "customer/customers.csv": "customer_id,first_name,last_name,email,phone,date_of_birth,"
    "gender,registration_date,customer_segment,preferred_channel,address_line1,city,state,"
    "zip_code,country",
    "customer/loyalty_program.csv": "customer_id,loyalty_tier,points_balance,points_earned_ytd,"
    "points_redeemed_ytd,tier_start_date,lifetime_value",
    "customer/support_tickets.csv": "ticket_id,customer_id,created_date,resolved_date,category,"
    "priority,status,channel,satisfaction_score",
    "logistics/shipments.csv": "shipment_id,transaction_id,tracking_number,carrier,"
    "service_level,origin_location,destination_address,weight_kg,dimensions,ship_date,"
    "estimated_delivery,actual_delivery,delivery_status,shipping_cost",
    "logistics/tracking_events.csv": "event_id,shipment_id,event_timestamp,event_type,location,"
    "description,carrier_status",
    "logistics/warehouse_locations.csv": "location_id,location_name,location_type,address,city,"
    "state,country,capacity_cubic_meters,manager_name",
    "products/inventory.csv": "inventory_id,product_id,location_id,stock_quantity,"
    "reserved_quantity,reorder_point,max_stock_level,last_updated",
    "products/product_suppliers.csv": "product_id,supplier_id,is_primary,cost_price,"
    "lead_time_days",
    "products/products.csv": "product_id,product_name,category,subcategory,brand,price,cost,"
    "weight_kg,dimensions,color,size,created_date,status",
    "products/suppliers.csv": "supplier_id,supplier_name,contact_person,email,phone,address,"
    "country,payment_terms,quality_rating",
    "sales/regional_sales.csv": "region_id,region_name,country,sales_date,total_revenue,"
    "total_transactions,average_order_value",
    "sales/transaction_items.csv": "item_id,transaction_id,product_id,quantity,unit_price,"
    "line_total,discount_applied",
    "sales/transactions.csv": "transaction_id,customer_id,transaction_date,channel,store_id,"
    "payment_method,subtotal,tax_amount,discount_amount,total_amount,currency,status",
}
CONTRACT = {f: h.split(",") for f, h in REFERENCE_HEADERS.items()} | {
    "air_quality/stations.csv": [
        "station_id", "name", "latitude", "longitude", "city", "country", "time_zone"
    ],
}
KEY = {
    "customer/customers.csv": "customer_id", "customer/loyalty_program.csv": "customer_id",
    "customer/support_tickets.csv": "ticket_id", "customer/app_usage.csv": "usage_id",
    "sales/transactions.csv": "transaction_id", "sales/transaction_items.csv": "item_id",
    "logistics/shipments.csv": "shipment_id", "logistics/tracking_events.csv": "event_id",
    "products/inventory.csv": "inventory_id",
}
MANDATORY = {
    "customer/customers.csv": ("customer_id", "first_name", "last_name", "email",
                               "registration_date", "country"),
    "customer/support_tickets.csv": ("ticket_id", "customer_id", "created_date", "status"),
    "customer/app_usage.csv": ("usage_id", "customer_id", "session_date", "session_start"),
    "sales/transactions.csv": ("transaction_id", "customer_id", "transaction_date", "channel",
                               "total_amount", "status"),
    "sales/transaction_items.csv": ("item_id", "transaction_id", "product_id", "quantity",
                                    "unit_price", "line_total"),
    "logistics/shipments.csv": ("shipment_id", "transaction_id", "carrier", "ship_date"),
}
UNITS = {"pm25": "ug/m3", "pm10": "ug/m3", "o3": "ppm", "co": "ppm", "so2": "ppb", "no2": "ppb"}
KINDS = (
    "duplicate_row", "resent_changed", "malformed_email", "malformed_phone",
    "future_birth_date", "resolved_before_created", "nonpositive_quantity", "nonpositive_price",
    "total_mismatch", "orphan_product", "orphan_customer", "missing_mandatory", "extra_column",
    "late_arriving", "negative_value", "unit_mixup", "stuck_sensor", "out_of_order_timestamp",
    "duplicate_timestamp", "malformed_json",
)
EMAIL = re.compile(r"^[A-Za-z0-9._%+-]+@[A-Za-z0-9.-]+\.[A-Za-z]{2,}$")
PHONE = re.compile(r"^\+\d{1,3}-\d{2,4}-\d{3,4}-\d{4}$")
BROKEN_READING = re.compile(r'^\{"station_id":"(\w+)","timestamp":"([^"]+)"')

Hit = tuple[str, str, str, str]  # kind, file (relative to OUT), column, key


@dataclass
class Extract:
    date: str
    relpath: str
    header: list[str]
    rows: list[dict[str, str]]
    raw: list[tuple[str, ...]]


@dataclass
class DataSet:
    root: Path
    manifest: dict[str, Any]
    csv: dict[str, list[Extract]] = field(default_factory=lambda: defaultdict(list))
    # (date, relpath, parsed readings, undecodable lines)
    readings: list[tuple[str, str, list[dict[str, Any]], list[str]]] = field(default_factory=list)


def load(root: Path) -> DataSet:
    ds = DataSet(root, json.loads((root / "manifest.json").read_text()))
    for folder in sorted(p for p in root.iterdir() if p.is_dir()):
        for path in sorted(folder.rglob("*")):
            if not path.is_file():
                continue
            rel = path.relative_to(folder).as_posix()
            relpath = path.relative_to(root).as_posix()
            if rel.endswith(".csv"):
                with path.open(newline="", encoding="utf-8") as fh:
                    reader = csv.reader(fh)
                    header = next(reader)
                    raw = [tuple(r) for r in reader]
                rows = [dict(zip(header, r, strict=True)) for r in raw]
                ds.csv[rel].append(Extract(folder.name, relpath, header, rows, raw))
            elif rel.endswith(".json"):
                ds.readings.append((folder.name, relpath, json.loads(path.read_text()), []))
            elif rel.endswith(".jsonl"):
                good, bad = [], []
                for line in path.read_text().splitlines():
                    try:
                        good.append(json.loads(line))
                    except json.JSONDecodeError:
                        bad.append(line)
                ds.readings.append((folder.name, relpath, good, bad))
    return ds


def manifest_hits(ds: DataSet) -> set[Hit]:
    hits: set[Hit] = set()
    for e in ds.manifest["defects"]:
        assert e["count"] == (len(e["keys"]) or 1)
        assert len(set(e["keys"])) == len(e["keys"]), e
        for key in e["keys"] or [""]:
            hits.add((e["kind"], e["file"], e["column"] or "", key))
    return hits


def money(text: str) -> int:
    return round(float(text) * 100)


def detect(ds: DataSet) -> set[Hit]:
    """Find every defect by looking at the files alone."""
    found: set[Hit] = set()
    products = {r["product_id"] for x in ds.csv["products/products.csv"] for r in x.rows}
    customers = {r["customer_id"] for x in ds.csv["customer/customers.csv"] for r in x.rows}
    for file, extracts in ds.csv.items():
        for x in extracts:
            for column in x.header[len(CONTRACT[file]):]:
                found.add(("extra_column", x.relpath, column, ""))
            if file in KEY:
                for raw, n in Counter(x.raw).items():
                    if n > 1:
                        key = raw[x.header.index(KEY[file])]
                        found.add(("duplicate_row", x.relpath, "", key))
            for row in x.rows:
                for column in MANDATORY.get(file, ()):
                    if row[column] == "":
                        found.add(("missing_mandatory", x.relpath, column, row[KEY[file]]))
    last: dict[str, tuple[str, str]] = {}  # customer -> address last delivered
    for x in ds.csv["customer/customers.csv"]:
        for r in x.rows:
            cid, where = r["customer_id"], (r["address_line1"], r["city"])
            if r["email"] and not EMAIL.match(r["email"]):
                found.add(("malformed_email", x.relpath, "email", cid))
            if r["phone"] and not PHONE.match(r["phone"]):
                found.add(("malformed_phone", x.relpath, "phone", cid))
            # born after signing up (a dump has no extract date to compare with)
            if r["date_of_birth"] > (r["registration_date"][:10] or x.date):
                found.add(("future_birth_date", x.relpath, "date_of_birth", cid))
            if cid in last and last[cid] != where:
                found.add(("resent_changed", x.relpath, "address_line1", cid))
            last[cid] = where
    tiers: dict[str, str] = {}
    for x in ds.csv["customer/loyalty_program.csv"]:
        for r in x.rows:
            cid = r["customer_id"]
            if cid in tiers and tiers[cid] != r["loyalty_tier"]:
                found.add(("resent_changed", x.relpath, "loyalty_tier", cid))
            tiers[cid] = r["loyalty_tier"]
    for x in ds.csv["customer/support_tickets.csv"]:
        for r in x.rows:
            if r["resolved_date"] and r["created_date"] and r["resolved_date"] < r["created_date"]:
                found.add(("resolved_before_created", x.relpath, "resolved_date", r["ticket_id"]))
            if r["customer_id"] and r["customer_id"] not in customers:
                found.add(("orphan_customer", x.relpath, "customer_id", r["ticket_id"]))
    for x in ds.csv["sales/transaction_items.csv"]:
        for r in x.rows:
            if r["quantity"] and int(r["quantity"]) <= 0:
                found.add(("nonpositive_quantity", x.relpath, "quantity", r["item_id"]))
            if money(r["unit_price"]) <= 0:
                found.add(("nonpositive_price", x.relpath, "unit_price", r["item_id"]))
            if r["product_id"] and r["product_id"] not in products:
                found.add(("orphan_product", x.relpath, "product_id", r["item_id"]))
    seen_txn: set[str] = set()
    items = {x.date: x for x in ds.csv["sales/transaction_items.csv"]}
    for x in ds.csv["sales/transactions.csv"]:
        late: set[str] = set()
        for r in x.rows:
            tid = r["transaction_id"]
            if r["total_amount"]:
                parts = money(r["subtotal"]) + money(r["tax_amount"]) - money(r["discount_amount"])
                if parts != money(r["total_amount"]):
                    found.add(("total_mismatch", x.relpath, "total_amount", tid))
            arrived = r["transaction_date"][:10]
            if tid not in seen_txn and arrived and x.date != "dump" and arrived < x.date:
                late.add(tid)
                found.add(("late_arriving", x.relpath, "", tid))
            seen_txn.add(tid)
        lines = items[x.date]
        for r in lines.rows:
            if r["transaction_id"] in late:
                found.add(("late_arriving", lines.relpath, "", r["item_id"]))
    for _, relpath, records, broken in ds.readings:
        # station-days (UTC), in file order: a dump holds many days in one file
        per_station: dict[tuple[str, str], list[dict[str, Any]]] = defaultdict(list)
        stamps = Counter((r["station_id"], r["timestamp"]) for r in records)
        for (sid, ts), n in stamps.items():
            if n > 1:
                found.add(("duplicate_timestamp", relpath, "", f"{sid}|{ts}"))
        for r in records:
            utc_day = datetime.fromisoformat(r["timestamp"]).astimezone(UTC).date().isoformat()
            per_station[(r["station_id"], utc_day)].append(r)
            for m in r["measurements"]:
                key = f"{r['station_id']}|{r['timestamp']}"
                if m["value"] < 0:
                    found.add(("negative_value", relpath, m["pollutant"], key))
                if m["unit"] != UNITS[m["pollutant"]]:
                    found.add(("unit_mixup", relpath, m["pollutant"], key))
        for (sid, day), rs in per_station.items():
            times = [datetime.fromisoformat(r["timestamp"]) for r in rs]
            if any(b < a for a, b in zip(times, times[1:], strict=False)):
                found.add(("out_of_order_timestamp", relpath, "", f"{sid}|{day}"))
            for p in UNITS:
                values = {m["value"] for r in rs for m in r["measurements"] if m["pollutant"] == p}
                if len(rs) >= 24 and len(values) == 1:
                    found.add(("stuck_sensor", relpath, p, f"{sid}|{day}"))
        for line in broken:
            match = BROKEN_READING.match(line)
            assert match, line
            found.add(("malformed_json", relpath, "", f"{match[1]}|{match[2]}"))
    return found


@pytest.fixture(scope="module")
def fresh(tmp_path_factory: pytest.TempPathFactory) -> DataSet:
    """A small set with a high defect rate, generated for this test run."""
    out = tmp_path_factory.mktemp("fresh")
    generate(out, customers=150, days=45, start=date(2024, 10, 20), seed=7, defect_rate=0.05,
             stations=6)
    return load(out)


@pytest.fixture(scope="module")
def committed() -> DataSet:
    return load(MOCK_DATA)


@pytest.fixture(params=["fresh", "committed"])
def dataset(request: pytest.FixtureRequest) -> DataSet:
    return request.getfixturevalue(request.param)


def read_tree(root: Path) -> dict[str, bytes]:
    return {
        p.relative_to(root).as_posix(): p.read_bytes()
        for p in sorted(root.rglob("*")) if p.is_file() and p.name != "README.md"
    }


def test_same_seed_gives_identical_bytes(tmp_path: Path) -> None:
    args: dict[str, Any] = {"customers": 40, "days": 9, "seed": 3, "defect_rate": 0.05,
                            "stations": 2}
    generate(tmp_path / "a", **args)
    generate(tmp_path / "b", **args)
    generate(tmp_path / "c", **(args | {"seed": 4}))
    a, b, c = (read_tree(tmp_path / n) for n in "abc")
    assert len(a) > 90
    assert a == b
    assert a.keys() == c.keys() and a != c


def test_a_second_run_replaces_its_own_days_and_never_touches_folders_it_did_not_write(tmp_path: Path) -> None:
    args: dict[str, Any] = {"customers": 20, "days": 4, "seed": 3, "stations": 1, "start": date(2024, 1, 1)}
    out = tmp_path / "out"
    generate(out, **args)
    (out / "notes.txt").write_text("mine")
    generate(out, **(args | {"days": 2}))  # its own days 3 and 4 go; anything else stays
    assert sorted(p.name for p in out.iterdir()) == ["2024-01-01", "2024-01-02", "manifest.json", "notes.txt"]
    # A date folder no manifest covers is someone's extracts: it once went without a word.
    theirs = tmp_path / "extracts"
    (theirs / "2023-12-31").mkdir(parents=True)
    (theirs / "2023-12-31" / "customers.csv").write_text("customer_id\nC1\n")
    for folder in (theirs, out):
        (folder / "2023-12-31").mkdir(exist_ok=True)
        with pytest.raises(ValueError, match=r"holds 2023-12-31/, which no earlier run of the generator wrote"):
            generate(folder, **args)
    assert (theirs / "2023-12-31" / "customers.csv").read_text() == "customer_id\nC1\n"
    assert (out / "2024-01-02").is_dir() and (out / "manifest.json").is_file(), "nothing removed before refusing"
    # A dump's manifest covers its dump, not date folders someone put beside it.
    dump = tmp_path / "dump"
    generate(dump, layout="dump", **args)
    (dump / "2024-01-01").mkdir()
    with pytest.raises(ValueError, match=r"holds 2024-01-01/"):
        generate(dump, layout="dump", **args)


def test_a_run_interrupted_half_way_is_replaced_by_the_next(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import c360.mock.generator as G

    args: dict[str, Any] = {"customers": 20, "days": 3, "seed": 3, "stations": 1}

    class Interrupted(G.Sink):  # type: ignore[misc,name-defined]
        def end_day(self, *a: Any) -> None:  # after the first day's folder is written
            super().end_day(*a)
            raise KeyboardInterrupt

    monkeypatch.setattr(G, "Sink", Interrupted)
    with pytest.raises(KeyboardInterrupt):
        generate(tmp_path / "out", **args)
    assert [p.name for p in (tmp_path / "out").iterdir() if p.is_dir()] == ["2024-01-01"]
    monkeypatch.undo()
    generate(tmp_path / "out", **args)
    generate(tmp_path / "whole", **args)
    assert read_tree(tmp_path / "out") == read_tree(tmp_path / "whole")


def test_committed_mock_data_is_what_the_documented_command_makes(tmp_path: Path) -> None:
    readme = (MOCK_DATA / "README.md").read_text()
    assert MOCK_DATA_COMMAND in readme
    generate(tmp_path, **MOCK_DATA_ARGS)
    assert read_tree(tmp_path) == read_tree(MOCK_DATA)


def test_reference_columns_are_kept_in_every_generated_file(dataset: DataSet) -> None:
    assert set(ds_files := dataset.csv) == set(CONTRACT)
    for file, extracts in ds_files.items():
        for x in extracts:
            assert x.header[: len(CONTRACT[file])] == CONTRACT[file], x.relpath


def test_every_defect_kind_is_in_the_files_exactly_as_listed(dataset: DataSet) -> None:
    found = detect(dataset)
    listed = manifest_hits(dataset)
    assert sorted(found - listed) == []
    assert sorted(listed - found) == []
    per_kind = Counter(kind for kind, *_ in found)
    assert {k: per_kind[k] for k in KINDS} == {
        k: dataset.manifest["defect_summary"].get(k, 0) for k in KINDS
    }
    assert all(per_kind[k] > 0 for k in KINDS), per_kind


def test_clean_set_has_no_defects_and_an_empty_manifest(tmp_path: Path) -> None:
    generate(tmp_path, customers=60, days=12, seed=5, defect_rate=0.0, stations=4)
    ds = load(tmp_path)
    assert ds.manifest["defects"] == []
    assert detect(ds) == set()


def test_clean_part_is_referentially_sound(dataset: DataSet) -> None:
    bad = {key for e in dataset.manifest["defects"] for key in e["keys"]}
    rows = {f: [r for x in xs for r in x.rows] for f, xs in dataset.csv.items()}
    ids = {f: {r[c] for r in rows[f]} for f, c in {
        "customer/customers.csv": "customer_id", "sales/transactions.csv": "transaction_id",
        "logistics/shipments.csv": "shipment_id", "products/products.csv": "product_id",
        "products/suppliers.csv": "supplier_id",
        "logistics/warehouse_locations.csv": "location_id",
    }.items()}
    stores = {r["location_id"] for r in rows["logistics/warehouse_locations.csv"]
              if r["location_type"] == "store"}
    for r in rows["sales/transaction_items.csv"]:
        if r["item_id"] not in bad:
            assert r["product_id"] in ids["products/products.csv"], r
            assert r["transaction_id"] in ids["sales/transactions.csv"], r
    for r in rows["sales/transactions.csv"]:
        if r["transaction_id"] not in bad:
            assert r["customer_id"] in ids["customer/customers.csv"], r
            assert (r["store_id"] in stores) == (r["channel"] == "store"), r
            assert r["store_id"] == "" or r["channel"] == "store", r
    for f in ("customer/support_tickets.csv", "customer/app_usage.csv",
              "customer/loyalty_program.csv"):
        for r in rows[f]:
            if r[KEY[f]] not in bad:
                assert r["customer_id"] in ids["customer/customers.csv"], (f, r)
    for r in rows["logistics/shipments.csv"]:
        assert r["transaction_id"] in ids["sales/transactions.csv"], r
        assert r["origin_location"] in ids["logistics/warehouse_locations.csv"], r
    for r in rows["logistics/tracking_events.csv"]:
        assert r["shipment_id"] in ids["logistics/shipments.csv"], r
    for r in rows["products/inventory.csv"]:
        assert r["product_id"] in ids["products/products.csv"], r
        assert r["location_id"] in ids["logistics/warehouse_locations.csv"], r
    for r in rows["products/product_suppliers.csv"]:
        assert r["product_id"] in ids["products/products.csv"], r
        assert r["supplier_id"] in ids["products/suppliers.csv"], r
    stations = {r["station_id"] for r in rows["air_quality/stations.csv"]}
    assert {r["station_id"] for _, _, rs, _ in dataset.readings for r in rs} <= stations


def test_clean_orders_add_up_and_use_catalogue_prices(dataset: DataSet) -> None:
    bad = {key for e in dataset.manifest["defects"] for key in e["keys"]}
    catalogue: list[tuple[str, dict[str, int]]] = [
        (x.date, {r["product_id"]: money(r["price"]) for r in x.rows})
        for x in dataset.csv["products/products.csv"]
    ]
    lines: dict[str, list[dict[str, str]]] = defaultdict(list)
    for x in dataset.csv["sales/transaction_items.csv"]:
        for r in x.rows:
            lines[r["transaction_id"]].append(r)
    checked = 0
    for x in dataset.csv["sales/transactions.csv"]:
        for t in x.rows:
            tid = t["transaction_id"]
            if tid in bad or any(r["item_id"] in bad for r in lines[tid]):
                continue
            prices = next(p for d, p in reversed(catalogue) if d <= t["transaction_date"][:10])
            assert all(money(r["unit_price"]) == prices[r["product_id"]] for r in lines[tid])
            assert all(money(r["line_total"]) == int(r["quantity"]) * money(r["unit_price"])
                       for r in lines[tid])
            assert money(t["subtotal"]) == sum(money(r["line_total"]) for r in lines[tid])
            assert money(t["discount_amount"]) == sum(
                money(r["discount_applied"]) for r in lines[tid])
            assert money(t["total_amount"]) == (money(t["subtotal"]) + money(t["tax_amount"])
                                                - money(t["discount_amount"]))
            checked += 1
    assert checked > 30


def test_readings_follow_the_documented_format(dataset: DataSet) -> None:
    formats = {relpath.rsplit(".", 1)[1] for _, relpath, _, _ in dataset.readings}
    assert formats == {"json", "jsonl"}
    for _, _, records, _ in dataset.readings:
        for r in records:
            assert set(r) == {"station_id", "timestamp", "measurements"}
            stamp = datetime.fromisoformat(r["timestamp"])
            assert stamp.utcoffset() is not None
            assert [m["pollutant"] for m in r["measurements"]] == list(UNITS)


def test_dump_layout_holds_the_same_rows_in_one_folder(tmp_path: Path) -> None:
    args: dict[str, Any] = {"customers": 50, "days": 10, "seed": 9, "stations": 2,
                            "defect_rate": 0.0}
    generate(tmp_path / "daily", **args)
    generate(tmp_path / "dump", layout="dump", **args)
    assert sorted(p.name for p in (tmp_path / "dump").iterdir()) == ["dump", "manifest.json"]
    daily, dump = load(tmp_path / "daily"), load(tmp_path / "dump")
    for file in CONTRACT:
        assert sorted(r for x in daily.csv[file] for r in x.raw) == sorted(
            r for x in dump.csv[file] for r in x.raw
        ), file
    assert sorted(json.dumps(r) for _, _, rs, _ in daily.readings for r in rs) == sorted(
        json.dumps(r) for _, _, rs, _ in dump.readings for r in rs
    )


def test_dump_layout_defects_are_in_the_files_as_listed(tmp_path: Path) -> None:
    generate(tmp_path, customers=80, days=20, seed=11, stations=3, defect_rate=0.05,
             layout="dump")
    ds = load(tmp_path)
    found = detect(ds)
    assert found == manifest_hits(ds)
    assert {kind for kind, *_ in found} == set(KINDS) - {"late_arriving"}


@pytest.mark.parametrize(("customers", "days"), [(1, 1), (3, 4)])
def test_tiny_sets_are_complete_and_consistent(tmp_path: Path, customers: int, days: int) -> None:
    generate(tmp_path, customers=customers, days=days, stations=1)
    ds = load(tmp_path)
    assert len([p for p in tmp_path.iterdir() if p.is_dir()]) == days
    assert set(ds.csv) == set(CONTRACT)
    assert detect(ds) == manifest_hits(ds)


def test_cli_generate_writes_the_set_and_reports_it(tmp_path: Path) -> None:
    from typer.testing import CliRunner

    from c360.cli import app

    result = CliRunner().invoke(app, [
        "mock", "generate", "--out", str(tmp_path), "--customers", "20", "--days", "3",
        "--start", "2024-05-30", "--seed", "1", "--stations", "2", "--layout", "dump",
    ])
    assert result.exit_code == 0, result.output
    manifest = json.loads((tmp_path / "manifest.json").read_text())
    assert manifest["generator"]["start"] == "2024-05-30"
    assert manifest["generator"]["layout"] == "dump"
    assert f"{sum(manifest['rows'].values()):,} rows" in result.output
