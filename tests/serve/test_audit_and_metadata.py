"""One audit row per request; column descriptions and tags read back with plain delta-rs."""

from __future__ import annotations

import pyarrow as pa
import pytest
from deltalake import DeltaTable, QueryBuilder
from fastapi.testclient import TestClient

from tests.serve.conftest import ServedLakeFixture, headers

pytestmark = pytest.mark.slow


def _audit(served: ServedLakeFixture) -> list[dict]:
    dt = DeltaTable(str(served.root / "ops" / "serve" / "audit"))
    return pa.table(QueryBuilder().register("a", dt).execute("SELECT * FROM a").read_all()).to_pylist()


def test_one_audit_row_per_request(client: TestClient, served: ServedLakeFixture) -> None:
    audit = client.app.state.audit  # type: ignore[attr-defined]
    audit.flush()
    before = {r["request_id"] for r in _audit(served)}
    sent = [
        client.get("/v1/customers", params={"limit": 3}, headers=headers(served, "application")),
        client.get("/v1/marketing/segments", headers=headers(served, "application")),  # 403
        client.get("/v1/tables"),  # 401
        client.post("/v1/sql", json={"sql": "DROP TABLE x"}, headers=headers(served, "analyst")),  # 400
        client.post(
            "/v1/sql",
            json={"sql": "SELECT count(*) AS n FROM enhanced.customer.dim_customer"},
            headers=headers(served, "analyst"),
        ),
        # A key sent where keys do not go (422: an unknown parameter) is audited without its secret.
        client.get("/v1/tables", params={"api_key": served.keys["analyst"], "token": "s3cret"}),
    ]
    audit.flush()
    new = {r["request_id"]: r for r in _audit(served) if r["request_id"] not in before}
    ids = [r.headers["X-Request-ID"] for r in sent]
    assert set(ids) <= set(new)
    mine = [new[i] for i in ids]
    assert [r["status"] for r in mine] == [200, 403, 401, 400, 200, 422]
    assert mine[0]["endpoint"] == "/v1/customers" and mine[0]["rows"] == 3 and mine[0]["role"] == "application"
    assert mine[0]["tables"][0].startswith("enhanced.customer.customer360_profile@")
    assert mine[2]["key_id"] is None and mine[2]["role"] is None
    assert mine[3]["sql"] == "DROP TABLE x" and "DROP" in mine[3]["error"]
    assert mine[4]["rows"] == 1 and mine[4]["tables"][0].startswith("enhanced.customer.dim_customer@")
    key_id = served.keys["analyst"].split("_")[1]
    assert mine[5]["target"] == f"/v1/tables?api_key=c360_{key_id}_[redacted]&token=[redacted]"
    assert served.keys["analyst"] not in repr(_audit(served)) and "s3cret" not in repr(_audit(served))
    assert len(_audit(served)) == len(before) + len(new)
    assert len({r["request_id"] for r in _audit(served)}) == len(_audit(served))


def test_secrets_are_redacted_from_audited_texts_and_nothing_else() -> None:
    from c360.access import redact_secrets

    key = "c360_72270f98_KxJdr3yrSO5b1i6Qxldr7WOeymN4oFG4"
    assert redact_secrets(f"/v1/x?limit=3&client_secret=zz&api_key={key}&a=1", url=True) == (
        "/v1/x?limit=3&client_secret=[redacted]&api_key=c360_72270f98_[redacted]&a=1"
    )
    # SQL keeps its text (a parameter-like pattern in it once swallowed the rest of the query)
    sql = f"SELECT 1 FROM t WHERE p LIKE '%?token=%' AND k = '{key}' GROUP BY day"
    assert (
        redact_secrets(sql)
        == "SELECT 1 FROM t WHERE p LIKE '%?token=%' AND k = 'c360_72270f98_[redacted]' GROUP BY day"
    )


def test_descriptions_and_tags_read_back_with_plain_delta_rs(served: ServedLakeFixture) -> None:
    dt = DeltaTable(str(served.root / "enhanced" / "customer" / "customer360_profile"))
    fields = {f.name: f.metadata for f in dt.schema().fields}
    assert "HMAC token" in str(fields["email_token"]["comment"])
    assert "pii" in str(fields["email_token"]["c360.tags"]).split(",")
    assert "pii" not in str(fields["customer_segment"].get("c360.tags", "")).split(",")
    assert fields["customer_segment"]["comment"]
    audit = DeltaTable(str(served.root / "ops" / "serve" / "audit"))
    meta = {f.name: f.metadata for f in audit.schema().fields}
    assert meta["target"]["c360.tags"] == "subject" and meta["request_id"]["comment"]
