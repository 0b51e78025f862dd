"""Quality gates for published tables: suites in code, write-audit-publish, metrics, anomalies.

Declaring a suite imports nothing heavy; ``publish``/``validate`` (Spark, Great
Expectations) are loaded on first use. See docs/quality.md.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from c360.quality.results import Anomaly, ExpectationResult, QualityGateError, ValidationReport
from c360.quality.suite import (
    AnomalyPolicy,
    Expectation,
    Kind,
    Severity,
    SuiteDeclarationError,
    TableSuite,
)

if TYPE_CHECKING:
    from c360.quality.gate import PublishOutcome, publish, validate

__all__ = [
    "Anomaly",
    "AnomalyPolicy",
    "Expectation",
    "ExpectationResult",
    "Kind",
    "PublishOutcome",
    "QualityGateError",
    "Severity",
    "SuiteDeclarationError",
    "TableSuite",
    "ValidationReport",
    "publish",
    "validate",
]


def __getattr__(name: str) -> object:
    # The gate pulls in pyspark (and GX on first validation): load it only when asked.
    if name in {"publish", "validate", "PublishOutcome"}:
        from c360.quality import gate

        return getattr(gate, name)
    raise AttributeError(name)
