"""Inline star frames for the mart tests: every column of the star's contract, defaults for the rest.

A test names only the columns that matter to it; the others get neutral values, so the
frames always have exactly the shape the marts read.
"""

from __future__ import annotations

import re
from datetime import date, datetime, timedelta
from decimal import Decimal
from typing import Any

from pyspark.sql import DataFrame, SparkSession

DIM_CUSTOMER = (
    "customer_key bigint, customer_id string, first_name_token string, last_name_token string, email_token string, "
    "phone_token string, birth_year int, gender string, registration_date timestamp, customer_segment string, "
    "loyalty_tier string, preferred_channel string, address_line1_token string, city string, state string, "
    "zip_code string, country string, valid_from timestamp, valid_to timestamp, is_current boolean"
)
DIM_PRODUCT = (
    "product_key bigint, product_id string, product_name string, category string, product_line string, "
    "brand string, price decimal(12,2), cost decimal(12,2), status string, launch_date date, "
    "valid_from timestamp, valid_to timestamp, is_current boolean"
)
FCT_ORDER = (
    "transaction_id string, transaction_ts timestamp, transaction_date date, customer_id string, customer_key bigint, "
    "channel string, store_id string, payment_method string, order_status string, subtotal decimal(12,2), "
    "tax_amount decimal(12,2), discount_amount decimal(12,2), total_amount decimal(12,2), currency string, "
    "line_count int"
)
FCT_SALES_LINE = (
    "item_id string, transaction_id string, transaction_ts timestamp, transaction_date date, customer_id string, "
    "customer_key bigint, product_id string, product_key bigint, channel string, order_status string, quantity int, "
    "unit_price decimal(12,2), gross_amount decimal(14,2), discount_amount decimal(12,2), line_amount decimal(14,2), "
    "unit_cost decimal(12,2), cost_amount decimal(14,2), margin_amount decimal(14,2)"
)
FCT_SUPPORT_TICKET = (
    "ticket_id string, customer_id string, customer_key bigint, created_ts timestamp, created_date date, "
    "resolved_ts timestamp, status string, category string, priority string, channel string, "
    "satisfaction_score int, resolution_hours double"
)
FCT_APP_SESSION = (
    "usage_id string, customer_id string, customer_key bigint, session_date date, session_start timestamp, "
    "duration_minutes int, pages_viewed int, actions_taken int, device_type string, app_version string"
)


def _ts(d: date) -> datetime:
    return datetime(d.year, d.month, d.day, 12, 0)


def _money(v: float | str | Decimal | None) -> Decimal | None:
    return None if v is None else Decimal(str(v)).quantize(Decimal("0.01"))


def _frame(spark: SparkSession, schema: str, rows: list[dict[str, Any]]) -> DataFrame:
    names = [c.strip().split(" ")[0] for c in re.split(r",(?![^()]*\))", schema)]
    return spark.createDataFrame([tuple(r.get(n) for n in names) for r in rows], schema)


def dim_customer(spark: SparkSession, *rows: dict[str, Any]) -> DataFrame:
    out = []
    for i, r in enumerate(rows, start=1):
        cid = r["customer_id"]
        out.append(
            {
                "customer_key": i, "first_name_token": f"fn-{cid}", "last_name_token": f"ln-{cid}",
                "email_token": f"em-{cid}", "phone_token": f"ph-{cid}", "birth_year": 1980, "gender": "F",
                "registration_date": datetime(2023, 1, 1), "customer_segment": "Standard", "loyalty_tier": None,
                "preferred_channel": "online", "address_line1_token": f"ad-{cid}", "city": "Austin", "state": "TX",
                "zip_code": "73301", "country": "US", "valid_from": datetime(2023, 1, 1), "valid_to": None,
                "is_current": r.get("valid_to") is None,
                **r,
            }
        )  # fmt: skip
    return _frame(spark, DIM_CUSTOMER, out)


def dim_product(spark: SparkSession, *rows: dict[str, Any]) -> DataFrame:
    out = []
    for r in rows:
        out.append(
            {
                "product_id": f"PRD{r['product_key']:03d}", "product_name": "thing", "brand": "Acme",
                "price": _money(10), "cost": _money(6), "status": "active", "launch_date": date(2023, 1, 1),
                "valid_from": datetime(2023, 1, 1), "valid_to": None, "is_current": True, **r,
            }
        )  # fmt: skip
    return _frame(spark, DIM_PRODUCT, out)


def fct_order(spark: SparkSession, *rows: dict[str, Any]) -> DataFrame:
    """rows: transaction_id, customer_id, transaction_date, total_amount (+ order_status, channel, ...)."""
    out = []
    for r in rows:
        total = _money(r["total_amount"])
        out.append(
            {
                "transaction_ts": _ts(r["transaction_date"]), "customer_key": 1, "channel": "online",
                "store_id": None, "payment_method": "card", "order_status": "completed", "subtotal": total,
                "tax_amount": _money(0), "discount_amount": _money(0), "currency": "USD", "line_count": 1,
                **r, "total_amount": total,
            }
        )  # fmt: skip
    return _frame(spark, FCT_ORDER, out)


def fct_sales_line(spark: SparkSession, *rows: dict[str, Any]) -> DataFrame:
    """rows: item_id, transaction_id, customer_id, transaction_date, line_amount, margin_amount, product_key, ..."""
    out = []
    for r in rows:
        amount, margin = _money(r["line_amount"]), _money(r.get("margin_amount"))
        cost = None if margin is None else amount - margin
        qty = r.get("quantity", 1)
        out.append(
            {
                "transaction_ts": _ts(r["transaction_date"]), "customer_key": 1, "product_key": 1,
                "product_id": f"PRD{r.get('product_key', 1):03d}", "channel": "online", "order_status": "completed",
                "quantity": qty, "unit_price": _money(amount / qty), "gross_amount": amount,
                "discount_amount": _money(0), "unit_cost": None if cost is None else _money(cost / qty),
                "cost_amount": cost, **r, "line_amount": amount, "margin_amount": margin,
            }
        )  # fmt: skip
    return _frame(spark, FCT_SALES_LINE, out)


def fct_support_ticket(spark: SparkSession, *rows: dict[str, Any]) -> DataFrame:
    """rows: ticket_id, customer_id, created_date (+ resolved_date, status, satisfaction_score)."""
    out = []
    for r in rows:
        resolved = r.pop("resolved_date", None) if "resolved_date" in r else None
        out.append(
            {
                "customer_key": 1, "created_ts": _ts(r["created_date"]),
                "resolved_ts": None if resolved is None else _ts(resolved) + timedelta(hours=1),
                "status": "open" if resolved is None else "resolved", "category": "billing", "priority": "medium",
                "channel": "email", "satisfaction_score": None, "resolution_hours": None, **r,
            }
        )  # fmt: skip
    return _frame(spark, FCT_SUPPORT_TICKET, out)


def fct_app_session(spark: SparkSession, *rows: dict[str, Any]) -> DataFrame:
    """rows: usage_id, customer_id, session_date (+ actions_taken)."""
    out = []
    for r in rows:
        out.append(
            {
                "customer_key": 1, "session_start": _ts(r["session_date"]), "duration_minutes": 10,
                "pages_viewed": 5, "actions_taken": 0, "device_type": "ios", "app_version": "3.2.0", **r,
            }
        )  # fmt: skip
    return _frame(spark, FCT_APP_SESSION, out)


def empty(spark: SparkSession, schema: str) -> DataFrame:
    return spark.createDataFrame([], schema)
