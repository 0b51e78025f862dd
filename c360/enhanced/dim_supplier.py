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
    TableSpec,
    col_field,
    conform,
    latest_versions,
    surrogate_key,
    unknown_member,
)
from c360.quality import TableSuite

SCHEMA = T.StructType(
    [
        col_field("supplier_key", T.LongType(), "surrogate key", False),
        col_field("supplier_id", T.StringType(), "supplier id", False),
        col_field("supplier_name", T.StringType(), "company name"),
        col_field("contact_person_token", T.StringType(), "token of the contact's name"),
        col_field("email_token", T.StringType(), "token of the contact e-mail"),
        col_field("phone_token", T.StringType(), "token of the contact phone"),
        col_field("address", T.StringType(), "company address"),
        col_field("country", T.StringType(), "ISO country"),
        col_field("payment_terms", T.StringType(), "payment terms, e.g. Net 30"),
        col_field("quality_rating", T.DoubleType(), "0-5 rating"),
    ]
)
SPEC = TableSpec(
    name="enhanced.products.dim_supplier",
    schema=SCHEMA,
    description="Suppliers of the catalogue (type 1).",
    grain="one row per supplier",
    keys=("supplier_key",),
    pii_columns=("contact_person_token", "email_token", "phone_token"),
    sources=("sanitized.products.suppliers",),
)


def build(suppliers: DataFrame) -> DataFrame:
    latest = latest_versions(suppliers, ["supplier_id"])
    out = latest.select(surrogate_key("supplier_id").alias("supplier_key"), *SCHEMA.fieldNames()[1:])
    unknown = unknown_member(out.sparkSession, SCHEMA, supplier_key=UNKNOWN_KEY, supplier_id="UNKNOWN")
    return conform(out, SCHEMA).unionByName(unknown)


SUITE = (
    TableSuite(SPEC.name, key=("supplier_key",))
    .unique("supplier_id")
    .not_null("supplier_name", severity="warn")
    .in_range("quality_rating", 0, 5)
)
