"""Hypothesis over the request parameters and bodies of every endpoint: never a 5xx."""

from __future__ import annotations

import pytest
from fastapi.testclient import TestClient
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.serve.conftest import ServedLakeFixture, headers

pytestmark = pytest.mark.slow
FUZZ = settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
text = st.text(min_size=0, max_size=40)
maybe = st.one_of(st.none(), text, st.integers(-(2**70), 2**70).map(str), st.dates().map(str))
json_value = st.recursive(
    st.one_of(st.none(), st.booleans(), st.integers(-(2**70), 2**70), st.floats(allow_nan=False, allow_infinity=False), text),
    lambda inner: st.one_of(st.lists(inner, max_size=4), st.dictionaries(text, inner, max_size=4)),
    max_leaves=12,
)
PATHS = [
    "/v1/customers", "/v1/marketing/churn-risk", "/v1/marketing/win-back", "/v1/marketing/segments",
    "/v1/marketing/loyalty-tiers", "/v1/finance/clv-by-segment", "/v1/finance/revenue-by-segment",
    "/v1/product/sales-by-segment", "/v1/product/engagement-by-segment", "/v1/air-quality/stations",
]  # fmt: skip
PARAMS = [
    "segment", "rfm_segment", "churn_risk", "loyalty_tier", "min_clv", "as_of", "limit", "cursor", "min_score",
    "from", "to", "category", "product_line", "version", "format",
]  # fmt: skip


@FUZZ
@given(path=st.sampled_from(PATHS), params=st.dictionaries(st.sampled_from(PARAMS), maybe, max_size=5))
def test_query_parameters(client: TestClient, served: ServedLakeFixture, path: str, params: dict) -> None:
    r = client.get(path, params={k: v for k, v in params.items() if v is not None}, headers=headers(served, "steward"))
    assert r.status_code < 500, r.text


@FUZZ
@given(segment=text, extra=st.sampled_from(["", "/history"]))
def test_path_parameters(client: TestClient, served: ServedLakeFixture, segment: str, extra: str) -> None:
    from urllib.parse import quote

    for path in (f"/v1/customers/{quote(segment, safe='')}{extra}", f"/v1/exports/{quote(segment, safe='')}",
                 f"/v1/air-quality/stations/{quote(segment, safe='')}/daily"):  # fmt: skip
        r = client.get(path, headers=headers(served, "analyst"))
        assert r.status_code < 500, (path, r.text)


@FUZZ
@given(
    body=st.one_of(
        json_value,
        st.fixed_dictionaries({"sql": text}, optional={"limit": st.integers(-5, 10**6)}),
        st.fixed_dictionaries(
            {
                "sql": st.sampled_from(
                    ["SELECT ", "SELECT * FROM enhanced.customer.dim_customer WHERE ", "WITH a AS ("]
                ).flatmap(lambda p: text.map(lambda t: p + t))
            }
        ),
    )
)
def test_sql_bodies(client: TestClient, served: ServedLakeFixture, body: object) -> None:
    r = client.post("/v1/sql", json=body, headers=headers(served, "analyst"))
    assert r.status_code < 500, r.text


@FUZZ
@given(
    body=st.one_of(
        json_value,
        st.fixed_dictionaries({"records": st.lists(json_value, max_size=5)}),
        st.fixed_dictionaries(
            {
                "records": st.lists(
                    st.dictionaries(
                        st.sampled_from(["station_id", "timestamp", "pm25_24h", "o3_8h", "co_8h", "pm10_24h", "x"]),
                        json_value,
                        max_size=5,
                    ),
                    min_size=1,
                    max_size=5,
                )
            },
            optional={"standard": st.sampled_from(["us-epa-2024", "cn-hj633-2012", "nope", "../x"])},
        ),
    )
)
def test_aqi_bodies(client: TestClient, served: ServedLakeFixture, body: object) -> None:
    r = client.post("/v1/aqi", json=body, headers=headers(served, "application"))
    assert r.status_code < 500, r.text
