"""Quantities typed on the command line: digits that are no number ("²", which str.isdigit takes and
int() cannot read), more digits than int() reads, or a number no request can carry end the command
with its usual message, never a traceback."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
import typer
from typer.testing import CliRunner

from omnistock_cli.bundles import parse_component
from omnistock_cli.commands import sku_quantity
from omnistock_cli.locations import lead_spec
from omnistock_cli.main import app
from omnistock_cli.order_edits import line_edit
from omnistock_cli.transfers import quantities

NOT_NUMBERS = ["²", "1²", "9" * 5000, str(2**63), str(10**30)]
PARSERS: dict[str, tuple[Callable[[str], Any], str, str]] = {
    # what reads the text, how a quantity is written in it, what the refusal says
    "sku_quantity": (sku_quantity, "SOFA:{}", "SOFA:"),
    "sku_quantity=": (sku_quantity, "SOFA={}", "SOFA="),
    "line_edit": (line_edit, "SOFA:{}", "is not SKU:QTY"),
    "parse_component": (parse_component, "CUSHION={}", "is not SKU=QTY"),
    "quantities": (lambda text: quantities([text], "--sku"), "SOFA={}", "is not SKU=QTY"),
    "lead_spec": (lead_spec, "DE-BE={}", "is not REGION=DAYS"),
}


@pytest.mark.parametrize("typed", NOT_NUMBERS)
@pytest.mark.parametrize("parser", sorted(PARSERS))
def test_a_quantity_that_is_no_number_a_request_carries_is_refused_in_words(
    parser: str, typed: str, capsys: pytest.CaptureFixture[str]
) -> None:
    parse, form, says = PARSERS[parser]
    with pytest.raises(typer.Exit):
        parse(form.format(typed))
    assert says in capsys.readouterr().err


@pytest.mark.parametrize("parser", sorted(PARSERS))
def test_a_quantity_in_digits_is_read(parser: str) -> None:
    parse, form, _ = PARSERS[parser]
    parse(form.format("12"))  # no refusal


BEYOND_INT64 = "99999999999999999999"


@pytest.mark.parametrize(
    "args",
    [
        ["receive", "S", "K", BEYOND_INT64],
        ["adjust", "S", "K", "--reason", "count", "--delta", BEYOND_INT64],
        ["adjust", "S", "K", "--reason", "count", "--delta", f"-{BEYOND_INT64}"],
        ["adjust", "S", "K", "--reason", "count", "--set", BEYOND_INT64],
        ["stock", "K", "--near", "Berlin", "--qty", BEYOND_INT64],
        ["count", "scan", "C", "K", BEYOND_INT64],
        ["reserve", "K", "--store", "S", "--qty", BEYOND_INT64],
        ["bundle", "SET", "--component", "A=1", "--price-minor", BEYOND_INT64],
        ["locations", "promise", "L", "--preparation", str(2**31)],
        ["return", "K", BEYOND_INT64, "--store", "S"],
    ],
)
def test_a_number_past_what_the_contract_carries_is_a_bad_value_of_its_option(args: list[str]) -> None:
    """Refused as the option's bad value (usage error, exit code 2) before anything is asked of the
    services; it was a ValueError traceback while the request was built."""
    result = CliRunner().invoke(app, args, env={"COLUMNS": "200", "NO_COLOR": "1"})
    assert result.exit_code == 2, (result.output, result.exception)
    assert "Invalid value" in result.output


@pytest.mark.parametrize("value", ["99999999999d", "1000000000000000000000000s"])
@pytest.mark.parametrize(
    "args",
    [
        ["reserve", "K", "--store", "S", "--customer", "C", "--hold-for"],
        ["extend-reservation", "R", "--by"],
        ["hold-order", "O", "--reason", "payment-pending", "--ttl"],
    ],
)
def test_a_duration_past_any_calendar_is_not_a_duration(args: list[str], value: str) -> None:
    """More days than a timedelta holds is said to be no duration (it was an OverflowError traceback)."""
    result = CliRunner().invoke(app, [*args, value], env={"COLUMNS": "200", "NO_COLOR": "1"})
    assert result.exit_code == 1, (result.output, result.exception)
    assert "is not a duration" in result.output
