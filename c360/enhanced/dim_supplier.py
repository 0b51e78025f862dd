"""dim_supplier: the companies products are bought from. Grain: one row per supplier.

Keys: supplier_key (hash of supplier_id); natural key supplier_id. Type 1: the latest
delivered record of each supplier. No fact is dated against a supplier's attributes (a
sale is costed through dim_product's type-2 cost), so a rating or payment-terms change
is a correction here, not history. Contact person, e-mail and phone are personal data:
they arrive as HMAC tokens from the sanitized tier and are tagged pii.
"""

from __future__ import annotations

from pyspark.sql import DataFrame
from pyspark.sql import types as T

from c360.enhanced.common import (
    UNKNOWN_KEY,
    conform,
    latest_versions,
    surrogate_key,
    unknown_member,
)
from c360.quality import TableSuite
from c360.registry import C360, PII, Incremental, Table, column

SCHEMA = T.StructType(
    [
        column("supplier_key", T.LongType(), "surrogate key", False),
        column("supplier_id", T.StringType(), "supplier id", False),
        column("supplier_name", T.StringType(), "company name"),
        column("contact_person_token", T.StringType(), "token of the contact's name", tags=(PII,)),
        column("email_token", T.StringType(), "token of the contact e-mail", tags=(PII,)),
        column("phone_token", T.StringType(), "token of the contact phone", tags=(PII,)),
        column("address", T.StringType(), "company address"),
        column("country", T.StringType(), "ISO country"),
        column("payment_terms", T.StringType(), "payment terms, e.g. Net 30"),
        column("quality_rating", T.DoubleType(), "0-5 rating"),
    ]
)
NAME = "enhanced.products.dim_supplier"


def build(suppliers: DataFrame) -> DataFrame:
    latest = latest_versions(suppliers, ["supplier_id"])
    out = latest.select(surrogate_key("supplier_id").alias("supplier_key"), *SCHEMA.fieldNames()[1:])
    unknown = unknown_member(out.sparkSession, SCHEMA, supplier_key=UNKNOWN_KEY, supplier_id="UNKNOWN")
    return conform(out, SCHEMA).unionByName(unknown)


SUITE = (
    TableSuite(NAME, key=("supplier_key",))
    .unique("supplier_id")
    .not_null("supplier_name", severity="warn")
    .in_range("quality_rating", 0, 5)
)


TABLE = Table(
    name=NAME,
    schema=SCHEMA,
    description="Suppliers of the catalogue (type 1).",
    grain="one row per supplier",
    keys=("supplier_key",),
    product=C360,
    owner="customer-analytics",
    inputs={"suppliers": "sanitized.products.suppliers"},
    build=build,
    publish="whole",
    incremental=Incremental(),  # small: rebuilt whole when an input changed, not at all otherwise
    suite=SUITE,
    freshness_hours=36,
)
