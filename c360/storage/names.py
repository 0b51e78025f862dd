"""Table names (``tier.domain.table``) and where they live in the lake."""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

TIERS = ("raw", "sanitized", "quarantine", "vault", "enhanced", "ops")
_PART = re.compile(r"^[a-z][a-z0-9_]*$")


class TableNameError(ValueError):
    """A table name that is not ``tier.domain.table``."""


@dataclass(frozen=True, order=True)
class TableName:
    tier: str
    domain: str
    table: str

    @classmethod
    def parse(cls, name: str | TableName) -> TableName:
        if isinstance(name, TableName):
            return name
        parts = name.split(".")
        if len(parts) != 3 or not all(_PART.match(p) for p in parts):
            raise TableNameError(f"table name {name!r} must be tier.domain.table in lower-case letters, digits and _")
        if parts[0] not in TIERS:
            raise TableNameError(f"table name {name!r}: unknown tier {parts[0]!r} (one of {', '.join(TIERS)})")
        return cls(*parts)

    def path(self, lake_root: Path) -> Path:
        return lake_root / self.tier / self.domain / self.table

    def __str__(self) -> str:
        return f"{self.tier}.{self.domain}.{self.table}"
