"""Source contracts: one typed spec per source yields everything downstream needs.

A contract is written once and gives the raw schema (every column a string, as
delivered), the sanitized schema (typed), the validation rules, the column
descriptions and tags (``pii``), the key, and the foreign keys. No other module
declares a source's columns.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from enum import StrEnum
from typing import TYPE_CHECKING

from pyspark.sql import types as T

if TYPE_CHECKING:
    from pyspark.sql import DataFrame


class Std(StrEnum):
    """How a value is standardised before it is validated."""

    NONE = "none"
    LOWER = "lower"
    UPPER = "upper"
    EMAIL = "email"  # trimmed, lower-case
    PHONE = "phone"  # E.164 where the digits allow it
    COUNTRY = "country"  # ISO 3166-1 alpha-2
    CURRENCY = "currency"  # ISO 4217, upper-case
    BOOL = "bool"  # true/false/yes/no/1/0


class FkPolicy(StrEnum):
    QUARANTINE = "quarantine"  # the row cannot be used without its parent
    FLAG = "flag"  # kept, with <column>_is_orphan = true, so no revenue or ticket vanishes


def _meta(
    name: str, dtype: T.DataType, comment: str, nullable: bool = True, tags: tuple[str, ...] = ()
) -> T.StructField:
    md = {"comment": comment}
    if tags:
        md["c360.tags"] = ",".join(sorted(tags))
    return T.StructField(name, dtype, nullable, md)


# The columns every raw row carries besides the delivered fields.
RAW_META = (
    _meta("_extra", T.MapType(T.StringType(), T.StringType(), True), "unknown columns as delivered"),
    _meta("_line_number", T.LongType(), "line (or array element) in the source file", False),
    _meta("_raw_line", T.StringType(), "the line's text when it could not be parsed"),
    _meta("_parse_error", T.StringType(), "why the line could not be parsed"),
    _meta("_ingest_id", T.StringType(), "the ingest run", False),
    _meta("_ingest_time", T.TimestampType(), "when it was ingested (UTC)", False),
    _meta("_source_file", T.StringType(), "path of the delivered file", False),
    _meta("_source_checksum", T.StringType(), "SHA-256 of the file", False),
    _meta("_extract_date", T.DateType(), "the extract (delivery) date", False),
)

_TYPES: dict[str, T.DataType] = {
    "string": T.StringType(),
    "int": T.IntegerType(),
    "long": T.LongType(),
    "double": T.DoubleType(),
    "date": T.DateType(),
    "timestamp": T.TimestampType(),
    "boolean": T.BooleanType(),
    "money": T.DecimalType(12, 2),
    "decimal3": T.DecimalType(12, 3),
}


@dataclass(frozen=True)
class Col:
    name: str
    type: str = "string"
    description: str = ""
    required: bool = False
    pii: bool = False  # a direct identifier: pseudonymised after validation, clear value in the vault
    std: Std = Std.NONE
    enum: tuple[str, ...] | None = None
    ge: float | None = None  # inclusive lower bound
    gt: float | None = None  # exclusive lower bound
    le: float | None = None
    pattern: str | None = None  # regex on the standardised string

    @property
    def spark_type(self) -> T.DataType:
        return _TYPES[self.type]

    @property
    def tags(self) -> tuple[str, ...]:
        return ("pii",) if self.pii else ()


@dataclass(frozen=True)
class Rule:
    """A row rule: a Spark SQL boolean over typed columns. NULL means "not applicable"."""

    name: str
    expr: str
    description: str = ""


@dataclass(frozen=True)
class ForeignKey:
    column: str
    ref: str  # "domain.source" of the parent contract
    ref_column: str
    policy: FkPolicy


@dataclass(frozen=True)
class Contract:
    domain: str
    source: str
    description: str
    key: tuple[str, ...]
    columns: tuple[Col, ...]
    rules: tuple[Rule, ...] = ()
    foreign_keys: tuple[ForeignKey, ...] = ()
    # The customer a row belongs to, so the vault can find every identifier of a person.
    subject: str | None = None
    # Columns whose year is kept (as <name>_year) when the value itself is pseudonymised.
    keep_year_of: tuple[str, ...] = ()
    owner: str = "data-platform"
    format: str = "csv"
    # Text encoding of the delivered files (any Python codec name); undecodable lines are kept as malformed.
    encoding: str = "utf-8"
    extra_meta: dict[str, str] = field(default_factory=dict)
    # JSON sources: raw frame (``record`` + meta) -> the same frame plus one string column per
    # contract column, as column expressions; sanitize runs it before the generic rules.
    extract: Callable[[DataFrame], DataFrame] | None = field(default=None, compare=False)

    @property
    def name(self) -> str:
        return f"{self.domain}.{self.source}"

    @property
    def file_name(self) -> str:
        return f"{self.source}.{self.format}"

    @property
    def raw_table(self) -> str:
        return f"raw.{self.domain}.{self.source}"

    @property
    def sanitized_table(self) -> str:
        return f"sanitized.{self.domain}.{self.source}"

    @property
    def quarantine_table(self) -> str:
        return f"quarantine.{self.domain}.{self.source}"

    @property
    def raw_columns(self) -> list[str]:
        """Columns of the raw tier: the delivered fields as strings, or the JSON record's text."""
        return ["record"] if self.format == "json" else [c.name for c in self.columns]

    @property
    def column_names(self) -> list[str]:
        return [c.name for c in self.columns]

    @property
    def pii_columns(self) -> list[str]:
        return [c.name for c in self.columns if c.pii]

    def col(self, name: str) -> Col:
        return next(c for c in self.columns if c.name == name)

    def column_tags(self, name: str) -> tuple[str, ...]:
        """pii for a direct identifier, subject for the column naming the customer."""
        if name in self.pii_columns:
            return ("pii",)
        return ("subject",) if name == self.subject else ()

    def _description(self, c: Col) -> str:
        return c.description or c.name.replace("_", " ")

    def sanitized_fields(self) -> list[T.StructField]:
        """Typed business columns as they appear in the sanitized tier (PII as tokens)."""
        fields = []
        for c in self.columns:
            if c.pii:
                fields.append(_meta(f"{c.name}_token", T.StringType(), f"HMAC-SHA256 token of {c.name}", tags=("pii",)))
            else:
                fields.append(
                    _meta(c.name, c.spark_type, self._description(c), not c.required, self.column_tags(c.name))
                )
            if c.name in self.keep_year_of:
                fields.append(_meta(f"{c.name}_year", T.IntegerType(), f"year of {c.name}"))
        for fk in self.foreign_keys:
            if fk.policy is FkPolicy.FLAG:
                fields.append(_meta(f"{fk.column}_is_orphan", T.BooleanType(), f"{fk.column} not found in {fk.ref}"))
        return fields

    def raw_schema(self) -> T.StructType:
        """The raw tier: every delivered field as a string (PII sealed as tokens), then RAW_META.

        In a source with identifiers, unknown columns and unparsed lines are sealed too, so
        ``_extra`` and ``_raw_line`` carry the pii tag there.
        """
        fields = []
        for name in self.raw_columns:
            c = next((col for col in self.columns if col.name == name), None)
            comment = f"{self._description(c)}, as delivered" if c else "the delivered JSON record"
            tags = ("pii",) if c and c.pii else self.column_tags(name)
            fields.append(_meta(name, T.StringType(), comment + (" (token)" if c and c.pii else ""), tags=tags))
        meta = list(RAW_META)
        if self.pii_columns:
            meta = [
                _meta(f.name, f.dataType, f.metadata["comment"] + " (identifiers sealed)", f.nullable, ("pii",))
                if f.name in ("_extra", "_raw_line")
                else f
                for f in meta
            ]
        return T.StructType(fields + meta)

    def sanitized_schema(self) -> T.StructType:
        meta = [
            _meta("_record_hash", T.StringType(), "SHA-256 of the business columns", False),
            _meta("_extract_date", T.DateType(), "the extract (delivery) date", False),
            _meta("_ingest_id", T.StringType(), "the ingest run", False),
            _meta("_ingest_time", T.TimestampType(), "when it was ingested (UTC)", False),
            _meta("_source_file", T.StringType(), "path of the delivered file", False),
            _meta("_line_number", T.LongType(), "line (or array element) in the source file", False),
        ]
        return T.StructType(self.sanitized_fields() + meta)

    def quarantine_schema(self) -> T.StructType:
        """Raw rows that broke a rule, with every rule they broke."""
        fields = [f for f in self.raw_schema().fields if f.name != "_source_checksum"]
        reasons = _meta("_reasons", T.ArrayType(T.StringType(), True), "every rule the row failed", False)
        at = [f.name for f in fields].index("_parse_error") + 1
        return T.StructType(fields[:at] + [reasons] + fields[at:])
