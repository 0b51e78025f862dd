"""c360.lake: the one way to open the lake from a notebook.

Spark frames must equal the storage layer's read at every version; pandas frames (delta-rs,
no Spark) must equal them too; names that are not tables fail with the close names; and
nothing but a Spark frame starts Spark.
"""

from __future__ import annotations

import json
import subprocess
import sys
from collections import Counter
from datetime import UTC, date, datetime
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest

from c360 import lake
from c360.jupyter import PROJECT_ROOT
from c360.registry import UnknownTableError
from c360.sql import SqlError
from c360.storage import LakeCatalog, TableNotFoundError
from tests.conftest import PublishedLake

PROFILE = "enhanced.customer.customer360_profile"
ORDERS = "enhanced.sales.fct_order"


def _value(v: Any) -> Any:
    # Spark hands back naive local datetimes, Arrow aware UTC ones: compare instants.
    if isinstance(v, datetime):
        return ("ts", v.timestamp() if v.tzinfo else v.astimezone(UTC).timestamp())
    if isinstance(v, list | tuple):
        return tuple(_value(x) for x in v)
    if isinstance(v, float):
        return round(v, 12)
    return v


def _bag(rows: list[tuple[Any, ...]]) -> Counter[tuple[Any, ...]]:
    return Counter(tuple(_value(v) for v in r) for r in rows)


def _spark_rows(df: Any) -> tuple[list[str], Counter[tuple[Any, ...]]]:
    return df.columns, _bag([tuple(r) for r in df.collect()])


def _pandas_rows(frame: Any) -> tuple[list[str], Counter[tuple[Any, ...]]]:
    records = frame.astype(object).where(frame.notna(), None).to_dict("split")
    rows = [tuple(_from_pandas(v) for v in r) for r in records["data"]]
    return list(records["columns"]), _bag(rows)


def _from_pandas(v: Any) -> Any:
    if hasattr(v, "to_pydatetime"):
        return v.to_pydatetime()
    if hasattr(v, "tolist") and not isinstance(v, str | bytes):
        return v.tolist()
    return v


# ---------------------------------------------------------------------- no lake needed
def test_unknown_name_lists_the_close_names(tmp_path: Path) -> None:
    db = lake.Lake(tmp_path)
    with pytest.raises(UnknownTableError, match=r"did you mean sanitized\.sales\.transactions"):
        db.frame("sanitized.sales.transaction")
    with pytest.raises(
        UnknownTableError, match=r"unknown table 'transactions'; did you mean .*raw\.sales\.transactions"
    ):
        db.history("transactions")
    with pytest.raises(UnknownTableError, match=r"unknown table 'no such thing' \(\d+ tables"):
        db.table("no such thing")


def test_a_registered_table_not_built_yet_says_so(tmp_path: Path) -> None:
    with pytest.raises(TableNotFoundError, match="does not exist"):
        lake.Lake(tmp_path).frame("sanitized.sales.transactions")


def test_root_comes_from_the_settings_unless_given(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("C360_LAKE_ROOT", str(tmp_path / "from-env"))
    assert lake.Lake().root == (tmp_path / "from-env").resolve()
    assert lake.Lake(tmp_path / "given").root == (tmp_path / "given").resolve()
    try:
        assert lake.connect().root == (tmp_path / "from-env").resolve()
        assert lake.tables().empty
    finally:
        lake._default = None


def test_each_module_level_function_takes_what_its_lake_method_takes() -> None:
    """docs/notebooks.md calls them as ``lake.frame(..., limit=10)``: the module's ``frame`` once
    lacked the ``limit`` its method had, and the documented call failed."""
    import inspect

    wrapped = [
        n for n, f in vars(lake).items() if inspect.isfunction(f) and not n.startswith("_") and hasattr(lake.Lake, n)
    ]
    assert {"frame", "table", "sql", "history"} <= set(wrapped)
    for name in wrapped:
        method = inspect.signature(getattr(lake.Lake, name))
        assert list(inspect.signature(getattr(lake, name)).parameters.values()) == [
            p for p in method.parameters.values() if p.name != "self"
        ], name


def test_bad_arguments_are_refused_clearly(tmp_path: Path) -> None:
    db = lake.Lake(tmp_path)
    with pytest.raises(ValueError, match="engine must be 'spark' or 'pandas'"):
        db.table("sanitized.sales.transactions", engine="polars")  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="as_of must be a datetime or an ISO 8601 text"):
        db.frame("sanitized.sales.transactions", as_of="yesterday")


# ---------------------------------------------------------------------- on the published lake
@pytest.mark.slow
def test_unknown_published_name_suggests_the_table(published_lake: PublishedLake) -> None:
    db = lake.Lake(published_lake.root)
    with pytest.raises(UnknownTableError, match=r"did you mean enhanced\.customer\.customer360_profile"):
        db.frame("enhanced.customer.customer360_profil")
    with pytest.raises(UnknownTableError, match=r"did you mean enhanced\.customer\.customer360_profile"):
        db.frame("customer360_profile")


@pytest.mark.slow
@pytest.mark.parametrize("name", [PROFILE, ORDERS])
def test_table_at_every_version_equals_the_storage_read(spark: Any, published_lake: PublishedLake, name: str) -> None:
    from c360.storage import DeltaStorage

    storage = DeltaStorage(spark, published_lake.root)
    db = lake.Lake(published_lake.root, spark=spark)
    versions = sorted(h.version for h in LakeCatalog(published_lake.root).history(name))
    assert len(versions) >= 2
    non_empty = 0
    for v in versions:
        expected_cols, expected = _spark_rows(storage.read(name, version=v))
        assert _spark_rows(db.table(name, version=v)) == (expected_cols, expected), f"spark, version {v}"
        frame = db.table(name, version=v, engine="pandas")
        assert _pandas_rows(frame) == (expected_cols, expected), f"pandas, version {v}"
        non_empty += bool(expected)
    assert non_empty >= 1, "compared real rows, not only empty versions"


@pytest.mark.slow
def test_as_of_reads_the_version_current_then(published_lake: PublishedLake) -> None:
    db = lake.Lake(published_lake.root)
    history = db.history(PROFILE)
    latest = int(history["version"].max())
    now = datetime.now(UTC)
    assert _pandas_rows(db.frame(PROFILE, as_of=now)) == _pandas_rows(db.frame(PROFILE, version=latest))
    assert _pandas_rows(db.frame(PROFILE, as_of=now.isoformat())) == _pandas_rows(db.frame(PROFILE))
    with pytest.raises(TableNotFoundError, match="did not exist at"):
        db.frame(PROFILE, as_of=datetime(2000, 1, 1, tzinfo=UTC))
    with pytest.raises(TableNotFoundError, match=f"has no version {latest + 1}"):
        db.frame(PROFILE, version=latest + 1)
    # Both at once: the version was read and as_of ignored (the API refused the pair already).
    with pytest.raises(ValueError, match="give a version or as_of, not both"):
        db.frame(PROFILE, version=latest, as_of=datetime(2000, 1, 1, tzinfo=UTC))


@pytest.mark.slow
def test_partitions_and_columns_read_only_what_is_asked(published_lake: PublishedLake) -> None:
    db = lake.Lake(published_lake.root)
    whole = db.frame(PROFILE)
    day = published_lake.profile_dates[-1]
    part = db.frame(PROFILE, partitions={"as_of_date": day}, columns=["customer_id", "rfm_segment", "as_of_date"])
    assert list(part.columns) == ["customer_id", "rfm_segment", "as_of_date"]
    expected = whole[whole["as_of_date"] == day][["customer_id", "rfm_segment", "as_of_date"]]
    assert sorted(map(tuple, part.values.tolist())) == sorted(map(tuple, expected.values.tolist()))
    both = db.frame(PROFILE, partitions={"as_of_date": published_lake.profile_dates[-2:]})
    assert len(both) == int(whole["as_of_date"].isin(published_lake.profile_dates[-2:]).sum()) > len(part)
    assert db.frame(PROFILE, partitions={"as_of_date": date(1999, 1, 1)}).empty
    with pytest.raises(KeyError, match="no column"):
        db.frame(PROFILE, columns=["customer_id", "email"])
    with pytest.raises(ValueError, match="not partition columns: rfm_segment"):
        db.frame(PROFILE, partitions={"rfm_segment": "Champions"})
    # a value that is not of the column's type is named (it was DataFusion's optimizer error)
    with pytest.raises(ValueError, match="'2024-13-45' is not a value of partition column as_of_date"):
        db.frame(PROFILE, partitions={"as_of_date": [day, "2024-13-45"]})
    # the first rows only, within the partitions asked for; a limit that is no number of rows is refused
    first = db.frame(PROFILE, partitions={"as_of_date": day}, limit=3)
    assert len(first) == 3 and set(first["as_of_date"]) == {day}
    assert set(first["customer_id"]) <= set(whole[whole["as_of_date"] == day]["customer_id"])
    for bad in (0, -1, 2.5, True):
        with pytest.raises(ValueError, match="limit must be a whole number of rows"):
            db.frame(PROFILE, limit=bad)


@pytest.mark.slow
def test_tables_history_and_columns(published_lake: PublishedLake) -> None:
    db = lake.Lake(published_lake.root)
    catalog = LakeCatalog(published_lake.root)
    tables = db.tables()
    assert set(tables["name"]) == set(catalog.list_tables())
    row = tables.set_index("name").loc[PROFILE]
    assert row["version"] == catalog.describe(PROFILE).version and row["tier"] == "enhanced"
    assert set(db.tables("enhanced")["tier"]) == {"enhanced"}
    history = db.history(PROFILE)
    assert list(history["version"]) == [h.version for h in catalog.history(PROFILE)]
    columns = db.columns(PROFILE).set_index("column")
    assert list(columns.index) == catalog.describe(PROFILE).schema.names
    assert columns.loc["rfm_segment", "description"]


@pytest.mark.slow
def test_sql_by_table_name(published_lake: PublishedLake) -> None:
    db = lake.Lake(published_lake.root)
    day = published_lake.profile_dates[-1]
    counts = db.sql(
        f"SELECT rfm_segment, count(*) AS customers FROM {PROFILE} WHERE as_of_date = DATE '{day}' GROUP BY 1"
    )
    profile = db.frame(PROFILE, partitions={"as_of_date": day})
    expected = profile["rfm_segment"].value_counts().to_dict()
    assert dict(zip(counts["rfm_segment"], counts["customers"], strict=True)) == expected
    totals = db.sql(f"SELECT sum(total_amount) AS total FROM {ORDERS} WHERE order_status = 'completed'")
    orders = db.frame(ORDERS, columns=["order_status", "total_amount"])
    expected_total = sum((a for s, a in zip(orders["order_status"], orders["total_amount"], strict=True)
                          if s == "completed" and a is not None), Decimal(0))  # fmt: skip
    assert Decimal(str(totals["total"][0])) == expected_total
    with pytest.raises(SqlError, match="limit must be between 1 and"):
        db.sql(f"SELECT * FROM {ORDERS}", limit=0)  # was read as "no limit" and returned every row


@pytest.mark.slow
def test_pandas_sql_and_metadata_never_start_spark(published_lake: PublishedLake) -> None:
    script = f"""
import json
from c360 import lake
lake.connect({str(published_lake.root)!r})
n = len(lake.frame({PROFILE!r})) + len(lake.sql("SELECT 1 AS x FROM {PROFILE} LIMIT 1"))
lake.tables(); lake.history({PROFILE!r}); lake.columns({PROFILE!r})
from pyspark import SparkContext
print(json.dumps({{"rows": n, "jvm": SparkContext._gateway is not None}}))
"""
    out = subprocess.run(
        [sys.executable, "-c", script],
        capture_output=True,
        text=True,
        timeout=180,
        env={"PYTHONPATH": str(PROJECT_ROOT), "PATH": "/usr/bin:/bin"},
        check=True,
    )
    result = json.loads(out.stdout.strip().splitlines()[-1])
    assert result["rows"] > 1 and result["jvm"] is False
