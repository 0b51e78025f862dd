"""Sanitize transforms: raw rows -> one classified frame (pure, DataFrame -> DataFrame).

Every raw row gets exactly one fate, so the tier reconciles to the row:

- ``duplicate_exact``  an identical delivery of a row already in the same extract;
- ``quarantined``      at least one rule failed (``_reasons`` names every one);
- ``superseded``       the same key re-sent later in the same extract (latest wins);
- ``unchanged_resend`` identical, field for field, to the key's previous version;
- ``sanitized``        a new key, or a new version of a key (history for dimensions).

Rules are applied to clear values (unsealed from the vault), and direct identifiers
leave as HMAC tokens of their standardised value.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import pyarrow as pa
import pyarrow.compute as pc
from pyspark.sql import Column, DataFrame, Window
from pyspark.sql import functions as F

from c360.contracts import Contract, FkPolicy
from c360.pii import token_expr
from c360.sanitized.standardise import clean, standardise, typed

FATES = ("sanitized", "quarantined", "duplicate_exact", "superseded", "unchanged_resend")
META = ["_extract_date", "_ingest_id", "_ingest_time", "_source_file", "_line_number"]


def _std(name: str) -> str:
    return f"__std_{name}"


def _typed(name: str) -> str:
    return f"__t_{name}"


def unseal(raw: DataFrame, contract: Contract, vault: DataFrame, *, by_column: bool = False) -> DataFrame:
    """Replace each PII token with its clear value from the vault (``__clear_<col>``).

    A token is the keyed hash of its value, so it names one value whatever the column. By
    default every PII column joins the same lookup (the source's distinct token and value
    pairs): read, deduplicated and broadcast once, the joins after the first reuse it. Six
    lookups, one per column, cost a customer extract of a day five more deduplications and
    broadcasts. ``by_column``: one lookup per column all the same, for a large vault (a
    history's), whose six smaller broadcasts are built side by side and cost less than one
    large one (docs/benchmarks.md)."""
    source = vault.filter(F.col("source") == contract.name)
    shared = source.select("token", "value").distinct()
    out = raw
    for c in contract.pii_columns:
        values = source.filter(F.col("column") == c).select("token", "value").distinct() if by_column else shared
        values = values.select(F.col("token").alias(f"__tok_{c}"), F.col("value").alias(f"__clear_{c}"))
        out = out.join(F.broadcast(values), out[c] == values[f"__tok_{c}"], how="left").drop(f"__tok_{c}")
    return out


def vault_of_batch(raw: DataFrame, contract: Contract, vault: DataFrame) -> DataFrame:
    """The vault rows of the tokens ``raw`` holds: all :func:`unseal` needs. Broadcasting a
    day's few tokens instead of every token the source ever sent (once per PII column) is
    what keeps a day's customers cheap when the vault has grown large."""
    return vault.filter(F.col("source") == contract.name).join(batch_tokens(raw, contract), "token", how="left_semi")


def batch_tokens(raw: DataFrame, contract: Contract) -> DataFrame:
    """The distinct tokens (``token``) in ``raw``'s PII columns, as ingest sealed them."""
    return raw.select(F.explode(F.array(*[F.col(c) for c in contract.pii_columns])).alias("token")).distinct()


def batch_keys(raw: DataFrame, contract: Contract) -> DataFrame:
    """The distinct keys of ``raw``'s rows, standardised and typed as sanitized holds them
    (the keys' history :func:`classify` needs). From the raw columns alone: no key is a PII
    column, so no vault lookup."""
    return batch_values(raw, contract, contract.key)


def batch_values(raw: DataFrame, contract: Contract, names: Sequence[str]) -> DataFrame:
    """The distinct combinations of columns ``names`` in ``raw``'s rows, standardised and
    typed as sanitized holds them: keys and foreign keys, which are never PII."""
    if sealed := set(names) & set(contract.pii_columns):
        raise ValueError(f"{contract.name}: key column(s) {sorted(sealed)} are PII; keys must be readable")
    df = contract.extract(raw) if contract.extract else raw
    columns = {c.name: c for c in contract.columns}
    return df.select(*[typed(columns[k], standardise(columns[k], clean(F.col(k)))).alias(k) for k in names]).distinct()


def latest_of_each_key(previous: DataFrame, contract: Contract) -> DataFrame:
    """Of ``previous`` (:func:`classify`'s history), the latest row of each key: all that
    classify reads of it, since every history row precedes the batch. A key re-sent every day
    (an inventory snapshot) has a year of rows, which then leave as one per key, aggregated
    where they are read, instead of all being shuffled and sorted with the batch."""
    return previous.groupBy(*contract.key).agg(
        F.max_by("_record_hash", "_extract_date").alias("_record_hash"), F.max("_extract_date").alias("_extract_date")
    )


def _clear(contract: Contract, name: str) -> Column:
    return F.col(f"__clear_{name}") if name in contract.pii_columns else F.col(name)


def mark_exact_duplicates(raw: DataFrame, contract: Contract, within: Sequence[str] = ()) -> DataFrame:
    """``__dup`` = an earlier identical row exists in the same extract.

    ``within``: columns that identical rows share anyway (a function of the row, such as its
    typed key), put first in the window's partitioning so that a frame already partitioned
    by them is not shuffled again; the groups, and so ``__dup``, are the same."""
    identity = [*within, *contract.raw_columns, "_raw_line", "_parse_error", "_extract_date"]
    w = Window.partitionBy(*identity, F.to_json("_extra")).orderBy("_ingest_time", "_source_file", "_line_number")
    return raw.withColumn("__dup", F.row_number().over(w) > 1)


def standardise_and_type(df: DataFrame, contract: Contract) -> DataFrame:
    cols = []
    for c in contract.columns:
        std = standardise(c, clean(_clear(contract, c.name)))
        cols += [std.alias(_std(c.name)), typed(c, std).alias(_typed(c.name))]
    return df.select("*", *cols)


def reasons(df: DataFrame, contract: Contract, parents: Mapping[str, DataFrame]) -> DataFrame:
    """``_reasons``: every rule the row breaks (empty array = valid).

    The checks are one SQL expression handed to Spark in one call. Built as Column objects,
    each node of each check was a Py4J round trip of its own: a sanitize of mock_data's first
    date made 33,100-34,000 calls that way and makes 27,000-27,100 now (docs/benchmarks.md,
    "Where a small day's driver time goes")."""
    checks: list[tuple[str, str]] = [("_parse_error IS NOT NULL", "malformed_line")]
    for c in contract.columns:
        s, t = _ident(_std(c.name)), _ident(_typed(c.name))
        if c.required:
            checks.append((f"{s} IS NULL", f"missing_mandatory:{c.name}"))
        checks.append((f"{s} IS NOT NULL AND {t} IS NULL", f"invalid_type:{c.name}"))
        if c.pattern:
            checks.append((f"{t} IS NOT NULL AND NOT ({t} RLIKE {_sql_string(c.pattern)})", f"invalid_format:{c.name}"))
        if c.enum:
            values = ", ".join(_sql_string(v) for v in c.enum)
            checks.append((f"{t} IS NOT NULL AND NOT ({t} IN ({values}))", f"invalid_enum:{c.name}"))
        bounds = []
        if c.ge is not None:
            bounds.append(f"{t} < {_sql_number(c.ge)}")
        if c.gt is not None:
            bounds.append(f"{t} <= {_sql_number(c.gt)}")
        if c.le is not None:
            bounds.append(f"{t} > {_sql_number(c.le)}")
        for b in bounds:
            checks.append((f"{t} IS NOT NULL AND ({b})", f"out_of_range:{c.name}"))
    # Rules see the typed values under their own names (plus _extract_date).
    typed_view = {c.name: _ident(_typed(c.name)) for c in contract.columns}
    for rule in contract.rules:
        checks.append((f"NOT coalesce(({_typed_sql(rule.expr, typed_view)}), true)", rule.name))
    out = df
    for fk in contract.foreign_keys:
        if fk.policy is FkPolicy.QUARANTINE:
            out = _join_parent(out, fk.column, parents[fk.ref], fk.ref_column)
            checks.append((_ident(f"__orphan_{fk.column}"), f"orphan_fk:{fk.column}"))
    cases = ", ".join(f"CASE WHEN {condition} THEN {_sql_string(reason)} END" for condition, reason in checks)
    return out.withColumn("_reasons", F.expr(f"filter(array({cases}), x -> x IS NOT NULL)"))


def _ident(name: str) -> str:
    """A column name quoted for Spark SQL."""
    return "`" + name.replace("`", "``") + "`"


def _sql_string(value: str) -> str:
    """``value`` as a Spark SQL string literal. The parser unescapes backslashes, so they are
    doubled: a regular expression reaches Spark as it does through ``Column.rlike``."""
    return "'" + value.replace("\\", "\\\\").replace("'", "\\'") + "'"


def _sql_number(value: float) -> str:
    """A bound as a Spark SQL literal of the type ``F.lit`` gives it (an int, or a double)."""
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise TypeError(f"a contract's bound must be a number, not {value!r}")
    return str(value) if isinstance(value, int) else f"CAST({_sql_string(repr(value))} AS DOUBLE)"


def _typed_sql(text: str, typed_view: Mapping[str, str]) -> str:
    """A rule written over contract column names, over the typed columns (``typed_view``: each
    name's quoted typed column)."""
    sql = text
    for name in sorted(typed_view, key=len, reverse=True):
        sql = _replace_identifier(sql, name, typed_view[name])
    return sql


def _replace_identifier(sql: str, name: str, replacement: str) -> str:
    import re

    return re.sub(rf"(?<![`\w]){re.escape(name)}(?![`\w])", replacement, sql)


def _join_parent(df: DataFrame, column: str, parent: DataFrame, ref_column: str) -> DataFrame:
    """``__orphan_<col>``: no parent row delivered on or before this row's extract date."""
    first_seen = parent.groupBy(F.col(ref_column).alias("__pk")).agg(F.min("_extract_date").alias("__pk_first"))
    joined = df.join(first_seen, df[_typed(column)] == first_seen["__pk"], how="left")
    orphan = F.col(_typed(column)).isNotNull() & (
        F.col("__pk").isNull() | (F.col("__pk_first") > F.col("_extract_date"))
    )
    return joined.withColumn(f"__orphan_{column}", orphan).drop("__pk", "__pk_first")


def _biz(name: str) -> str:
    return f"__b_{name}"


def business_columns(contract: Contract, key: bytes) -> list[Column]:
    """The sanitized tier's business columns (``__b_`` prefixed), PII as tokens of the standardised value."""
    out = []
    for c in contract.columns:
        t = F.col(_typed(c.name))
        if c.pii:
            out.append(token_expr(key, t.cast("string")).alias(_biz(f"{c.name}_token")))
        else:
            out.append(t.alias(_biz(c.name)))
        if c.name in contract.keep_year_of:
            out.append(F.year(t).alias(_biz(f"{c.name}_year")))
    return out


def classify(
    raw: DataFrame,
    contract: Contract,
    *,
    vault: DataFrame,
    parents: Mapping[str, DataFrame],
    previous: DataFrame,
    key: bytes,
    vault_by_column: bool = False,
) -> DataFrame:
    """Every raw row with its ``_fate``, reasons, sanitized columns and record hash.

    ``previous`` holds the sanitized rows of extracts before this batch (any columns incl.
    the key, ``_extract_date`` and ``_record_hash``); ``parents`` the sanitized parent
    tables named by the contract's foreign keys; ``vault_by_column``: :func:`unseal`'s.
    """
    df = contract.extract(raw) if contract.extract else raw  # JSON record -> contract columns as strings
    df = unseal(df, contract, vault, by_column=vault_by_column) if contract.pii_columns else df
    df = standardise_and_type(df, contract)
    df = reasons(df, contract, parents)
    for fk in contract.foreign_keys:
        if fk.policy is FkPolicy.FLAG:
            df = _join_parent(df, fk.column, parents[fk.ref], fk.ref_column)
    biz = business_columns(contract, key)
    flags = [
        F.col(f"__orphan_{fk.column}").alias(_biz(f"{fk.column}_is_orphan"))
        for fk in contract.foreign_keys
        if fk.policy is FkPolicy.FLAG
    ]
    df = df.select("*", *biz, *flags)
    # The hash covers what the source said, not what we inferred (orphan flags).
    hashed = [
        F.col(_biz(f.name)).alias(f.name) for f in contract.sanitized_fields() if not f.name.endswith("_is_orphan")
    ]
    df = df.withColumn("_record_hash", F.sha2(F.to_json(F.struct(*hashed)), 256))
    # The standardised strings, the unsealed clear values, the orphan flags and the typed
    # values that a business column repeats have served the rules: dropped before the
    # windows shuffle and sort every row (and the run's checkpoint stores it). Kept: the typed
    # keys (the windows), the PII and the subject (the vault's additions). A year's tracking
    # events classified in about a quarter less time than with every column (docs/benchmarks.md).
    keep_typed = {*contract.key, *contract.pii_columns, *([contract.subject] if contract.subject else [])}
    df = df.drop(
        *[_std(c.name) for c in contract.columns],
        *[_typed(c.name) for c in contract.columns if c.name not in keep_typed],
        *[f"__clear_{c}" for c in contract.pii_columns],
        *[f"__orphan_{fk.column}" for fk in contract.foreign_keys],
    )

    # The key's previous version is the latest kept row of an earlier extract, in this batch or
    # before it: the history rows ride along (no self-join, so the classify plan is computed
    # once) and leave again before the fate is decided. Their extract dates all precede the
    # batch's, so they never share a window group with a batch row.
    typed_keys = [_typed(k) for k in contract.key]
    history = previous.select(
        *[F.col(k).alias(_typed(k)) for k in contract.key],
        "_extract_date",
        "_record_hash",
        F.lit(True).alias("__history"),
    )
    # Every window below groups rows of one key: the rows are shuffled once, by the key, and
    # each window finds them partitioned. A window partitioned by other columns first (the
    # raw row, the extract date) would shuffle all of them again, once per window.
    df = (
        df.withColumn("__history", F.lit(False)).unionByName(history, allowMissingColumns=True).repartition(*typed_keys)
    )
    df = mark_exact_duplicates(df, contract, within=[*typed_keys, "__history"])
    # Past that window a row's raw values serve only the quarantine table: every other row
    # carries them as nulls through the two sorts and windows below (and the run's checkpoint).
    quarantined = ~F.col("__dup") & (F.size("_reasons") > 0)
    raw_only = {*contract.raw_columns, "_extra", "_raw_line", "_parse_error"}
    df = df.select(*[F.when(quarantined, F.col(c)).alias(c) if c in raw_only else F.col(c) for c in df.columns])

    # Latest first within an extract: the kept row of a (key, extract date) is its latest valid
    # one. (The earlier-version window below sorts again. With the day as one shared column it
    # would not, but the year's sanitize measured slower that way: docs/benchmarks.md.)
    valid = ~F.col("__dup") & (F.size("_reasons") == 0)
    day = F.unix_date("_extract_date")
    latest_first = Window.partitionBy(*typed_keys, day, "__history").orderBy(
        F.when(valid, 0).otherwise(1),
        F.col("_ingest_time").desc(),
        F.col("_source_file").desc(),
        F.col("_line_number").desc(),
    )
    df = df.withColumn("__rank", F.row_number().over(latest_first)).withColumn(
        "__kept", F.col("__history") | (valid & (F.col("__rank") == 1))
    )
    earlier = Window.partitionBy(*typed_keys).orderBy(day).rangeBetween(Window.unboundedPreceding, -1)
    df = df.withColumn(
        "__prev_hash", F.last(F.when(F.col("__kept"), F.col("_record_hash")), ignorenulls=True).over(earlier)
    ).filter(~F.col("__history"))

    fate = (
        F.when(F.col("__dup"), "duplicate_exact")
        .when(F.size("_reasons") > 0, "quarantined")
        .when(F.col("__rank") > 1, "superseded")
        .when(F.col("__prev_hash") == F.col("_record_hash"), "unchanged_resend")
        .otherwise("sanitized")
    )
    return df.withColumn("_fate", fate)


def _fate_columns(contract: Contract, fate: str) -> list[tuple[str, str]]:
    """(classified column, written column) of the rows of ``fate`` (sanitized or quarantined)."""
    if fate == "sanitized":
        kept = [(_biz(f.name), f.name) for f in contract.sanitized_fields()] + [("_record_hash", "_record_hash")]
    else:
        kept = [(c, c) for c in (*contract.raw_columns, "_extra", "_raw_line", "_parse_error", "_reasons")]
    return kept + [(c, c) for c in META]


def fate_rows(classified: DataFrame, contract: Contract, fate: str) -> DataFrame:
    """The rows classified ``fate`` as the sanitized or quarantine table holds them."""
    columns = [F.col(c).alias(n) for c, n in _fate_columns(contract, fate)]
    return classified.filter(F.col("_fate") == fate).select(*columns)


def fate_arrow(classified: pa.Table, contract: Contract, fate: str) -> pa.Table:
    """:func:`fate_rows` of a classification collected as Arrow."""
    kept = classified.filter(pc.equal(classified.column("_fate"), fate))
    columns = _fate_columns(contract, fate)
    schema = pa.schema([kept.schema.field(c).with_name(n) for c, n in columns])  # types, nullability, comments
    return pa.Table.from_arrays([kept.column(c) for c, _ in columns], schema=schema)


def fate_counts(classified: pa.Table) -> list[dict[str, object]]:
    """Rows per extract date and fate of a classification collected as Arrow, as the rows of
    ``groupBy("_extract_date", "_fate").count()``."""
    counted = classified.group_by(["_extract_date", "_fate"]).aggregate([([], "count_all")])
    days, fates, counts = (counted.column(c).to_pylist() for c in ("_extract_date", "_fate", "count_all"))
    return [{"_extract_date": d, "_fate": f, "count": n} for d, f, n in zip(days, fates, counts, strict=True)]


def vault_additions(classified: DataFrame, contract: Contract, key: bytes) -> DataFrame:
    """(token, clear value) of each standardised identifier, for the vault."""
    parts = []
    subject = F.col(_typed(contract.subject)) if contract.subject else F.lit(None).cast("string")
    kept = classified.filter(F.col("_fate") == "sanitized")
    for c in contract.pii_columns:
        value = F.col(_typed(c)).cast("string")
        parts.append(
            kept.filter(value.isNotNull()).select(
                token_expr(key, value).alias("token"),
                value.alias("value"),
                subject.alias("customer_id"),
                F.lit(contract.name).alias("source"),
                F.lit(c).alias("column"),
            )
        )
    out = parts[0]
    for p in parts[1:]:
        out = out.unionByName(p)
    return out.distinct()
