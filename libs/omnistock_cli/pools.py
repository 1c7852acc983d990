"""Location groups and channel pools from a terminal: name groups of locations ("Berlin
stores"), and say per channel from which groups it may sell, with a cap on the share of on hand
and a buffer of units it may never take. Written in the back office (role admin); read by anyone.

    omnistock groups put berlin-stores --name "Berlin stores" -l STORE-BER-MITTE -l STORE-BER-KREUZBERG
    omnistock pools set web --pool berlin-stores:80:2 --pool german-warehouses
    omnistock pools set app --pool berlin-stores:transfers   # also units shipped to the stores, before receipt
    omnistock pools set web            # no pools: the web shop sells from every location again
"""

from __future__ import annotations

from typing import Annotated, Any

import typer
from omnistock_client import OmnistockClient
from omnistock_client.lookups import all_pages

from omnistock.common.v1 import common_pb2
from omnistock.inventory.v1 import inventory_pb2 as pb
from omnistock_cli.acting import Call, acting
from omnistock_cli.commands import CHANNELS, channel_code, data, label
from omnistock_cli.context import fail
from omnistock_cli.groups import add_group
from omnistock_cli.output import table
from omnistock_platform.auth import Role
from omnistock_platform.validation import whole_number

GROUP_COLUMNS = ["group", "name", "locations"]
POOL_COLUMNS = ["channel", "group", "cap %", "buffer", "in transit", "transfers"]
IN_TRANSIT = "in-transit"
TRANSFERS = "transfers"
SPEC = f"GROUP[:CAP[:BUFFER]][:{IN_TRANSIT}][:{TRANSFERS}]"


def pool_spec(spec: str) -> pb.ChannelPool:
    """GROUP[:CAP[:BUFFER]][:in-transit][:transfers], e.g. berlin-stores:80:2 (cap 80 %, 2 units kept
    back); `in-transit` promises announced incoming units of backorderable SKUs, `transfers` units
    shipped on transfers to the group's locations before they are received."""
    group, *rest = [part.strip() for part in spec.split(":")]
    in_transit, transfers = IN_TRANSIT in rest, TRANSFERS in rest
    numbers = [part for part in rest if part not in (IN_TRANSIT, TRANSFERS)]
    values = [whole_number(part, 2**31 - 1) for part in numbers]  # the cap is an int32 of the contract
    counted = [value for value in values if value is not None]
    if not group or len(numbers) > 2 or len(counted) < len(values):
        fail(f"--pool {spec!r} is not {SPEC}", hint="for example --pool berlin-stores:80:2")
    cap = counted[0] if counted else 100
    buffer = counted[1] if len(counted) > 1 else 0
    return pb.ChannelPool(
        group_id=group,
        cap_percent=cap,
        buffer_units=buffer,
        allow_in_transit=in_transit,
        allow_transfer_in_transit=transfers,
    )


def _channel_name(code: int) -> str:
    return label(code, common_pb2.Channel, "CHANNEL_")


def pool_rows(pools: list[pb.ChannelPool]) -> list[list[Any]]:
    return [
        [
            _channel_name(p.channel),
            p.group_id,
            p.cap_percent,
            p.buffer_units,
            "yes" if p.allow_in_transit else "no",
            "yes" if p.allow_transfer_in_transit else "no",
        ]
        for p in pools
    ]


# ---------------------------------------------------------------------------------------------
# omnistock groups


@acting(Role.ADMIN, works_at=False)
def put_group(
    group_id: Annotated[str, typer.Argument(metavar="GROUP", help="The group id, e.g. berlin-stores.")],
    name: Annotated[str, typer.Option("--name", help="What people call it, e.g. 'Berlin stores'.")],
    location: Annotated[
        list[str] | None, typer.Option("--location", "-l", help="A member location; repeat. All members at once.")
    ] = None,
    *,
    call: Call,
) -> None:
    """Create or replace a location group: its name and all of its locations."""
    request = pb.UpsertLocationGroupRequest(
        request_id=call.request_id,
        group=pb.LocationGroup(group_id=group_id, display_name=name, location_ids=location or []),
    )
    group = call.ask(lambda client: client.inventory.UpsertLocationGroup, request).group
    rows = [[group.group_id, group.display_name, ", ".join(group.location_ids)]]
    call.emit(data(group), render=table(f"Group {group.group_id} saved", GROUP_COLUMNS, rows))


@acting(Role.ADMIN, writes=False, works_at=False)
def list_groups(*, call: Call) -> None:
    """Every location group with its locations."""

    async def work(client: OmnistockClient) -> list[pb.LocationGroup]:
        return await all_pages(client, client.inventory.ListLocationGroups, pb.ListLocationGroupsRequest(), "groups")

    groups = call.run(work)
    rows = [[g.group_id, g.display_name, ", ".join(g.location_ids)] for g in groups]
    call.emit(
        {"groups": [data(g) for g in groups]},
        render=table("Location groups", GROUP_COLUMNS, rows) if rows else "No location groups.",
    )


# ---------------------------------------------------------------------------------------------
# omnistock pools


@acting(Role.ADMIN, works_at=False)
def set_pools(
    channel: Annotated[str, typer.Argument(metavar="CHANNEL", help=f"One of {', '.join(CHANNELS)}.")],
    pool: Annotated[
        list[str] | None,
        typer.Option(
            "--pool",
            help=f"{SPEC} the channel may sell from; repeat. None: every location.",
        ),
    ] = None,
    *,
    call: Call,
) -> None:
    """Replace a channel's pools: from which groups it may sell, its cap (% of on hand) and buffer."""
    request = pb.SetChannelPoolsRequest(
        request_id=call.request_id,
        channel=channel_code(channel),  # type: ignore[arg-type]
        pools=[pool_spec(spec) for spec in pool or []],
    )
    pools = list(call.ask(lambda client: client.inventory.SetChannelPools, request).pools)
    rows = pool_rows(pools)
    empty = f"{channel} has no pools: it sells from every location."
    call.emit(
        {"channel": channel, "pools": [data(p) for p in pools]},
        render=table(f"Pools of {channel}", POOL_COLUMNS, rows) if rows else empty,
    )


@acting(Role.ADMIN, writes=False, works_at=False)
def list_pools(
    channel: Annotated[str | None, typer.Option("--channel", help="Only this channel's pools.")] = None,
    *,
    call: Call,
) -> None:
    """The pools of every channel that has any; a channel not listed sells from every location."""
    request = pb.ListChannelPoolsRequest(channel=channel_code(channel) if channel else 0)  # type: ignore[arg-type]

    async def work(client: OmnistockClient) -> list[pb.ChannelPool]:
        return await all_pages(client, client.inventory.ListChannelPools, request, "pools")

    pools = call.run(work)
    rows = pool_rows(pools)
    call.emit(
        {"pools": [data(p) for p in pools]},
        render=table("Channel pools", POOL_COLUMNS, rows) if rows else "No pools: every channel sells everywhere.",
    )


EXAMPLES = (
    "omnistock groups put berlin-stores --name 'Berlin stores' -l STORE-BER-MITTE -l STORE-BER-KREUZBERG",
    "omnistock pools set web --pool berlin-stores:80:2",
)


def register(app: typer.Typer) -> None:
    add_group(
        app, "groups", "Location groups: named sets of locations (put, list).", {"put": put_group, "list": list_groups}
    )
    add_group(
        app,
        "pools",
        "Channel pools: from which groups a channel sells, with cap and buffer (set, list).",
        {"set": set_pools, "list": list_pools},
    )
