"""Response and request models of the API: what consumers get, separate from storage.

Rows of a table are open dicts (their columns depend on the caller's role), but every
response names the versions it read, and the column lists say what was masked.
"""

from __future__ import annotations

from datetime import date
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

Versions = dict[str, int]


class Answer(BaseModel):
    versions: Versions = Field(description="Every table read, at the version read (one snapshot per table).")


class CustomerOut(Answer):
    customer_id: str
    as_of_date: date
    profile: dict[str, Any] = Field(description="The customer360_profile row of the latest as-of date.")
    attributes: dict[str, Any] | None = Field(description="The current dim_customer row the caller may see.")
    masked: list[str] = Field(description="Columns removed for the caller's role.")


class CustomerPage(Answer):
    as_of_date: date | None
    items: list[dict[str, Any]]
    next_cursor: str | None = Field(description="Pass as ?cursor= for the next page; null on the last page.")
    masked: list[str]


class CustomerHistory(Answer):
    customer_id: str
    items: list[dict[str, Any]] = Field(description="The profile on each as-of date, oldest first.")
    masked: list[str]


class Rows(Answer):
    rows: list[dict[str, Any]]
    truncated: bool = False


class SqlRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")
    sql: str = Field(min_length=1, max_length=20_000, description="One SELECT over tables named tier.domain.table.")
    limit: int | None = Field(default=None, ge=1, le=100_000, description="Row limit (default: the server's).")


class ColumnOut(BaseModel):
    name: str
    type: str


class SqlResponse(Answer):
    columns: list[ColumnOut]
    rows: list[dict[str, Any]]
    row_count: int
    truncated: bool


class ColumnMeta(BaseModel):
    name: str
    type: str
    description: str
    tags: list[str]


class TableOut(BaseModel):
    name: str
    version: int
    rows: int | None
    description: str | None
    columns: list[ColumnMeta] = Field(description="The columns the caller may see.")
    masked: list[str] = Field(description="Columns hidden from the caller's role.")


class TablesOut(BaseModel):
    tables: list[TableOut]


class AqiRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")
    records: list[dict[str, Any]] = Field(min_length=1, description="Readings, as for `c360 aqi compute`.")
    standard: str = Field(default="us-epa-2024", max_length=64, pattern=r"^[a-z0-9][a-z0-9._-]*$")


class AqiCounts(BaseModel):
    ok: int
    invalid: int
    failed: int


class AqiResponse(BaseModel):
    standard: str
    counts: AqiCounts
    results: list[dict[str, Any]]


class Health(BaseModel):
    ready: bool
    process: int = Field(description="The server process that answered: with --workers N, each loads the lake itself.")
    generation: int | None
    versions: Versions | None = Field(
        description="The tables this process serves, at their versions, as far as the caller's role reads them "
        "(a steward's include the vault's); null without a key."
    )
    last_reload_seconds: float | None
    reload_failed: bool = Field(
        description="The last load or reload of the lake failed (the generation before it is still served)."
    )
    last_error: str | None = Field(
        description="Why the last reload failed; only for a caller with a key (its text can name paths)."
    )
    sql_processes: int = Field(
        description="The SQL engine's query processes running: C360_SERVE_SQL_PROCESSES once the lake is loaded "
        "(one killed at a query's timeout is replaced at the next query)."
    )


class Problem(BaseModel):
    detail: str
