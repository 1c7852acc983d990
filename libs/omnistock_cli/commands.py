"""What the channel and staff commands (stock, reservations, orders, tasks, pos) share:
who a command calls as by default, the small languages of their arguments (`SKU:QTY`,
`LAT,LON`, `2d`, channel names) and how messages read in tables and JSON."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import UTC, datetime, timedelta
from typing import Annotated, Any

import typer
from google.protobuf import timestamp_pb2
from google.protobuf.message import Message
from omnistock_client.clock import on_clock
from omnistock_client.lookups import parse_point

from omnistock.common.v1 import common_pb2
from omnistock_cli.context import Caller, fail
from omnistock_cli.output import message_data
from omnistock_platform.auth import ROLE_CHANNELS, Role
from omnistock_platform.settings import parse_duration
from omnistock_platform.validation import whole_number

CHANNELS: dict[str, int] = {
    "web": common_pb2.CHANNEL_WEB,
    "app": common_pb2.CHANNEL_APP,
    "chat": common_pb2.CHANNEL_CHAT,
    "pos": common_pb2.CHANNEL_POS,
    "backoffice": common_pb2.CHANNEL_BACKOFFICE,
    "marketplace": common_pb2.CHANNEL_MARKETPLACE,
}
METHODS: dict[str, int] = {
    "ship": common_pb2.FULFILMENT_METHOD_SHIP,
    "pickup": common_pb2.FULFILMENT_METHOD_PICKUP,
    "carry-out": common_pb2.FULFILMENT_METHOD_CARRY_OUT,
}

_ROLE_HELP = "Call as this role (a token is minted). Default: {}."
_ROLE = ("--role", "-r")
# --role with its help naming the command's default role (acting.ROLE_OPTIONS).
ChatAgentRoleOption = Annotated[
    Role | None, typer.Option(*_ROLE, case_sensitive=False, help=_ROLE_HELP.format("chat_agent"))
]
StorefrontRoleOption = Annotated[
    Role | None, typer.Option(*_ROLE, case_sensitive=False, help=_ROLE_HELP.format("storefront (pos for carry-out)"))
]
WarehouseRoleOption = Annotated[
    Role | None, typer.Option(*_ROLE, case_sensitive=False, help=_ROLE_HELP.format("warehouse at the location"))
]
PosRoleOption = Annotated[
    Role | None, typer.Option(*_ROLE, case_sensitive=False, help=_ROLE_HELP.format("pos at the store"))
]
AdminRoleOption = Annotated[Role | None, typer.Option(*_ROLE, case_sensitive=False, help=_ROLE_HELP.format("admin"))]
RequestIdOption = Annotated[
    str | None,
    typer.Option("--request-id", help="Idempotency key: the same key never acts twice. Default: a new one."),
]


def caller(
    default: Role,
    role: Role | None,
    locations: list[str] | None,
    token: str | None,
    *,
    at: Sequence[str] = (),
) -> Caller:
    """The command's default role (scoped to `at` for staff) unless --role or a token says otherwise.
    A given token (--token, OMNISTOCK_TOKEN, or the profile's) is used as it is unless --role is
    given too."""
    chosen = role or default
    scope = locations or (at if chosen in (Role.POS, Role.WAREHOUSE) else ())
    return Caller(role=role, default=default, locations=tuple(scope), token=token or None)


def channel_code(name: str | None, caller_of: Caller | None = None) -> int:
    """`web`, `app`, `chat`, `pos`, `marketplace` (or `backoffice`); by default the channel of the caller's role."""
    if name is None:
        role = caller_of.acting_role() if caller_of is not None else None
        return ROLE_CHANNELS.get(role, common_pb2.CHANNEL_BACKOFFICE) if role else common_pb2.CHANNEL_BACKOFFICE
    code = CHANNELS.get(name.strip().lower())
    if code is None:
        fail(f"unknown channel {name!r}", hint=f"one of {', '.join(CHANNELS)}")
    return code


def status_code(name: str | None, statuses: Mapping[str, int]) -> int:
    """A --status as its code: `ready-for-pickup`, `ready for pickup` or `READY_FOR_PICKUP`; 0 when
    none is given."""
    if name is None:
        return 0
    code = statuses.get(name.strip().lower().replace(" ", "-").replace("_", "-"), -1)
    if code < 0:
        fail(f"unknown status {name!r}", hint=f"one of {', '.join(statuses)}")
    return code


def method_code(name: str) -> int:
    code = METHODS.get(name.strip().lower().replace("_", "-"))
    if code is None:
        fail(f"unknown fulfilment method {name!r}", hint=f"one of {', '.join(METHODS)}")
    return code


# The largest integers the contract's int64 and int32 fields carry: an option's value beyond them is
# refused as a bad value of the option (building the request would otherwise end in a traceback).
INT64_MAX = 2**63 - 1
INT32_MAX = 2**31 - 1


def sku_quantity(text: str, *, what: str = "item", least: int = 1) -> common_pb2.SkuQuantity:
    """`SKU:QTY` or just `SKU` (one unit); `SKU=QTY`, as returns and transfers write it, too (no SKU has
    an '='). A SKU may itself contain ':'; the last part counts if it is a number. `least`: the
    smallest quantity (0 where none is a count, as units found on a pick)."""
    sku, sep, quantity = text.strip().rpartition("=" if "=" in text else ":")
    typed = quantity.strip()
    if not sep or not typed.removeprefix("-").isdigit():
        sku, typed = text.strip(), "1"
    units = whole_number(typed.removeprefix("-"))
    if units is None:  # digits that are no number ("²"), or more than a request can carry
        fail(f"{what} {text!r}: {typed!r} is not a number of units", hint="for example SOFA-VELVET-GREEN:1")
    units = -units if typed.startswith("-") else units
    if not sku or "=" in sku or units < least:
        wanted = "a positive quantity" if least == 1 else f"a quantity of at least {least}"
        fail(f"{what} {text!r} is not SKU:QTY with {wanted}", hint="for example SOFA-VELVET-GREEN:1")
    return common_pb2.SkuQuantity(sku=sku.strip(), quantity=units)


def sku_quantities(texts: Sequence[str], *, what: str = "item", least: int = 1) -> list[common_pb2.SkuQuantity]:
    items = [sku_quantity(text, what=what, least=least) for text in texts]
    if not items:
        fail(f"give at least one {what} as SKU:QTY", hint="for example SOFA-VELVET-GREEN:1")
    return items


def point(text: str, option: str) -> common_pb2.GeoPoint:
    found = parse_point(text)
    if found is None:
        fail(f"{option} {text!r} is not LATITUDE,LONGITUDE", hint="for example 52.52,13.40")
    if not (-90 <= found.latitude <= 90 and -180 <= found.longitude <= 180):
        fail(f"{option} {text!r} is off the map", hint="latitude -90..90, longitude -180..180")
    return found


def duration(text: str, option: str) -> timedelta:
    parsed = parse_duration(text)
    if not isinstance(parsed, timedelta) or parsed <= timedelta(0):
        fail(f"{option} {text!r} is not a duration", hint="write it like 90s, 15m, 8h or 2d")
    return parsed


def label(value: int, enum: Any, prefix: str) -> str:
    """An enum value as people say it: RESERVATION_STATUS_READY_FOR_PICKUP -> ready for pickup."""
    try:
        name = str(enum.Name(value))
    except ValueError:
        return str(value)
    return name.removeprefix(prefix).lower().replace("_", " ")


def when(stamp: timestamp_pb2.Timestamp, zone: str = "") -> str:
    """`2026-03-02 14:00 Europe/Berlin`: on the clock of `zone` (the location's the moment belongs to),
    else in UTC, always naming it (never the clock of the machine the command runs on)."""
    if not stamp.seconds and not stamp.nanos:
        return ""
    moment, name = on_clock(stamp.ToDatetime(tzinfo=UTC), zone)
    return f"{moment:%Y-%m-%d %H:%M} {name}"


def until(stamp: timestamp_pb2.Timestamp, zone: str = "") -> str:
    """`2026-03-02 14:00 Europe/Berlin (in 1d 23h)`."""
    if not stamp.seconds:
        return ""
    left = stamp.ToDatetime(tzinfo=UTC) - datetime.now(UTC)
    if left.total_seconds() <= 0:
        return f"{when(stamp, zone)} (passed)"
    if left.total_seconds() < 60:
        return f"{when(stamp, zone)} (in under a minute)"
    days, rest = divmod(int(left.total_seconds()), 86400)
    hours, rest = divmod(rest, 3600)
    span = f"{days}d {hours}h" if days else f"{hours}h {rest // 60}m"
    return f"{when(stamp, zone)} (in {span})"


def data(message: Message) -> dict[str, Any]:
    """A message as JSON data with every field, zeros included (a script finds every key), and
    64-bit integers as numbers."""
    return message_data(message)


def lines_text(items: Sequence[Any]) -> str:
    """`SKU x2, OTHER x1` from SkuQuantity-like items."""
    return ", ".join(f"{item.sku} x{item.quantity}" for item in items)
