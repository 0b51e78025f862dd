"""The result shape every expectation reports in, GX-evaluated or not, and the gate error."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, datetime
from pathlib import Path

from c360.quality.suite import Severity


@dataclass(frozen=True)
class ExpectationResult:
    """One expectation's outcome; ``unexpected_count`` is None for table-level checks."""

    expectation: str
    kind: str
    severity: Severity
    success: bool
    observed_value: str | None = None
    unexpected_count: int | None = None
    element_count: int | None = None
    unexpected_percent: float | None = None
    columns: tuple[str, ...] = ()
    details: str = ""

    @property
    def blocks(self) -> bool:
        return not self.success and self.severity is Severity.ERROR

    def describe(self) -> str:
        if self.unexpected_count is not None:
            of = f" of {self.element_count}" if self.element_count is not None else ""
            what = f"{self.unexpected_count} unexpected row(s){of}"
        else:
            what = f"observed {self.observed_value}"
        extra = f" ({self.details})" if self.details else ""
        return f"{self.expectation} [{self.severity.value}]: {what}{extra}"


@dataclass(frozen=True)
class Anomaly:
    """A metric value that breaks its table's pattern (see :mod:`c360.quality.anomaly`)."""

    metric: str
    value: float
    expected: float
    lower: float
    upper: float
    z_score: float
    plot: Path | None = None

    def describe(self) -> str:
        return (
            f"{self.metric} = {self.value:.6g}, expected {self.expected:.6g} "
            f"(band {self.lower:.6g} .. {self.upper:.6g}, robust z {self.z_score:+.1f})"
        )


@dataclass(frozen=True)
class ValidationReport:
    """Everything one validation of one table produced."""

    table: str
    run_id: str
    run_date: date
    validated_at: datetime
    results: tuple[ExpectationResult, ...]
    metrics: dict[str, float] = field(default_factory=dict)
    anomalies: tuple[Anomaly, ...] = ()
    anomalies_block: bool = False
    data_docs: Path | None = None

    @property
    def failures(self) -> tuple[ExpectationResult, ...]:
        return tuple(r for r in self.results if not r.success)

    @property
    def blocking(self) -> tuple[ExpectationResult, ...]:
        return tuple(r for r in self.results if r.blocks)

    @property
    def passed(self) -> bool:
        return not self.blocking and not (self.anomalies_block and self.anomalies)

    @property
    def status(self) -> str:
        """``failed`` (blocks), ``warn`` (recorded problems only) or ``passed``."""
        if not self.passed:
            return "failed"
        return "warn" if self.failures or self.anomalies else "passed"

    def summary(self) -> str:
        lines = [f"{self.table} run {self.run_id} ({self.run_date.isoformat()}): {self.status}"]
        lines += [f"  FAILED {r.describe()}" for r in self.blocking]
        lines += [f"  warn   {r.describe()}" for r in self.failures if not r.blocks]
        verdict = "blocks" if self.anomalies_block else "warn"
        lines += [f"  anomaly ({verdict}) {a.describe()}" for a in self.anomalies]
        if self.data_docs is not None:
            lines.append(f"  data docs: {self.data_docs}")
        return "\n".join(lines)


class QualityGateError(RuntimeError):
    """The quality gate refused a batch: nothing was committed; the report is attached."""

    def __init__(self, report: ValidationReport) -> None:
        self.report = report
        super().__init__("quality gate failed, nothing was published:\n" + report.summary())
