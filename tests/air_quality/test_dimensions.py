"""dim_station (as of a snapshot date) and dim_pollutant (from the standard); the facts' dates are
keys of the conformed enhanced.shared.dim_date (tests/enhanced/test_dim_static.py)."""

from __future__ import annotations

from datetime import UTC, date, datetime

from chispa import assert_df_equality
from pyspark.sql import SparkSession

from c360.air_quality import dim_pollutant, dim_station
from c360.contracts.air_quality import STATIONS

INGESTED = datetime(2024, 1, 1, tzinfo=UTC)


def test_dim_station_shows_the_newest_version_delivered_by_the_snapshot_date(spark: SparkSession) -> None:
    def version(station: str, name: str, extract: date, line: int) -> tuple:
        return (station, name, 47.5, -122.3, "Seattle", "US", "America/Los_Angeles", "h", extract, "i", INGESTED,
                "s.csv", line)  # fmt: skip

    stations = spark.createDataFrame(
        [
            version("AQ001", "Old name", date(2024, 1, 1), 1),
            version("AQ002", "Second", date(2024, 1, 3), 1),
            version("AQ001", "New name", date(2024, 1, 5), 1),
        ],
        STATIONS.sanitized_schema(),
    )
    out = dim_station.build(stations, date(2024, 1, 4))
    row = ("Seattle", "US", "America/Los_Angeles")
    expected = spark.createDataFrame(
        [
            ("AQ001", "Old name", 47.5, -122.3, *row, date(2024, 1, 1), date(2024, 1, 1), date(2024, 1, 4)),
            ("AQ002", "Second", 47.5, -122.3, *row, date(2024, 1, 3), date(2024, 1, 3), date(2024, 1, 4)),
        ],
        dim_station.SCHEMA,
    )
    assert_df_equality(out, expected, ignore_row_order=True, ignore_nullable=True, ignore_metadata=True)
    newer = dim_station.build(stations, date(2024, 1, 5)).filter("station_id = 'AQ001'")
    expected_newer = spark.createDataFrame(
        [("AQ001", "New name", 47.5, -122.3, *row, date(2024, 1, 1), date(2024, 1, 5), date(2024, 1, 5))],
        dim_station.SCHEMA,
    )
    assert_df_equality(newer, expected_newer, ignore_nullable=True, ignore_metadata=True)


def test_dim_pollutant_is_read_from_the_standard(spark: SparkSession) -> None:
    snap = date(2024, 1, 2)
    out = dim_pollutant.build(spark, snap)
    expected = spark.createDataFrame(
        [
            ("o3", "Ozone", "ppm", ["o3_8h", "o3_1h"], ["8h", "1h"], [3, 3], "us-epa-2024", snap),
            ("pm25", "PM2.5 (fine particulate matter)", "ug/m3", ["pm25_24h"], ["24h"], [1], "us-epa-2024", snap),
            ("pm10", "PM10 (coarse particulate matter)", "ug/m3", ["pm10_24h"], ["24h"], [0], "us-epa-2024", snap),
            ("co", "Carbon monoxide", "ppm", ["co_8h"], ["8h"], [1], "us-epa-2024", snap),
            ("so2", "Sulphur dioxide", "ppb", ["so2_1h", "so2_24h"], ["1h", "24h"], [0, 0], "us-epa-2024", snap),
            ("no2", "Nitrogen dioxide", "ppb", ["no2_1h"], ["1h"], [0], "us-epa-2024", snap),
        ],
        dim_pollutant.SCHEMA,
    )
    assert_df_equality(out, expected, ignore_row_order=True, ignore_nullable=True, ignore_metadata=True)
