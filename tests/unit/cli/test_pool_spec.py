"""`omnistock pools set --pool` specs: group, cap, buffer and the two kinds of units on their way."""

from __future__ import annotations

import pytest
import typer

from omnistock_cli.pools import pool_spec


@pytest.mark.parametrize(
    ("spec", "expected"),
    [
        ("berlin-stores", ("berlin-stores", 100, 0, False, False)),
        ("berlin-stores:80:2", ("berlin-stores", 80, 2, False, False)),
        ("berlin-stores:80:in-transit", ("berlin-stores", 80, 0, True, False)),
        ("berlin-stores:transfers", ("berlin-stores", 100, 0, False, True)),
        ("berlin-stores:50:1:in-transit:transfers", ("berlin-stores", 50, 1, True, True)),
    ],
)
def test_a_pool_spec_names_its_group_cap_buffer_and_units_on_their_way(spec: str, expected: tuple) -> None:
    pool = pool_spec(spec)
    assert (
        pool.group_id,
        pool.cap_percent,
        pool.buffer_units,
        pool.allow_in_transit,
        pool.allow_transfer_in_transit,
    ) == expected


@pytest.mark.parametrize(
    "spec", ["", ":80", "stores:80:2:3", "stores:eighty", "stores:lorry", "stores:8²", "stores:80:" + "9" * 5000]
)
def test_a_malformed_pool_spec_is_refused_with_its_form(spec: str, capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(typer.Exit):
        pool_spec(spec)
    assert "GROUP[:CAP[:BUFFER]][:in-transit][:transfers]" in capsys.readouterr().err
