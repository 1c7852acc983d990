"""`--status` of the list commands (orders, reservations, tasks, transfers): one reading of a
status name, written as people or enums spell it."""

from __future__ import annotations

import pytest
import typer
from hypothesis import given
from hypothesis import strategies as st

from omnistock_cli.commands import status_code

STATUSES = {"open": 1, "ready-for-pickup": 2}


@pytest.mark.parametrize("written", ["ready-for-pickup", "ready for pickup", "READY_FOR_PICKUP", " Ready-For_Pickup "])
def test_a_status_is_read_however_it_is_spelled(written: str) -> None:
    assert status_code(written, STATUSES) == 2


def test_no_status_is_every_status() -> None:
    assert status_code(None, STATUSES) == 0


@given(st.text().filter(lambda text: text.strip().lower().replace(" ", "-").replace("_", "-") not in STATUSES))
def test_an_unknown_status_ends_the_command(written: str) -> None:
    with pytest.raises(typer.Exit) as ended:
        status_code(written, STATUSES)
    assert ended.value.exit_code == 1
