"""Location groups and channel pools as contract messages."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from omnistock.common.v1 import common_pb2
from omnistock.inventory.v1 import inventory_pb2 as pb
from omnistock_inventory.adapters.messages import CHANNEL_CODES
from omnistock_inventory.domain.stock import Channel


def group(row: Mapping[str, Any]) -> pb.LocationGroup:
    return pb.LocationGroup(
        group_id=row["group_id"], display_name=row["display_name"], location_ids=sorted(row["location_ids"])
    )


def channel_code(channel: str) -> common_pb2.Channel.ValueType:
    return common_pb2.Channel.ValueType(CHANNEL_CODES.get(Channel(channel), 0))


def channel_pool(row: Mapping[str, Any]) -> pb.ChannelPool:
    return pb.ChannelPool(
        channel=channel_code(row["channel"]),
        group_id=row["group_id"],
        cap_percent=row["cap_percent"],
        buffer_units=row["buffer_units"],
        allow_in_transit=row["allow_in_transit"],
        allow_transfer_in_transit=row["allow_transfer_in_transit"],
    )
