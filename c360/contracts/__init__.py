"""Source contracts (see model.py); every source c360 ingests is listed here."""

from c360.contracts.air_quality import AIR_QUALITY_CONTRACTS
from c360.contracts.model import Col, Contract, FkPolicy, ForeignKey, Rule, Std
from c360.contracts.retail import RETAIL_CONTRACTS

CONTRACTS: dict[str, Contract] = {c.name: c for c in (*RETAIL_CONTRACTS, *AIR_QUALITY_CONTRACTS)}

# The sources each data product ingests and sanitizes: the retail DAG takes "retail", the
# air-quality DAG "air_quality", so the two never write the same raw or sanitized table.
# What sits in no group's domain folder (stray files, unknown domains) is reported by the
# first group, the retailer's extract, so every file is recorded exactly once.
SOURCE_GROUPS: dict[str, tuple[Contract, ...]] = {
    "retail": tuple(RETAIL_CONTRACTS),
    "air_quality": tuple(AIR_QUALITY_CONTRACTS),
}


def source_group(name: str) -> tuple[Contract, ...]:
    """The contracts of a source group, with a clear error for an unknown name."""
    try:
        return SOURCE_GROUPS[name]
    except KeyError:
        raise KeyError(f"no source group {name!r}; known: {', '.join(SOURCE_GROUPS)}") from None


def group_of(c: Contract) -> str | None:
    """The source group (``SOURCE_GROUPS``) whose runs ingest ``c``'s files, or None."""
    return next((name for name, contracts in SOURCE_GROUPS.items() if c in contracts), None)


def contract(name: str) -> Contract:
    """The contract of ``domain.source``, with a clear error for an unknown source."""
    try:
        return CONTRACTS[name]
    except KeyError:
        raise KeyError(f"no contract for source {name!r}; known: {', '.join(sorted(CONTRACTS))}") from None


__all__ = [
    "CONTRACTS",
    "SOURCE_GROUPS",
    "Col",
    "Contract",
    "FkPolicy",
    "ForeignKey",
    "Rule",
    "Std",
    "contract",
    "group_of",
    "source_group",
]
