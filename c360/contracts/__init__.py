"""Source contracts (see model.py); every source c360 ingests is listed here."""

from c360.contracts.air_quality import AIR_QUALITY_CONTRACTS
from c360.contracts.model import Col, Contract, FkPolicy, ForeignKey, Rule, Std
from c360.contracts.retail import RETAIL_CONTRACTS

CONTRACTS: dict[str, Contract] = {c.name: c for c in (*RETAIL_CONTRACTS, *AIR_QUALITY_CONTRACTS)}


def contract(name: str) -> Contract:
    """The contract of ``domain.source``, with a clear error for an unknown source."""
    try:
        return CONTRACTS[name]
    except KeyError:
        raise KeyError(f"no contract for source {name!r}; known: {', '.join(sorted(CONTRACTS))}") from None


__all__ = ["CONTRACTS", "Col", "Contract", "FkPolicy", "ForeignKey", "Rule", "Std", "contract"]
