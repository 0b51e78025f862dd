"""NowCast against series computed by hand from the EPA/AirNow steps (docs/aqi.md, "NowCast").

Each expected value is derived in the comment beside it, not by calling the code under test.
"""

from __future__ import annotations

from decimal import Decimal

import pytest

from c360.aqi import calculate
from c360.aqi.nowcast import nowcast, nowcast_series


def test_steady_pm25_is_the_plain_average_exactly() -> None:
    # cmin = cmax: w = 1, the NowCast is the 12-hour mean; 35.5 stays 35.5 (AQI 101, not 100).
    assert nowcast(["35.5"] * 12, "pm25") == Decimal("35.5")
    assert [r["aqi"] for r in calculate([{"pm25_24h": str(nowcast(["35.5"] * 12, "pm25"))}])] == [101]


def test_pm_weight_factor_is_bounded_below_by_one_half() -> None:
    # c1 = 50, c2..c12 = 10: w* = 10/50 = 0.2 -> 0.5.
    # num = 50 + 10 (1 - 2**-11) = 122870/2048; den = 2 - 2**-11 = 4095/2048.
    assert nowcast(["50", *["10"] * 11], "pm25") == Decimal(122870) / Decimal(4095)  # 30.00488...
    # Truncated to 30.0: (100 - 51) / (35.4 - 9.1) * (30.0 - 9.1) + 51 = 89.94 -> 90.
    assert [r["aqi"] for r in calculate([{"pm25_24h": str(nowcast(["50", *["10"] * 11], "pm25"))}])] == [90]
    # PM10 alike: 100 then 60 x 11: w* = 0.6 stays; only 12 hours count (a 13th is ignored).
    w = Decimal("0.6")
    num = 100 + sum(60 * w**k for k in range(1, 12))
    den = sum(w**k for k in range(12))
    assert nowcast(["100", *["60"] * 11, "999"], "pm10").quantize(Decimal("1e-20")) == (num / den).quantize(
        Decimal("1e-20")
    )


@pytest.mark.parametrize(
    ("recent", "has_value"),
    [
        (["10", None, None, "10", "10"], False),  # 1 of the 3 latest hours
        ([None, None, "10", "10"], False),
        ([None, "10", "12"], True),  # the current hour may be the missing one
        (["10", None, "12"], True),
        (["10", "12"], True),  # 2 of 3, the third not yet measured
        ([], False),
    ],
)
def test_two_of_the_three_latest_hours_must_be_valid(recent: list, has_value: bool) -> None:
    for pollutant in ("pm25", "pm10", "o3"):
        assert (nowcast(recent, pollutant) is not None) is has_value


def test_missing_hours_drop_out_of_both_sums() -> None:
    # c1 = 20, c2 missing, c3 = 10: w = 0.5; (20 + 0.25 * 10) / (1 + 0.25) = 18.
    assert nowcast(["20", None, "10"], "pm25") == Decimal(18)


def test_ozone_uses_8_hours_and_no_minimum_weight() -> None:
    # AirNow's worked example (ppb): 63 69 80 74 60 - 35 22; w = 22/80 = 0.275 (no 0.5 floor);
    # numerator 89.925 (AirNow's figure), denominator 1.37769 -> 65.272 ppb = 0.065272 ppm.
    series = ["0.063", "0.069", "0.080", "0.074", "0.060", None, "0.035", "0.022", "0.500"]  # 9th hour ignored
    value = nowcast(series, "o3")
    assert value is not None and value.quantize(Decimal("1e-9")) == Decimal("0.065272094")
    # With PM's 0.5 floor the older, higher hours would weigh more: the floor is PM's, not O3's.
    assert nowcast(series[:8], "pm25") > value
    # 0.065 ppm in the 8-hour table: (100 - 51) / 0.015 * 0.010 + 51 = 83.67 -> 84.
    assert [r["aqi"] for r in calculate([{"o3_8h": str(value)}])] == [84]


def test_all_zero_hours_are_a_zero_nowcast() -> None:
    assert nowcast(["0"] * 12, "pm25") == 0


def test_series_counts_absent_hours_as_missing() -> None:
    # Hours 0, 1, 3 present: at hour 3, hours 2 and 1 ago are (missing, 20): 2 of 3 valid.
    out = nowcast_series([0, 1, 3], ["10", "20", "40"], "pm25")
    # hour 0: only 1 hour -> None; hour 1: (20, 10), w = 0.5 -> (20 + 5) / 1.5 = 16.66...
    # hour 3: (40, -, 20, 10): w = 10/40 -> 0.5; (40 + 0.25*20 + 0.125*10) / (1 + 0.25 + 0.125) = 33.6363...
    assert out[0] is None
    assert out[1] == Decimal(25) / Decimal("1.5")
    assert out[2] == Decimal("46.25") / Decimal("1.375")


def test_an_hour_that_is_no_concentration_or_a_pollutant_without_nowcast_is_a_clear_error() -> None:
    """A negative hour was averaged in silently, text raised Fraction's error, so2 a bare KeyError."""
    with pytest.raises(ValueError, match=r"hour 0 \('-5'\) is not a concentration \(negative\)"):
        nowcast(["-5", "10", "10"], "pm25")
    with pytest.raises(ValueError, match=r"hour 1 \('abc'\) is not a concentration \(non_numeric\)"):
        nowcast(["10", "abc", "10"], "pm25")
    with pytest.raises(ValueError, match="no NowCast for 'so2': it is defined for o3, pm10, pm25"):
        nowcast(["1"], "so2")
    assert nowcast([35.5, 10, None, 12], "pm25") == nowcast(["35.5", "10", None, "12"], "pm25")
