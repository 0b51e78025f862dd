"""The decimal core against the TAD: band edges, truncation, rounding, edge rules, invalid input.

Expected values are written out from EPA-454/B-24-002 Table 6 (and HJ 633-2012 Table 1),
not read from c360's own tables, so a wrong breakpoint in the data fails here.
"""

from __future__ import annotations

import json
from decimal import Decimal
from pathlib import Path

import pytest

from c360.aqi import StandardError, load_standard
from c360.aqi.core import RESULT_FIELDS, evaluate
from c360.aqi.standards import parse_standard

EPA = load_standard("us-epa-2024")
HJ = load_standard("cn-hj633-2012")

# (field, concentration, sub-index) at both ends of every band of Table 6.
EPA_EDGES = {
    "o3_8h": "0.000:0 0.054:50 0.055:51 0.070:100 0.071:101 0.085:150 0.086:151 0.105:200 0.106:201 0.200:300",
    "o3_1h": "0.125:101 0.164:150 0.165:151 0.204:200 0.205:201 0.404:300 0.405:301 0.604:500",
    "pm25_24h": "0.0:0 9.0:50 9.1:51 35.4:100 35.5:101 55.4:150 55.5:151 125.4:200 125.5:201 "
    "225.4:300 225.5:301 325.4:500",
    "pm10_24h": "0:0 54:50 55:51 154:100 155:101 254:150 255:151 354:200 355:201 424:300 425:301 604:500",
    "co_8h": "0.0:0 4.4:50 4.5:51 9.4:100 9.5:101 12.4:150 12.5:151 15.4:200 15.5:201 30.4:300 30.5:301 50.4:500",
    "so2_1h": "0:0 35:50 36:51 75:100 76:101 185:150 186:151 304:200",
    "so2_24h": "305:201 604:300 605:301 1004:500",
    "no2_1h": "0:0 53:50 54:51 100:100 101:101 360:150 361:151 649:200 650:201 1249:300 1250:301 2049:500",
}
EDGE_CASES = [
    (field, conc, int(index))
    for field, pairs in EPA_EDGES.items()
    for conc, index in (p.split(":") for p in pairs.split())
]
CATEGORY = {
    50: "Good",
    51: "Moderate",
    100: "Moderate",
    101: "Unhealthy for Sensitive Groups",
    150: "Unhealthy for Sensitive Groups",
    151: "Unhealthy",
    200: "Unhealthy",
    201: "Very Unhealthy",
    300: "Very Unhealthy",
    301: "Hazardous",
    500: "Hazardous",
}


def result(record: dict, standard=EPA) -> dict:
    out = evaluate(record, standard)
    return {k: out[k] for k in RESULT_FIELDS}


def ok(aqi: int, category: str, color: str, dominant: list[str], subs: dict, notes=()) -> dict:
    return {
        "aqi": aqi,
        "category": category,
        "color": color,
        "dominant_pollutant": dominant,
        "sub_indices": subs,
        "notes": list(notes),
        "errors": [],
        "status": "ok",
    }


@pytest.mark.parametrize(("field", "conc", "index"), EDGE_CASES)
def test_every_band_edge_of_every_pollutant(field: str, conc: str, index: int) -> None:
    out = result({field: conc})
    assert out["sub_indices"] == {field: index}
    assert out["aqi"] == index
    if index in CATEGORY:
        assert out["category"] == CATEGORY[index]


@pytest.mark.parametrize(
    ("field", "conc", "index"),
    [
        ("pm25_24h", "9.09", 50),  # truncated to 9.0, not rounded to 9.1
        ("pm25_24h", "35.49999", 100),
        ("pm10_24h", "54.99", 50),
        ("o3_8h", "0.0549", 50),
        ("o3_1h", "0.2049", 200),
        ("co_8h", "4.49", 50),
        ("so2_1h", "35.9", 50),
        ("no2_1h", "100.999", 100),
        ("o3_1h", 0.205, 201),  # a binary float 0.205 is 0.20499...; read as its decimal text
        ("pm25_24h", 12.1, 57),  # 49/26.3 * 3.0 + 51 = 56.59
    ],
)
def test_truncation_before_lookup(field: str, conc: object, index: int) -> None:
    assert result({field: conc})["sub_indices"] == {field: index}


@pytest.mark.parametrize(
    ("field", "conc", "index"),
    [
        ("o3_8h", "0.072", 105),  # 104.5 exactly -> 105 (half up, not half even)
        ("o3_8h", "0.074", 112),  # 111.5
        ("co_8h", "1.1", 13),  # 12.5
        ("co_8h", "3.3", 38),  # 37.5
        ("so2_1h", "245", 176),  # 175.5
        ("no2_1h", "77", 76),  # 75.5
        ("no2_1h", "505", 176),  # 175.5
    ],
)
def test_exact_half_rounds_up(field: str, conc: str, index: int) -> None:
    assert result({field: conc})["sub_indices"] == {field: index}


def test_o3_1h_below_0125_gives_no_sub_index_and_says_why() -> None:
    assert result({"o3_1h": "0.124", "pm25_24h": "5.0"}) == ok(
        28,
        "Good",
        "#00E400",
        ["pm25"],
        {"pm25_24h": 28},
        [
            {
                "field": "o3_1h",
                "kind": "below_range",
                "message": "o3_1h below 0.125 ppm: the standard defines no 1h sub-index",
            }
        ],
    )


def test_o3_8h_above_0200_defers_to_the_1h_value() -> None:
    assert result({"o3_8h": "0.201", "o3_1h": "0.410"}) == ok(
        306,  # 199/0.199 * (0.410 - 0.405) + 301
        "Hazardous",
        "#7E0023",
        ["o3"],
        {"o3_1h": 306},
        [
            {
                "field": "o3_8h",
                "kind": "deferred",
                "message": "o3_8h above 0.200 ppm: no 8h sub-index, o3_1h decides",
            }
        ],
    )
    alone = result({"o3_8h": "0.201"})
    assert (alone["aqi"], alone["sub_indices"], alone["status"]) == (None, {}, "ok")
    assert alone["notes"][0]["kind"] == "above_range"
    assert alone["errors"] == []  # the standard defines nothing: not an input error


@pytest.mark.parametrize(
    ("o3_8h", "o3_1h", "aqi", "subs"),
    [
        ("0.090", "0.130", 161, {"o3_8h": 161, "o3_1h": 107}),  # 8-hour higher
        ("0.060", "0.170", 157, {"o3_8h": 67, "o3_1h": 157}),  # 1-hour higher
    ],
)
def test_both_ozone_sub_indices_the_higher_counts(o3_8h, o3_1h, aqi, subs) -> None:
    out = result({"o3_8h": o3_8h, "o3_1h": o3_1h})
    assert (out["aqi"], out["sub_indices"], out["dominant_pollutant"]) == (aqi, subs, ["o3"])


@pytest.mark.parametrize(
    ("record", "aqi", "subs", "note_kinds"),
    [
        ({"so2_1h": "304"}, 200, {"so2_1h": 200}, []),
        ({"so2_1h": "305"}, 200, {"so2_1h": 200}, ["fallback"]),  # no 24-hour value: exactly 200
        ({"so2_1h": "900", "so2_24h": "300"}, 200, {"so2_1h": 200}, ["fallback", "below_range"]),
        ({"so2_1h": "305", "so2_24h": "305"}, 201, {"so2_24h": 201}, ["deferred"]),
        ({"so2_1h": "900", "so2_24h": "800"}, 398, {"so2_24h": 398}, ["deferred"]),
        ({"so2_1h": "100", "so2_24h": "310"}, 203, {"so2_1h": 112, "so2_24h": 203}, []),
        ({"so2_24h": "200"}, None, {}, ["below_range"]),
    ],
)
def test_so2_1h_and_24h_rules(record, aqi, subs, note_kinds) -> None:
    out = result(record)
    assert (out["aqi"], out["sub_indices"]) == (aqi, subs)
    assert [n["kind"] for n in out["notes"]] == note_kinds


def test_above_the_top_breakpoint_extrapolates_the_top_band_beyond_the_index() -> None:
    # 199/99.9 * (500.0 - 225.5) + 301 = 847.8 -> 848
    assert result({"pm25_24h": "500", "pm10_24h": "100"}) == ok(
        848,
        "Hazardous",
        "#7E0023",
        ["pm25"],
        {"pm25_24h": 848, "pm10_24h": 73},
        [
            {
                "field": None,
                "kind": "beyond_index",
                "message": "AQI above 500 is beyond the index; reported in the top category",
            }
        ],
    )


def test_ties_name_every_dominant_pollutant() -> None:
    out = result({"pm25_24h": "9.0", "pm10_24h": "54", "co_8h": "1.0"})
    assert (out["aqi"], out["dominant_pollutant"]) == (50, ["pm25", "pm10"])


@pytest.mark.parametrize(
    ("value", "kind"),
    [
        ("-1", "negative"),
        (-0.5, "negative"),
        ("NaN", "not_finite"),
        (float("nan"), "not_finite"),
        (float("inf"), "not_finite"),
        ("-Infinity", "not_finite"),
        ("", "empty"),
        ("   ", "empty"),
        ("abc", "non_numeric"),
        ("12,5", "non_numeric"),
        ("1 000", "non_numeric"),
        (True, "non_numeric"),
        ([12], "non_numeric"),
        ("1e12", "out_of_range"),
    ],
)
def test_invalid_value_makes_only_that_pollutant_invalid(value: object, kind: str) -> None:
    out = result({"pm25_24h": value, "pm10_24h": "100"})
    assert out["errors"] == [{"field": "pm25_24h", "kind": kind, "message": f"pm25_24h: {_message(kind)}"}]
    assert (out["aqi"], out["sub_indices"], out["status"]) == (73, {"pm10_24h": 73}, "ok")


def _message(kind: str) -> str:
    from c360.aqi.validate import ERROR_MESSAGES

    return ERROR_MESSAGES[kind]


def test_record_without_valid_pollutant_has_no_aqi_and_its_reasons() -> None:
    assert result({"pm25_24h": "12,5", "o3_8h": "-0.1", "station": "A"}) == {
        "aqi": None,
        "category": None,
        "color": None,
        "dominant_pollutant": [],
        "sub_indices": {},
        "notes": [],
        "errors": [
            {"field": "o3_8h", "kind": "negative", "message": "o3_8h: negative concentration"},
            {"field": "pm25_24h", "kind": "non_numeric", "message": "pm25_24h: not a number"},
        ],
        "status": "invalid",
    }
    expected = (
        "record has no pollutant values: give one field per pollutant and averaging period (wide form) "
        "or pollutant, averaging and value (long form); see docs/aqi.md, Input shapes"
    )
    assert result({"station": "A"})["errors"] == [{"field": None, "kind": "no_pollutants", "message": expected}]


@pytest.mark.parametrize(
    ("record", "subs", "error_kind"),
    [
        (
            {"pollutant": "O3", "averaging": "8-hour", "value": "71", "unit": "ppb"},
            {"o3_8h": 101},
            None,
        ),
        (
            {"pollutant": "CO", "averaging": "8 hr", "value": "4400", "unit": "ppb"},
            {"co_8h": 50},
            None,
        ),
        (
            {"pollutant": "PM2.5", "averaging": "24h", "value": 9, "unit": "ug/m3"},
            {"pm25_24h": 50},
            None,
        ),
        (
            {"pollutant": "pm2.5", "averaging": "24h", "value": "0.0091", "unit": "mg/m³"},
            {"pm25_24h": 51},
            None,
        ),
        (
            {"pollutant": "no2", "averaging": "1h", "value": "0.054", "unit": "ppm"},
            {"no2_1h": 51},
            None,
        ),
        ({"pollutant": "no2", "averaging": "1h", "value": "54"}, {"no2_1h": 51}, None),
        (
            {"pollutant": "o3", "averaging": "8h", "value": "120", "unit": "µg/m³"},
            {},
            "unit_not_convertible",
        ),
        (
            {"pollutant": "o3", "averaging": "8h", "value": "1", "unit": "furlongs"},
            {},
            "unknown_unit",
        ),
        ({"pollutant": "lead", "averaging": "3mo", "value": "1"}, {}, "unknown_field"),
        ({"pollutant": "o3", "averaging": "8h", "value": "abc", "unit": "ppm"}, {}, "non_numeric"),
    ],
)
def test_long_form_with_unit_conversion(record, subs, error_kind) -> None:
    out = result(record)
    assert out["sub_indices"] == subs
    assert [e["kind"] for e in out["errors"]] == ([error_kind] if error_kind else [])


def test_second_standard_hj633_is_only_a_table() -> None:
    # Continuous breakpoints, ceiling rounding, primary pollutant only above 50.
    assert result({"pm25_24h": "76", "so2_1h": "900"}, HJ) == ok(
        102,  # 50/40 * (76 - 75) + 100 = 101.25 -> 102
        "Lightly Polluted",
        "#FF7E00",
        ["pm25"],
        {"pm25_24h": 102},
        [
            {
                "field": "so2_1h",
                "kind": "above_range",
                "message": "so2_1h above 800 µg/m³: the standard defines no 1h sub-index and "
                "there is no so2_24h sub-index",
            }
        ],
    )
    assert result({"pm25_24h": "35", "pm10_24h": "50"}, HJ)["sub_indices"] == {
        "pm10_24h": 50,
        "pm25_24h": 50,
    }
    good = result({"pm25_24h": "20"}, HJ)
    assert (good["aqi"], good["category"], good["dominant_pollutant"]) == (29, "Excellent", [])


def test_a_standard_from_a_file_and_bad_tables_are_refused(tmp_path: Path) -> None:
    doc = {
        "id": "toy",
        "name": "Toy index",
        "index_top": 100,
        "categories": [
            {"name": "Low", "low": 0, "high": 50, "color": "#000000"},
            {"name": "High", "low": 51, "high": None, "color": "#FFFFFF"},
        ],
        "fields": {
            "pm25_24h": {
                "pollutant": "pm25",
                "averaging": "24h",
                "unit": "µg/m³",
                "decimals": 1,
                "bands": [["0.0", "10.0", 0, 50], ["10.1", "20.0", 51, 100]],
            }
        },
    }
    path = tmp_path / "toy.json"
    path.write_text(json.dumps(doc))
    toy = load_standard(path)
    assert result({"pm25_24h": "15"}, toy)["aqi"] == 75  # 49/9.9 * 4.9 + 51 = 75.25
    assert result({"pm25_24h": "30"}, toy)["notes"][0]["kind"] == "beyond_index"

    def bands(rows: list) -> dict:
        field = dict(doc["fields"]["pm25_24h"], bands=rows)
        return dict(doc, fields={"pm25_24h": field})

    parsed = json.loads(json.dumps(doc), parse_float=Decimal)
    assert parse_standard(parsed).field("pm25_24h").bands[1].c_low == Decimal("10.1")
    with pytest.raises(StandardError, match="gap"):
        parse_standard(bands([["0.0", "10.0", 0, 50], ["10.5", "20.0", 51, 100]]))
    with pytest.raises(StandardError, match="finer"):
        parse_standard(bands([["0.0", "10.05", 0, 50], ["10.1", "20.0", 51, 100]]))
    with pytest.raises(StandardError, match="not increasing"):
        parse_standard(bands([["0.0", "10.0", 50, 0]]))
    deferring = dict(doc["fields"]["pm25_24h"], above={"rule": "defer", "to": "nowhere"})
    with pytest.raises(StandardError, match="defers"):
        parse_standard(dict(doc, fields={"pm25_24h": deferring}))
