"""The owner names of holds and task sources, spelled once: every id comes back from its name, and
no name is read as the other kind's."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from omnistock_platform.owners import order_of, order_owner, owner_kind, reservation_of, reservation_owner

IDS = st.text(min_size=1, max_size=60)


@given(IDS)
def test_a_reservations_owner_names_its_reservation_only(reservation_id: str) -> None:
    owner = reservation_owner(reservation_id)
    assert reservation_of(owner) == reservation_id
    assert order_of(owner) is None
    assert owner_kind(owner) == ("reservation", reservation_id)


@given(IDS)
def test_an_orders_owner_names_its_order_only(order_id: str) -> None:
    owner = order_owner(order_id)
    assert order_of(owner) == order_id
    assert reservation_of(owner) is None
    assert owner_kind(owner) == ("order", order_id)


def test_other_owners_are_neither() -> None:
    for owner in ("admin", "till:STORE-1", "order:", "reservation:", "orders:1"):
        assert owner_kind(owner) == ("", owner)
