"""Per-process CLI state: settings, and a Spark session built only when a command needs it."""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import date, datetime
from typing import TYPE_CHECKING, Any

import click
from rich.console import Console

from c360.settings import Settings, load_settings

if TYPE_CHECKING:
    from pyspark.sql import SparkSession


@dataclass
class CliState:
    debug: bool = False
    _settings: Settings | None = None
    _spark: Any = field(default=None, repr=False)

    @property
    def settings(self) -> Settings:
        if self._settings is None:
            self._settings = load_settings()
        return self._settings

    @property
    def spark(self) -> SparkSession:
        return self.session()

    def session(self, rows: int | None = None) -> SparkSession:
        """The process's Spark session, started now if it is not yet, for work that reads
        ``rows`` when the command knows: a small run's JVM compiles with C1 only (``get_spark``)."""
        if self._spark is None:
            from c360.spark import get_spark

            self._spark = get_spark(self.settings, rows)
        return self._spark

    def close(self, exiting: bool = False) -> None:
        """Stop the session, if one was started; ``exiting``: the process ends next (:func:`c360.spark.stop_spark`)."""
        if self._spark is not None:
            from c360.spark import stop_spark

            stop_spark(self._spark, exiting=exiting)
            self._spark = None


state = CliState()


def make_console(stderr: bool = False) -> Console:
    """A console that does not squeeze tables to 80 columns when output is piped or logged."""
    probe = Console(stderr=stderr)
    return probe if probe.is_terminal else Console(stderr=stderr, width=200, soft_wrap=True)


def iso_date(value: str | datetime) -> datetime:
    """A date option given as YYYY-MM-DD, as a ``datetime`` at midnight (typer's ``parser``).
    Click's DateTime answered '2024-02-30' with "does not match the formats '%Y-%m-%d'", which
    it does: the day is what is wrong."""
    if isinstance(value, datetime):
        return value
    if not re.fullmatch(r"\d{4}-\d{2}-\d{2}", value):
        raise click.BadParameter(f"{value!r} is not a date written YYYY-MM-DD")
    try:
        day = date.fromisoformat(value)
    except ValueError as exc:
        raise click.BadParameter(f"{value!r} is not a date: {exc}") from None
    return datetime(day.year, day.month, day.day)
