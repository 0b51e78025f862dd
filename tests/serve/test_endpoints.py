"""Every endpoint against values computed here, independently, from the fact tables (Spark)
and from the tables read with plain delta-rs."""

from __future__ import annotations

import base64
import json
import os
import re
from collections import Counter
from datetime import date
from decimal import Decimal
from typing import Any

import pyarrow as pa
import pyarrow.compute as pc
import pytest
from deltalake import DeltaTable
from fastapi.testclient import TestClient
from pyspark.sql import functions as F

from tests.serve.conftest import ServedLakeFixture, headers

pytestmark = pytest.mark.slow
PROFILE = "enhanced.customer.customer360_profile"


def _table(served: ServedLakeFixture, name: str) -> tuple[pa.Table, int]:
    tier, domain, table = name.split(".")
    dt = DeltaTable(str(served.root / tier / domain / table))
    from deltalake import QueryBuilder

    data = pa.table(QueryBuilder().register("t", dt).execute("SELECT * FROM t").read_all())
    return data.cast(pa.schema(dt.schema().to_arrow())), dt.version()


@pytest.fixture(scope="module")
def latest(served: ServedLakeFixture) -> date:
    return max(served.published.profile_dates)


@pytest.fixture(scope="module")
def buyers(spark: Any, served: ServedLakeFixture, latest: date) -> dict[str, tuple[int, Decimal]]:
    """Purchases and spend per customer up to the latest as-of date, from the order lines:
    completed orders that have lines, and the sum of their line amounts (the profile's one
    money basis, docs/customer360.md)."""
    from c360.storage import DeltaStorage

    lines = DeltaStorage(spark, served.root).read("enhanced.sales.fct_sales_line")
    rows = (
        lines.filter((F.col("order_status") == "completed") & (F.col("transaction_date") <= F.lit(latest)))
        .groupBy("customer_id")
        .agg(F.countDistinct("transaction_id").alias("n"), F.sum("line_amount").alias("spent"))
        .orderBy(F.col("n").desc(), "customer_id")
        .limit(3)
        .collect()
    )
    assert len(rows) == 3
    return {r["customer_id"]: (r["n"], r["spent"]) for r in rows}


def test_customer_lookup_matches_the_orders(
    client: TestClient, served: ServedLakeFixture, buyers: dict[str, tuple[int, Decimal]], latest: date
) -> None:
    _, version = _table(served, PROFILE)
    dim, _ = _table(served, "enhanced.customer.dim_customer")
    current = {r["customer_id"]: r for r in dim.filter(pc.field("is_current")).to_pylist()}
    for cid, (n, spent) in buyers.items():
        r = client.get(f"/v1/customers/{cid}", headers=headers(served, "analyst"))
        assert r.status_code == 200, r.text
        body = r.json()
        assert body["as_of_date"] == latest.isoformat()
        assert body["profile"]["orders_count"] == n
        assert Decimal(body["profile"]["total_spent"]) == spent
        assert body["versions"][PROFILE] == version
        assert body["attributes"]["customer_segment"] == current[cid]["customer_segment"]
        assert r.headers["X-C360-Versions"].startswith(f"{PROFILE}@{version}")
    assert client.get("/v1/customers/NOPE", headers=headers(served, "analyst")).status_code == 404


def test_history_covers_every_as_of_date(
    client: TestClient, served: ServedLakeFixture, buyers: dict[str, tuple[int, Decimal]]
) -> None:
    cid = next(iter(buyers))
    body = client.get(f"/v1/customers/{cid}/history", headers=headers(served, "application")).json()
    assert [i["as_of_date"] for i in body["items"]] == [d.isoformat() for d in served.published.profile_dates]
    assert {i["customer_id"] for i in body["items"]} == {cid}
    dates = served.published.profile_dates
    assert len(dates) >= 2
    h = headers(served, "application")

    def history(**params: str) -> list[str]:
        r = client.get(f"/v1/customers/{cid}/history", params=params, headers=h)
        assert r.status_code == 200, r.text
        return [i["as_of_date"] for i in r.json()["items"]]

    assert history(**{"from": dates[-1].isoformat()}) == [dates[-1].isoformat()]
    assert history(to=dates[0].isoformat()) == [dates[0].isoformat()]
    assert history(**{"from": dates[0].isoformat(), "to": dates[-1].isoformat()}) == [d.isoformat() for d in dates]
    assert history(**{"from": "2999-01-01"}) == []  # a known customer, no as-of date in the range
    r = client.get(f"/v1/customers/{cid}/history", params={"from": "2024-02-01", "to": "2024-01-01"}, headers=h)
    assert (r.status_code, r.json()) == (400, {"detail": "from must not be after to"})


def test_filtered_pages_walk_the_whole_selection_in_id_order(
    client: TestClient, served: ServedLakeFixture, latest: date
) -> None:
    profile, _ = _table(served, PROFILE)
    day = profile.filter(pc.field("as_of_date") == latest)
    segment = Counter(day.column("customer_segment").to_pylist()).most_common(1)[0][0]
    expected = sorted(
        r["customer_id"]
        for r in day.to_pylist()
        if r["customer_segment"] == segment and r["predicted_clv_12m"] >= Decimal("10")
    )
    assert len(expected) > 5
    seen: list[str] = []
    params: dict[str, Any] = {"segment": segment, "min_clv": "10", "limit": 4}
    h_app = headers(served, "application")
    for _ in range(100):
        r = client.get("/v1/customers", params=params, headers=h_app)
        assert r.status_code == 200, r.text
        body = r.json()
        seen += [i["customer_id"] for i in body["items"]]
        if body["next_cursor"] is None:
            break
        # The cursor carries the filters (docs/serving.md sends it alone); sent with it, they
        # must be the same ones (10.0 is 10). Pages after the first dropped them once.
        alone = len(seen) // 4 % 2 == 1
        params = {"limit": 4, "cursor": body["next_cursor"]}
        params |= {} if alone else {"segment": segment, "min_clv": "10.0"}
    assert seen == expected
    other = client.get("/v1/customers", params={**params, "segment": "not " + segment}, headers=h_app)
    assert other.status_code == 400 and "the cursor belongs to other filters" in other.text
    assert f"segment={segment}" in other.text
    huge = client.get("/v1/customers", params={"min_clv": "999999999999.999"}, headers=h_app)
    assert huge.status_code == 200 and huge.json()["items"] == [], huge.text  # past decimal(14,2): none
    for forged in ("NaN", "Infinity", "1E+100", "-1"):
        body = {"d": latest.isoformat(), "k": "", "f": {"min_clv": forged}}
        cursor = base64.urlsafe_b64encode(json.dumps(body).encode()).decode()
        r = client.get("/v1/customers", params={"cursor": cursor}, headers=h_app)
        assert r.status_code == 400 and "invalid cursor" in r.text, (forged, r.text)
    cents = client.get("/v1/customers", params={"min_clv": "10.005", "limit": 500}, headers=h_app)
    assert cents.status_code == 200, cents.text
    assert sorted(i["customer_id"] for i in cents.json()["items"]) == sorted(
        r["customer_id"] for r in day.to_pylist() if r["predicted_clv_12m"] >= Decimal("10.005")
    )
    high = client.get("/v1/customers", params={"churn_risk": "high", "limit": 500}, headers=headers(served, "analyst"))
    assert sorted(i["customer_id"] for i in high.json()["items"]) == sorted(
        r["customer_id"] for r in day.to_pylist() if r["churn_risk_label"] == "high"
    )


def test_unknown_parameters_and_days_the_profile_lacks_are_refused_not_ignored(
    client: TestClient, served: ServedLakeFixture, latest: date
) -> None:
    """A misspelt filter answered every customer, as FastAPI drops unknown parameters, and an
    as-of date the profile never computed answered empty lists, like a day without matches."""
    h = headers(served, "analyst")
    typo = client.get("/v1/customers", params={"segement": "Premium", "limit": 1}, headers=h)
    assert typo.status_code == 422
    [error] = typo.json()["detail"]
    assert error["loc"] == ["query", "segement"] and "segment" in error["msg"] and "min_clv" in error["msg"]
    lookup = client.get("/v1/customers/CUST0000001", params={"as_of": latest.isoformat()}, headers=h)
    assert lookup.status_code == 422 and "takes no query parameters" in lookup.text
    assert client.get("/v1/tables", params={"limit": 5}, headers=h).status_code == 422
    assert client.get("/health", params={"probe": 1}).status_code == 200  # health checks may add their own
    # "nan" failed the le=1 check and was told "should be less than or equal to 1"
    nan = client.get("/v1/marketing/churn-risk", params={"min_score": "nan"}, headers=h)
    assert nan.status_code == 422 and nan.json()["detail"][0]["msg"] == "Input should be a finite number"

    dates = sorted(served.published.profile_dates)
    later = date.fromordinal(latest.toordinal() + 365)
    for path in ("/v1/customers", "/v1/finance/clv-by-segment", "/v1/marketing/churn-risk", "/v1/marketing/segments"):
        missing = client.get(path, params={"as_of": later.isoformat()}, headers=h)
        assert missing.status_code == 404, (path, missing.text)
        assert missing.json()["detail"] == (
            f"the profile has no as-of date {later.isoformat()} (outside the {len(dates)} dates it holds, "
            f"{dates[0].isoformat()} to {dates[-1].isoformat()})"
        )
        held = client.get(path, params={"as_of": dates[0].isoformat()}, headers=h)
        assert held.status_code == 200, (path, held.text)


def test_marketing_lists_and_segments(client: TestClient, served: ServedLakeFixture, latest: date) -> None:
    rows = _table(served, PROFILE)[0].filter(pc.field("as_of_date") == latest).to_pylist()
    h = headers(served, "analyst")
    churn = client.get("/v1/marketing/churn-risk", params={"min_score": 0.6}, headers=h).json()["rows"]
    assert [r["customer_id"] for r in churn] == [
        r["customer_id"]
        for r in sorted(rows, key=lambda r: (-r["churn_risk_score"], r["customer_id"]))
        if r["churn_risk_score"] >= 0.6
    ]
    win = client.get("/v1/marketing/win-back", headers=h).json()["rows"]
    assert {r["customer_id"] for r in win} == {r["customer_id"] for r in rows if r["flag_win_back"]}
    segments = {r["rfm_segment"]: r for r in client.get("/v1/marketing/segments", headers=h).json()["rows"]}
    sizes = Counter(r["rfm_segment"] for r in rows)
    assert {k: v["customers"] for k, v in segments.items()} == dict(sizes)
    for name, seg in segments.items():
        assert Decimal(seg["total_spent"]) == sum(r["total_spent"] for r in rows if r["rfm_segment"] == name)
    tiers = {r["loyalty_tier"]: r for r in client.get("/v1/marketing/loyalty-tiers", headers=h).json()["rows"]}
    assert {k: v["customers"] for k, v in tiers.items()} == dict(Counter(r["loyalty_tier"] for r in rows))


def test_finance_revenue_by_segment_from_the_order_lines(
    spark: Any, client: TestClient, served: ServedLakeFixture
) -> None:
    from c360.storage import DeltaStorage

    storage = DeltaStorage(spark, served.root)
    lines = storage.read("enhanced.sales.fct_sales_line").filter(F.col("order_status") == "completed")
    dim = storage.read("enhanced.customer.dim_customer").select("customer_key", "customer_segment")
    first = min(served.published.profile_dates)
    window = lines.filter(F.col("transaction_date") >= F.lit(first))
    expected = {
        (r["customer_segment"] or "Unknown"): r["revenue"]
        for r in window.join(dim, "customer_key", "left").groupBy("customer_segment").agg(
            F.sum("line_amount").alias("revenue")
        ).collect()
    }  # fmt: skip
    body = client.get(
        "/v1/finance/revenue-by-segment", params={"from": first.isoformat()}, headers=headers(served, "analyst")
    ).json()
    got = {r["customer_segment"]: Decimal(r["revenue"]) for r in body["rows"]}
    assert got == expected
    total = sum(expected.values())
    for r in body["rows"]:
        assert r["revenue_share"] == pytest.approx(float(Decimal(r["revenue"]) / total))
    assert "enhanced.sales.sales_by_segment_daily" in body["versions"]


def test_finance_clv_and_product_engagement(client: TestClient, served: ServedLakeFixture, latest: date) -> None:
    rows = _table(served, PROFILE)[0].filter(pc.field("as_of_date") == latest).to_pylist()
    h = headers(served, "analyst")
    clv = {r["customer_segment"]: r for r in client.get("/v1/finance/clv-by-segment", headers=h).json()["rows"]}
    for seg, r in clv.items():
        mine = [x for x in rows if x["customer_segment"] == seg]
        assert r["customers"] == len(mine)
        assert Decimal(r["historical_clv"]) == sum(x["historical_clv"] for x in mine)
    eng = client.get("/v1/product/engagement-by-segment", headers=h).json()["rows"]
    for r in eng:
        mine = [x for x in rows if x["customer_segment"] == r["customer_segment"]]
        assert r["sessions_30d"] == sum(x["sessions_30d"] for x in mine)
        assert r["avg_engagement_score"] == pytest.approx(sum(x["engagement_score"] for x in mine) / len(mine))


def test_product_line_sales_by_segment_from_the_order_lines(
    spark: Any, client: TestClient, served: ServedLakeFixture
) -> None:
    from c360.storage import DeltaStorage

    storage = DeltaStorage(spark, served.root)
    lines = storage.read("enhanced.sales.fct_sales_line").filter(F.col("order_status") == "completed")
    products = storage.read("enhanced.products.dim_product").select("product_key", "category")
    dim = storage.read("enhanced.customer.dim_customer").select("customer_key", "customer_segment")
    joined = lines.join(products, "product_key", "left").join(dim, "customer_key", "left")
    first = min(served.published.profile_dates)
    category = joined.groupBy("category").count().orderBy(F.col("count").desc()).first()["category"]
    expected = {
        (r["customer_segment"] or "Unknown"): (r["revenue"], r["units"])
        for r in joined.filter((F.col("category") == category) & (F.col("transaction_date") >= F.lit(first)))
        .groupBy("customer_segment")
        .agg(F.sum("line_amount").alias("revenue"), F.sum("quantity").alias("units"))
        .collect()
    }
    body = client.get(
        "/v1/product/sales-by-segment",
        params={"category": category, "from": first.isoformat()},
        headers=headers(served, "analyst"),
    ).json()
    assert {r["customer_segment"]: (Decimal(r["revenue"]), r["units"]) for r in body["rows"]} == expected


def test_air_quality_stations_daily_and_calculator(client: TestClient, served: ServedLakeFixture) -> None:
    from c360.aqi import calculate

    h = headers(served, "application")
    stations, _ = _table(served, "enhanced.air_quality.dim_station")
    last = max(stations.column("snapshot_date").to_pylist())
    body = client.get("/v1/air-quality/stations", headers=h).json()
    assert [r["station_id"] for r in body["rows"]] == sorted(
        stations.filter(pc.field("snapshot_date") == last).column("station_id").to_pylist()
    )
    daily, version = _table(served, "enhanced.air_quality.fct_aqi_daily")
    station = daily.column("station_id")[0].as_py()
    mine = sorted((r for r in daily.to_pylist() if r["station_id"] == station), key=lambda r: r["date"])
    got = client.get(f"/v1/air-quality/stations/{station}/daily", headers=h).json()
    assert [(r["date"], r["aqi"], r["category"]) for r in got["rows"]] == [
        (r["date"].isoformat(), r["aqi"], r["category"]) for r in mine
    ]
    assert got["versions"] == {"enhanced.air_quality.fct_aqi_daily": version}
    before = client.get(f"/v1/air-quality/stations/{station}/daily", params={"to": "1999-01-01"}, headers=h)
    assert before.status_code == 200 and before.json()["rows"] == []  # a known station, no days in the range
    unknown = client.get("/v1/air-quality/stations/NO-SUCH-STATION/daily", headers=h)
    assert (unknown.status_code, unknown.json()) == (404, {"detail": "no station 'NO-SUCH-STATION'"})
    records = [
        {"station_id": "S1", "timestamp": "2024-01-01T00:00:00Z", "pm25_24h": 35.5, "o3_8h": 0.07},
        {"station_id": "S2", "timestamp": "2024-01-01T00:00:00Z", "pm25_24h": "not a number"},
        {"station_id": "S3"},
    ]
    r = client.post("/v1/aqi", json={"records": records}, headers=h)
    assert r.status_code == 200, r.text
    assert r.json()["results"] == list(calculate(records, workers=1, chunk_size=10))
    statuses = [x["status"] for x in r.json()["results"]]
    assert statuses[0] == "ok" and statuses[1:] == ["invalid", "invalid"]
    assert client.post("/v1/aqi", json={"records": records, "standard": "../etc"}, headers=h).status_code == 422


def test_tables_lists_versions_rows_and_descriptions(client: TestClient, served: ServedLakeFixture) -> None:
    from c360.storage import LakeCatalog

    catalog = LakeCatalog(served.root)
    body = client.get("/v1/tables", headers=headers(served, "analyst")).json()
    names = [t["name"] for t in body["tables"]]
    assert names == [n for n in catalog.list_tables() if n.startswith("enhanced.")]
    for t in body["tables"]:
        info = catalog.describe(t["name"])
        assert t["version"] == info.version
        assert t["rows"] == sum(catalog.row_counts(t["name"]).values())
        assert t["description"] == info.description
    app_tables = client.get("/v1/tables", headers=headers(served, "application")).json()["tables"]
    assert {t["name"] for t in app_tables} == {
        n for n in names if n.startswith("enhanced.air_quality.") or n.endswith(("customer360_profile", "dim_customer"))
    }


def test_health_and_offline_docs(client: TestClient, served: ServedLakeFixture) -> None:
    health = client.get("/health", headers=headers(served, "analyst")).json()
    probe = client.head("/health")
    assert probe.status_code == 200 and probe.content == b""  # what load balancers send
    assert health["ready"] is True and PROFILE in health["versions"] and health["process"] == os.getpid()
    page = client.get("/docs").text
    assert "cdn" not in page.lower() and "/static/swagger/swagger-ui-bundle.js" in page
    bundle = client.get("/static/swagger/swagger-ui-bundle.js")
    assert bundle.status_code == 200
    assert client.get("/static/swagger/swagger-ui.css").status_code == 200
    # FastAPI emits OpenAPI 3.1, which Swagger UI renders from version 5 on: version 4 (the
    # assets before) showed only "Unable to render this definition" in a browser.
    assert client.get("/openapi.json").json()["openapi"].startswith("3.1")
    shipped = re.search(r'PACKAGE_VERSION:"(\d+)\.(\d+)\.(\d+)"', bundle.text)
    assert shipped is not None and int(shipped.group(1)) >= 5, shipped
