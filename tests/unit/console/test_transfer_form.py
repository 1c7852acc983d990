"""The receive form of a transfer, read as the console reads it: empty means none, anything but a
whole number in range is refused in words naming the item."""

from __future__ import annotations

import pytest
from omnistock_console.pages_transfers import _arrival
from omnistock_console.services import Refused
from starlette.datastructures import FormData


def test_empty_fields_mean_none_and_numbers_are_taken() -> None:
    form = FormData({"line-0-received": "3", "line-0-damaged": ""})
    arrival = _arrival(form, 0, "SKU-1")
    assert (arrival.sku, arrival.received, arrival.damaged) == ("SKU-1", 3, 0)


@pytest.mark.parametrize("typed", ["x", "-1", "1.5", "1000001", "²", "1²", "9" * 5000])
def test_anything_but_a_whole_number_in_range_is_refused(typed: str) -> None:
    with pytest.raises(Refused) as refused:
        _arrival(FormData({"line-0-received": "1", "line-0-damaged": typed}), 0, "SKU-1")
    assert "SKU-1" in refused.value.words and "damaged" in refused.value.words
