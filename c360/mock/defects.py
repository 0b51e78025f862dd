"""Which record gets which defect: one draw per record, at most one defect per record.

A record is hit by kind ``k`` with probability ``rate`` for each kind its file is eligible
for (kinds are mutually exclusive, so checks downstream can attribute every bad value to
exactly one cause). From ``force_day`` on, a kind that has not hit a file yet is forced on
that day's first clean record, so every kind shows up even in tiny data sets.
"""

from __future__ import annotations

import numpy as np

from c360.mock.output import DefectLog

# Every kind the generator injects, in documentation order.
RETAIL_KINDS: tuple[str, ...] = (
    "duplicate_row",
    "resent_changed",
    "malformed_email",
    "malformed_phone",
    "future_birth_date",
    "resolved_before_created",
    "nonpositive_quantity",
    "nonpositive_price",
    "total_mismatch",
    "orphan_product",
    "orphan_customer",
    "missing_mandatory",
    "extra_column",
    "late_arriving",
)
SENSOR_KINDS: tuple[str, ...] = (
    "negative_value",
    "unit_mixup",
    "stuck_sensor",
    "out_of_order_timestamp",
    "duplicate_timestamp",
    "malformed_json",
)
ALL_KINDS: tuple[str, ...] = RETAIL_KINDS + SENSOR_KINDS


class Picker:
    """Assigns defect kinds to a day's records of one file."""

    def __init__(self, rate: float, force_day: int, log: DefectLog):
        self.rate = rate
        self.force_day = force_day
        self.log = log

    def assign(
        self, file: str, kinds: tuple[str, ...], n: int, rng: np.random.Generator, day: int
    ) -> list[str | None]:
        if self.rate <= 0 or not kinds or n == 0:
            return [None] * n
        width = min(self.rate, 1.0 / len(kinds))
        limit = width * len(kinds)
        out: list[str | None] = [
            kinds[int(u / width)] if u < limit else None for u in rng.random(n).tolist()
        ]
        if day >= self.force_day:
            present = set(out)
            missing = [k for k in kinds if (k, file) not in self.log.seen and k not in present]
            if missing:
                free = [i for i, k in enumerate(out) if k is None]
                for kind, i in zip(missing, free, strict=False):
                    out[i] = kind
        return out

    def wants(self, kind: str, file: str, day: int) -> bool:
        """True when ``kind`` has not hit ``file`` yet and should be forced today."""
        return self.rate > 0 and day >= self.force_day and (kind, file) not in self.log.seen
