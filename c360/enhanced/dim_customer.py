"""dim_customer: customers with type-2 history. Grain: one row per customer per version.

Keys: customer_key (surrogate, deterministic: hash of customer_id + valid_from);
natural key customer_id; exactly one ``is_current`` row per customer.

Versions come from two sources: the CRM record (``sanitized.customer.customers``, every
delivered version) and the loyalty tier (``sanitized.customer.loyalty_program``). A
version starts at the extract date it was delivered on; the first one at the earlier
of registration and first delivery, so orders placed before the first extract still
find their customer. Tracked (type 2): segment, loyalty tier, address, city, state,
zip code, country, preferred channel. Names, contact tokens, birth year, gender and
registration date are type 1 (corrections, not history). Identifiers are HMAC tokens;
clear values only through the vault.
"""

from __future__ import annotations

from pyspark.sql import DataFrame, Window
from pyspark.sql import functions as F
from pyspark.sql import types as T

from c360.enhanced.common import UNKNOWN_KEY, VERSION_ORDER, conform, scd2, unknown_member
from c360.quality import TableSuite
from c360.registry import C360, PII, SUBJECT, Incremental, Table, column

TRACKED = (
    "customer_segment",
    "loyalty_tier",
    "address_line1_token",
    "city",
    "state",
    "zip_code",
    "country",
    "preferred_channel",
)
SCHEMA = T.StructType(
    [
        column("customer_key", T.LongType(), "surrogate key of this version", False),
        column("customer_id", T.StringType(), "CRM customer id", False, tags=(SUBJECT,)),
        column("first_name_token", T.StringType(), "token of the given name", tags=(PII,)),
        column("last_name_token", T.StringType(), "token of the family name", tags=(PII,)),
        column("email_token", T.StringType(), "token of the e-mail", tags=(PII,)),
        column("phone_token", T.StringType(), "token of the E.164 phone", tags=(PII,)),
        column("birth_year", T.IntegerType(), "year of birth", tags=(PII,)),
        column("gender", T.StringType(), "F, M, X or U"),
        column("registration_date", T.TimestampType(), "sign-up time (UTC)"),
        column("customer_segment", T.StringType(), "CRM segment (type 2)"),
        column("loyalty_tier", T.StringType(), "loyalty tier (type 2); NULL = not a member"),
        column("preferred_channel", T.StringType(), "preferred channel (type 2)"),
        column("address_line1_token", T.StringType(), "token of the street address (type 2)", tags=(PII,)),
        column("city", T.StringType(), "city (type 2)"),
        column("state", T.StringType(), "state (type 2)"),
        column("zip_code", T.StringType(), "postal code (type 2)", tags=(PII,)),
        column("country", T.StringType(), "ISO country (type 2)"),
        column("valid_from", T.TimestampType(), "version valid from (inclusive, UTC)", False),
        column("valid_to", T.TimestampType(), "version valid until (exclusive); NULL = current"),
        column("is_current", T.BooleanType(), "the customer's current version", False),
        column("version", T.IntegerType(), "1 = first version", False),
    ]
)
NAME = "enhanced.customer.dim_customer"
_CUSTOMER_ATTRS = (
    "first_name_token",
    "last_name_token",
    "email_token",
    "phone_token",
    "date_of_birth_year",
    "gender",
    "registration_date",
    "customer_segment",
    "preferred_channel",
    "address_line1_token",
    "city",
    "state",
    "zip_code",
    "country",
)


def build(customers: DataFrame, loyalty: DataFrame) -> DataFrame:
    """SCD2 from every delivered version (both inputs already limited to the run date)."""
    first = Window.partitionBy("customer_id").orderBy(*VERSION_ORDER)
    delivered = F.to_timestamp(F.col("_extract_date"))
    c = customers.withColumn("__n", F.row_number().over(first)).select(
        "customer_id",
        F.when(F.col("__n") == 1, F.least("registration_date", delivered)).otherwise(delivered).alias("__ts"),
        *VERSION_ORDER,
        F.lit(0).alias("__src"),
        F.struct(*_CUSTOMER_ATTRS).alias("c"),
    )
    loyalty_struct = T.StructType([T.StructField("loyalty_tier", T.StringType())])
    c = c.withColumn("l", F.lit(None).cast(loyalty_struct))
    customer_struct = c.schema["c"].dataType
    ly = loyalty.select(
        "customer_id",
        delivered.alias("__ts"),
        *VERSION_ORDER,
        F.lit(1).alias("__src"),
        F.lit(None).cast(customer_struct).alias("c"),
        F.struct("loyalty_tier").alias("l"),
    )
    events = c.unionByName(ly)
    # One ingest gives all files of a day the same ingest time, and a customer's CRM and
    # loyalty rows may sit on the same line number: __src (CRM, then loyalty) breaks the tie,
    # so both windows see the events in the same, total order.
    order = ("__ts", *VERSION_ORDER, "__src")
    upto = Window.partitionBy("customer_id").orderBy(*order).rowsBetween(Window.unboundedPreceding, 0)
    events = events.withColumn("c", F.last("c", ignorenulls=True).over(upto)).withColumn(
        "l", F.last("l", ignorenulls=True).over(upto)
    )
    # One state per customer and instant: the last event of that instant wins.
    same_instant = Window.partitionBy("customer_id", "__ts").orderBy(*[F.col(x).desc() for x in order[1:]])
    states = (
        events.filter(F.col("c").isNotNull())
        .withColumn("__r", F.row_number().over(same_instant))
        .filter("__r = 1")
        .select("customer_id", "__ts", "c.*", F.col("l.loyalty_tier").alias("loyalty_tier"))
        .withColumnRenamed("date_of_birth_year", "birth_year")
    )
    history = scd2(states, key="customer_id", change_ts="__ts", tracked=TRACKED, sk_name="customer_key")
    unknown = unknown_member(
        history.sparkSession, SCHEMA, customer_key=UNKNOWN_KEY, customer_id="UNKNOWN", is_current=True, version=1
    )
    return conform(history, SCHEMA).unionByName(unknown)


SUITE = (
    TableSuite(NAME, key=("customer_key",))
    .not_null("customer_id")
    .invariant("valid_interval", "valid_to IS NULL OR valid_to > valid_from")
    .invariant("current_iff_open", "is_current = (valid_to IS NULL)")
    .gx(
        "expect_compound_columns_to_be_unique",
        column_list=["customer_id", "valid_from"],
        name="one_version_per_instant",
    )
    .row_count_vs_previous(0.9, 2.0, severity="warn")
)


TABLE = Table(
    name=NAME,
    schema=SCHEMA,
    description="Customers with type-2 history of segment, loyalty tier, address and preferred channel.",
    grain="one row per customer per version",
    keys=("customer_key",),
    product=C360,
    owner="customer-analytics",
    inputs={"customers": "sanitized.customer.customers", "loyalty": "sanitized.customer.loyalty_program"},
    build=build,
    publish="whole",
    # A customer's versions come from its own CRM and loyalty rows only: a run rebuilds the
    # customers delivered since the stored build and keeps the rows of every other one.
    incremental=Incremental(key="customer_id"),
    suite=SUITE,
    freshness_hours=36,
)
