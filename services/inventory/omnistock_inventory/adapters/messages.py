"""Rows of the inventory schema as contract messages."""

from __future__ import annotations

import functools
from collections.abc import Iterable, Mapping, Sequence
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any

import asyncpg
from google.protobuf import json_format
from google.protobuf.timestamp_pb2 import Timestamp

from omnistock.common.v1 import common_pb2
from omnistock.inventory.v1 import inventory_pb2 as pb
from omnistock_inventory.domain.bundles import HoldBundle
from omnistock_inventory.domain.holds import HoldLine, HoldState, LineKey
from omnistock_inventory.domain.stock import Channel, Counters, Pool, channel_available, kept_from_channel

if TYPE_CHECKING:
    from google.protobuf.internal.containers import RepeatedCompositeFieldContainer

CHANNELS: dict[int, Channel] = {
    common_pb2.CHANNEL_WEB: Channel.WEB,
    common_pb2.CHANNEL_APP: Channel.APP,
    common_pb2.CHANNEL_CHAT: Channel.CHAT,
    common_pb2.CHANNEL_POS: Channel.POS,
    common_pb2.CHANNEL_BACKOFFICE: Channel.BACKOFFICE,
    common_pb2.CHANNEL_MARKETPLACE: Channel.MARKETPLACE,
}
CHANNEL_CODES = {name: code for code, name in CHANNELS.items()}
KINDS = {pb.LOCATION_KIND_STORE: "store", pb.LOCATION_KIND_WAREHOUSE: "warehouse"}
KIND_CODES = {name: code for code, name in KINDS.items()}
HOLD_STATES = {
    HoldState.ACTIVE: pb.HOLD_STATE_ACTIVE,
    HoldState.RELEASED: pb.HOLD_STATE_RELEASED,
    HoldState.COMMITTED: pb.HOLD_STATE_COMMITTED,
    HoldState.EXPIRED: pb.HOLD_STATE_EXPIRED,
}
MOVEMENT_KINDS = {
    "receipt": pb.MOVEMENT_KIND_RECEIPT,
    "adjustment": pb.MOVEMENT_KIND_ADJUSTMENT,
    "hold": pb.MOVEMENT_KIND_HOLD,
    "release": pb.MOVEMENT_KIND_RELEASE,
    "commit": pb.MOVEMENT_KIND_COMMIT,
    "expire": pb.MOVEMENT_KIND_EXPIRE,
    "safety_stock": pb.MOVEMENT_KIND_SAFETY_STOCK,
    "transfer": pb.MOVEMENT_KIND_TRANSFER,
    "transfer_out": pb.MOVEMENT_KIND_TRANSFER_OUT,
    "transfer_in_transit": pb.MOVEMENT_KIND_TRANSFER_IN_TRANSIT,
    "transfer_in": pb.MOVEMENT_KIND_TRANSFER_IN,
}


_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_MICROSECOND = timedelta(microseconds=1)


def timestamp(value: datetime | None) -> Timestamp | None:
    """Timestamp.FromDatetime's result in integer arithmetic (it is a hot path: every level has two)."""
    if value is None:
        return None
    if value.tzinfo is None:  # naive means UTC, as FromDatetime takes it
        value = value.replace(tzinfo=UTC)
    seconds, micros = divmod((value - _EPOCH) // _MICROSECOND, 1_000_000)
    return Timestamp(seconds=seconds, nanos=micros * 1000)


def location(row: asyncpg.Record) -> pb.Location:
    return pb.Location(
        location_id=row["location_id"],
        name=row["name"],
        kind=KIND_CODES.get(row["kind"], pb.LOCATION_KIND_UNSPECIFIED),
        city=row["city"],
        point=common_pb2.GeoPoint(latitude=row["latitude"], longitude=row["longitude"]),
        routing_rank=row["routing_rank"],
        ships=row["ships"],
        pickup=row["pickup"],
        till_sales=row["till_sales"],
        active=row["active"],
        promise_settings=promise_settings(row.get("promise_settings")),
    )


def stored_promise_settings(settings: pb.PromiseSettings) -> str:
    """The settings as the locations table keeps them: JSON text with the proto's field names, or
    empty for the defaults."""
    if settings == pb.PromiseSettings() and not settings.HasField("default_carrier_lead_days"):
        return ""
    return json_format.MessageToJson(settings, preserving_proto_field_name=True, indent=None, sort_keys=True)


def promise_settings(value: str | None) -> pb.PromiseSettings:
    """The settings of a locations row (empty or missing: the defaults)."""
    return pb.PromiseSettings.FromString(_promise_settings_bytes(value)) if value else pb.PromiseSettings()


@functools.lru_cache(maxsize=4096)
def _promise_settings_bytes(value: str) -> bytes:
    """Parsed once per distinct text: every FindAvailability answer carries its locations' settings."""
    settings = pb.PromiseSettings()
    json_format.Parse(value, settings)
    return settings.SerializeToString()


def sku(row: asyncpg.Record) -> pb.Sku:
    return pb.Sku(
        sku=row["sku"],
        title=row["title"],
        attributes=row["attributes"],
        allow_backorder=row["allow_backorder"],
        price_minor=row["price_minor"],
        currency=row["currency"],
        components=bundle_components(row["components"]),
        allow_split=row["allow_split"],
    )


def bundle_components(components: Mapping[str, int]) -> list[pb.BundleComponent]:
    return [pb.BundleComponent(sku=sku, quantity=quantity) for sku, quantity in sorted(components.items())]


def counters(row: Any) -> Counters:
    """A stock row's counters; its units in transit as a channel may be promised them (less what
    ship-to-store transfers bring for their own owners)."""
    transit = (row.get("in_transit") or 0) - (row.get("in_transit_reserved") or 0)
    return Counters(row["on_hand"], row["held"], row["safety_stock"], row["incoming"], transit)


def stock_level(
    row: Any,
    *,
    use_safety_stock: bool = False,
    backorder: bool = False,
    pools: Sequence[Pool] | None = None,
    into: RepeatedCompositeFieldContainer[pb.StockLevel] | None = None,
) -> pb.StockLevel:
    """The row as a channel sees it: `pools` are the channel's pools at the row's location (None:
    the channel has no pools). Made as the next element of `into` when given (an answer's repeated
    field: the level is not copied into it afterwards)."""
    in_transit = row.get("in_transit") or 0
    reserved = row.get("in_transit_reserved") or 0
    have = Counters(row["on_hand"], row["held"], row["safety_stock"], row["incoming"], in_transit - reserved)
    units, pool = channel_available(have, pools, use_safety_stock=use_safety_stock, backorder=backorder)
    # Only the fields that are not zero are set: a zero is not sent either way, and every keyword
    # given costs the constructor as much as a field set.
    fields = {
        "location_id": row["location_id"],
        "sku": row["sku"],
        "on_hand": have.on_hand,
        "held": have.held,
        "safety_stock": have.safety_stock,
        "available": units,
        "version": row["version"],
    }
    if have.incoming:
        fields["incoming"] = have.incoming
    if in_transit:
        fields["in_transit"] = in_transit
    if reserved:
        fields["in_transit_reserved"] = reserved
    if pools is not None:
        fields["pool_kept"] = kept_from_channel(have, pools, pool)
        if pool is not None:
            fields["pool_group_id"] = pool.group_id
    level = pb.StockLevel(**fields) if into is None else into.add(**fields)
    # Set in place: a Timestamp made apart would be copied in (reads build hundreds of levels per call).
    set_timestamp(level.next_incoming_at, row["next_incoming_at"])
    set_timestamp(level.updated_at, row["updated_at"])
    return level


def set_timestamp(field: Timestamp, value: datetime | None) -> None:
    """`timestamp`, written into a message's field (left unset for None)."""
    if value is None:
        return
    if value.tzinfo is None:
        value = value.replace(tzinfo=UTC)
    since = value - _EPOCH  # a timedelta's parts, read in C: no integer division in Python
    field.seconds = since.days * 86_400 + since.seconds
    field.nanos = since.microseconds * 1000


def hold_line(line: HoldLine) -> pb.HoldLine:
    return pb.HoldLine(
        location_id=line.key.location_id,
        sku=line.key.sku,
        quantity=line.quantity,
        committed=line.committed,
        released=line.released,
        open=line.open,
    )


def hold_bundle(bundle: HoldBundle) -> pb.HoldBundle:
    return pb.HoldBundle(
        location_id=bundle.location_id,
        sku=bundle.sku,
        quantity=bundle.quantity,
        committed=bundle.committed,
        released=bundle.released,
        open=bundle.open,
        components=bundle_components(bundle.components),
    )


def hold(row: asyncpg.Record, lines: dict[LineKey, HoldLine], bundles: Iterable[HoldBundle] = ()) -> pb.Hold:
    return pb.Hold(
        hold_id=row["hold_id"],
        owner=row["owner"],
        channel=common_pb2.Channel.ValueType(CHANNEL_CODES.get(Channel(row["channel"]), 0)),
        state=HOLD_STATES[HoldState(row["state"])],
        expires_at=timestamp(row["expires_at"]),
        created_at=timestamp(row["created_at"]),
        lines=[hold_line(line) for _, line in sorted(lines.items())],
        bundles=[hold_bundle(bundle) for bundle in sorted(bundles, key=lambda each: each.key)],
    )


def movement(row: asyncpg.Record) -> pb.Movement:
    return pb.Movement(
        movement_id=row["movement_id"],
        location_id=row["location_id"],
        sku=row["sku"],
        kind=MOVEMENT_KINDS.get(row["kind"], pb.MOVEMENT_KIND_UNSPECIFIED),
        reason=row["reason"],
        on_hand_delta=row["on_hand_delta"],
        held_delta=row["held_delta"],
        on_hand_after=row["on_hand_after"],
        held_after=row["held_after"],
        safety_stock_after=row["safety_stock_after"],
        hold_id=row["hold_id"],
        actor=row["actor"],
        request_id=row["request_id"],
        document_ref=row["document_ref"],
        at=timestamp(row["at"]),
        version=row["version"],
    )
