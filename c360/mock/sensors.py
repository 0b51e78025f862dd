"""Hourly air-quality readings of ~50 stations, one file per UTC day.

Concentrations follow a daily shape (traffic peaks for NO2/CO/PM, an afternoon O3 peak),
a seasonal shape (PM and NO2 up in winter, O3 up in summer, flipped in the southern
hemisphere) and multi-day pollution episodes (smoke, ozone) shared by a city's stations.
Timestamps are local wall-clock time with the station's UTC offset (DST included).
"""

from __future__ import annotations

import math
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

import numpy as np

from c360.mock import catalog as C
from c360.mock.defects import Picker
from c360.mock.output import DefectLog, Sink

STATIONS_FILE = "air_quality/stations.csv"
READINGS = "air_quality/readings"  # contract name; .jsonl or .json per day
POLLUTANTS: tuple[str, ...] = tuple(C.POLLUTANT_UNITS)
_BASE = np.array([9.0, 20.0, 0.032, 0.35, 2.5, 16.0])
_MIN = np.array([1.0, 2.0, 0.003, 0.05, 0.3, 1.0])
# per pollutant: (text before the value, number format, text after the value)
_PARTS = tuple(
    (f'{{"pollutant":"{p}","value":', f".{C.POLLUTANT_DECIMALS[p]}f", f',"unit":"{u}"}}')
    for p, u in C.POLLUTANT_UNITS.items()
)


def measurement(p: int, value: float) -> str:
    pre, fmt, post = _PARTS[p]
    return pre + format(value, fmt) + post
_HOURS = [timedelta(hours=h) for h in range(24)]


def select_stations(count: int) -> tuple[C.Station, ...]:
    """``count`` stations spread over the list (so small sets still span time zones)."""
    total = len(C.STATIONS)
    count = max(1, min(count, total))
    return tuple(C.STATIONS[i * total // count] for i in range(count))


def is_array_day(day: int) -> bool:
    """Days delivered as one JSON array (``readings.json``) instead of JSON Lines."""
    return day % 7 == 1


class Sensors:
    def __init__(
        self, start: datetime, days: int, rng: np.random.Generator, sink: Sink, log: DefectLog,
        picker: Picker, stations: tuple[C.Station, ...] = C.STATIONS,
    ):
        self.stations = stations
        self.start = start
        self.days = days
        self.rng = rng
        self.sink = sink
        self.log = log
        self.picker = picker
        self.zones = [ZoneInfo(s.time_zone) for s in self.stations]
        cities = sorted({s.city for s in self.stations})
        self.city_of = np.array([cities.index(s.city) for s in self.stations])
        self.pollution = np.array([s.pollution for s in self.stations])
        self.hemisphere = np.array([s.hemisphere for s in self.stations], float)
        n = len(cities)
        self.episode_left = np.zeros(n, dtype=np.int64)
        self.episode_pm = np.ones(n)
        self.episode_o3 = np.ones(n)

    def _episodes(self, winter: float) -> None:
        rng = self.rng
        n = len(self.episode_left)
        u = rng.random((n, 4))
        self.episode_left = np.maximum(self.episode_left - 1, 0)
        ended = self.episode_left == 0
        self.episode_pm = np.where(ended, 1.0, self.episode_pm)
        self.episode_o3 = np.where(ended, 1.0, self.episode_o3)
        start = ended & (u[:, 0] < 0.03)
        ozone = start & (u[:, 1] < 0.5) & (winter < 0.3)
        smoke = start & ~ozone
        self.episode_left = np.where(start, 2 + (u[:, 2] * 4).astype(np.int64), self.episode_left)
        self.episode_pm = np.where(smoke, 3.5 + 4.0 * u[:, 3], self.episode_pm)
        self.episode_o3 = np.where(ozone, 1.8 + 0.7 * u[:, 3], self.episode_o3)

    def values(self, day: datetime, local_hours: np.ndarray) -> np.ndarray:
        """Concentrations, shape (stations, 24, pollutants), in contract units."""
        rng = self.rng
        doy = day.timetuple().tm_yday
        winter = math.cos(2 * math.pi * (doy - 15) / 365.25) * self.hemisphere  # per station
        self._episodes(float(np.mean(winter)))
        h = local_hours.astype(float)
        traffic = 0.7 + 0.6 * np.exp(-((h - 8) ** 2) / 4) + 0.7 * np.exp(-((h - 18.5) ** 2) / 6)
        o3shape = 0.45 + 0.9 * np.exp(-((h - 15) ** 2) / 12)
        s = len(self.stations)
        weather = rng.lognormal(0.0, 0.2, (s, 1))
        noise = rng.lognormal(0.0, 0.15, (s, 24, 6))
        poll = (self.pollution * weather[:, 0])[:, None]
        w = winter[:, None]
        pm_ep = self.episode_pm[self.city_of][:, None]
        o3_ep = self.episode_o3[self.city_of][:, None]
        out = np.empty((s, 24, 6))
        out[:, :, 0] = _BASE[0] * poll * (1 + 0.35 * w) * (0.6 + 0.4 * traffic) * pm_ep
        out[:, :, 1] = out[:, :, 0] * rng.uniform(1.6, 2.2, (s, 1)) * (0.8 + 0.2 * pm_ep)
        out[:, :, 2] = _BASE[2] * poll**0.3 * (1 - 0.35 * w) * o3shape * o3_ep
        out[:, :, 3] = _BASE[3] * poll * (1 + 0.3 * w) * traffic * (0.7 + 0.3 * pm_ep)
        out[:, :, 4] = _BASE[4] * poll * (1 + 0.2 * w) * np.ones_like(traffic)
        out[:, :, 5] = _BASE[5] * poll * (1 + 0.25 * w) * traffic
        return np.maximum(out * noise, _MIN)

    def day(self, d: int) -> None:
        if d == 0:
            self.sink.write(STATIONS_FILE, [
                [s.station_id, s.name, f"{s.latitude:.4f}", f"{s.longitude:.4f}", s.city,
                 s.country, s.time_zone]
                for s in self.stations
            ])
        utc0 = self.start + timedelta(days=d)
        ds = utc0.date().isoformat()
        stamps = [[(utc0 + dh).astimezone(z).isoformat() for dh in _HOURS] for z in self.zones]
        local_hours = np.array([[int(t[11:13]) for t in row] for row in stamps])
        vals = self.values(utc0, local_hours)
        as_array = is_array_day(d) and self.sink.layout == "daily"
        file = f"{READINGS}.json" if as_array else f"{READINGS}.jsonl"
        relpath = self.sink.relpath(f"{READINGS}.jsonl" if self.sink.layout == "dump" else file)
        kinds = self.picker.assign(
            READINGS,
            ("negative_value", "unit_mixup", "stuck_sensor", "out_of_order_timestamp",
             "duplicate_timestamp", "malformed_json"),
            len(self.stations), self.rng, d,
        )
        pick = self.rng.integers(0, 24, len(self.stations)).tolist()
        lines: list[str] = []
        for s, station in enumerate(self.stations):
            sid = station.station_id
            kind = kinds[s]
            if kind == "malformed_json" and as_array:
                kind = None
            h0 = pick[s]
            override: dict[int, str] = {}
            row_vals = vals[s]
            if kind == "negative_value":
                p = s % 6
                row_vals[h0, p] = -row_vals[h0, p]
                self._hit(kind, relpath, ds, f"{sid}|{stamps[s][h0]}", POLLUTANTS[p])
            elif kind == "unit_mixup":
                p = 2 if s % 2 else 3  # o3 or co: ppm pollutants reported in ppb
                override[p] = (
                    f'{{"pollutant":"{POLLUTANTS[p]}","value":{row_vals[h0, p] * 1000:.1f},'
                    '"unit":"ppb"}'
                )
                self._hit(kind, relpath, ds, f"{sid}|{stamps[s][h0]}", POLLUTANTS[p])
            elif kind == "stuck_sensor":
                row_vals[:, 0] = row_vals[0, 0]
                self._hit(kind, relpath, ds, f"{sid}|{ds}", "pm25", ("station_id", "date"))
            station_lines = []
            for h in range(24):
                ms = ",".join(
                    override[p] if h == h0 and p in override else measurement(p, row_vals[h, p])
                    for p in range(6)
                )
                station_lines.append(
                    f'{{"station_id":"{sid}","timestamp":"{stamps[s][h]}","measurements":[{ms}]}}'
                )
            if kind == "out_of_order_timestamp":
                h = min(h0, 21)
                station_lines[h], station_lines[h + 2] = station_lines[h + 2], station_lines[h]
                self._hit(kind, relpath, ds, f"{sid}|{ds}", "", ("station_id", "date"))
            elif kind == "duplicate_timestamp":
                resent = ",".join(measurement(p, row_vals[h0, p] * 1.05) for p in range(6))
                station_lines.insert(h0 + 1, f'{{"station_id":"{sid}","timestamp":'
                                             f'"{stamps[s][h0]}","measurements":[{resent}]}}')
                self._hit(kind, relpath, ds, f"{sid}|{stamps[s][h0]}")
            elif kind == "malformed_json":
                line = station_lines[h0]
                station_lines[h0] = line[: len(line) * 2 // 3]
                self._hit(kind, relpath, ds, f"{sid}|{stamps[s][h0]}")
            lines.extend(station_lines)
        self.sink.write_json_lines(file, lines, as_array)

    def _hit(
        self, kind: str, relpath: str, ds: str, key: str, column: str = "",
        key_columns: tuple[str, ...] = ("station_id", "timestamp"),
    ) -> None:
        self.log.add(kind, READINGS, relpath, ds, key_columns, key, column)

