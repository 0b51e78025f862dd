"""Date options of the CLI: a day that does not exist is named as such (click's own DateTime
said "does not match the formats '%Y-%m-%d'" of '2024-02-30', which it does)."""

from __future__ import annotations

from datetime import datetime
from pathlib import Path

import click
import pytest
from typer.testing import CliRunner

from c360.cli import app
from c360.cli.state import iso_date


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["run", "--run-date", "2024-02-30"], "'2024-02-30' is not a date: day is out of range for month"),
        (["run", "--from", "2024-13-01", "--to", "2024-12-31"], "'2024-13-01' is not a date: month must be in 1..12"),
        (["run", "--run-date", "2024/02/03"], "'2024/02/03' is not a date written YYYY-MM-DD"),
        (["quality", "report", "--run-date", "5 May"], "'5 May' is not a date written YYYY-MM-DD"),
    ],
)
def test_a_date_that_does_not_exist_is_named(tmp_path: Path, args: list[str], message: str) -> None:
    result = CliRunner().invoke(app, [*args, "--source", str(tmp_path)] if args[0] == "run" else args)
    assert result.exit_code != 0  # before any work: the console script prints "Error: Invalid value: ..."
    assert isinstance(result.exception, click.BadParameter) and str(result.exception) == message


def test_a_date_is_midnight_of_that_day() -> None:
    assert iso_date("2024-02-29") == datetime(2024, 2, 29)
