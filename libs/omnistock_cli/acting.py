"""The one form of a command that acts for a caller: after its own arguments it takes
`--request-id` (a write), `--role` (its help naming the command's default role), `--works-at`,
`--token` and `--json`, and the command body gets them as one `Call`, so that it is only its
request and its output:

    @acting(Role.ADMIN)
    def cancel(return_id: ReturnArgument, reason: ReasonOption = "", *, call: Call) -> None:
        request = pb.CancelReturnRequest(request_id=call.request_id, return_id=return_id, reason=reason)
        found = call.ask(lambda client: client.orders.CancelReturn, request).order_return
        call.emit(data(found), render=return_card(found, f"Return {found.return_id} cancelled"))

Staff (pos, warehouse) act at a location: `ask(..., at=[...])` when the command names it,
`ask(..., locate=...)` when only the record knows it (read first as admin)."""

from __future__ import annotations

import functools
import inspect
from collections.abc import Awaitable, Callable, Iterable, Sequence
from dataclasses import dataclass, field, replace
from typing import Any, TypeVar

from google.protobuf.message import Message
from omnistock_client import OmnistockClient, new_request_id
from omnistock_client.clock import Zones

from omnistock_cli.commands import (
    AdminRoleOption,
    ChatAgentRoleOption,
    PosRoleOption,
    RequestIdOption,
    WarehouseRoleOption,
    caller,
)
from omnistock_cli.context import ADMIN, Caller, JsonOption, TokenOption, WorksAtOption, call_services
from omnistock_cli.failures import STAFF_OPTION
from omnistock_cli.output import emit
from omnistock_platform.auth import Role

T = TypeVar("T")
Reply = TypeVar("Reply")
Command = Callable[..., None]

# --role with its help naming the default it stands for.
ROLE_OPTIONS: dict[Role, Any] = {
    Role.ADMIN: AdminRoleOption,
    Role.CHAT_AGENT: ChatAgentRoleOption,
    Role.POS: PosRoleOption,
    Role.WAREHOUSE: WarehouseRoleOption,
}
STAFF = (Role.POS, Role.WAREHOUSE)
# Each location's time zone, read once for every command this process runs.
ZONES = Zones()


@dataclass(frozen=True)
class Call:
    """Who a command calls as, the key its write is done once by, and how it prints."""

    default: Role
    role: Role | None = None
    works_at: list[str] | None = None
    token: str | None = None
    as_json: bool = False
    # --request-id, or a new one: made once, so a retry within the command sends the same.
    request_id: str = field(default_factory=new_request_id)

    def defaulting(self, role: Role) -> Call:
        """The same call with another default role, for a command whose default follows its
        arguments (pos for a carry-out, for instance)."""
        return replace(self, default=role)

    def working_at(self, location: str | None) -> Call:
        """The same call with the caller's token naming `location` (when given) whatever its role,
        as --works-at would: for a list filtered by a location."""
        return replace(self, works_at=[location]) if location else self

    def who(self, *, at: Sequence[str] = ()) -> Caller:
        """The caller: the default role (staff scoped to `at`) unless --role, --works-at or a token
        say otherwise."""
        return caller(self.default, self.role, self.works_at, self.token, at=at)

    def run(self, work: Callable[[OmnistockClient], Awaitable[T]], *, at: Sequence[str] = ()) -> T:
        """`work(client)` as the caller (`who`)."""
        return call_services(work, self.who(at=at), as_json=self.as_json)

    def locate(self, where: Callable[[OmnistockClient], Awaitable[str]]) -> list[str]:
        """Where staff act when only a record knows it: `where(client)` read as admin, unless the
        caller was chosen (a token, --works-at) or is no staff."""
        if self.token or self.works_at or (self.role or self.default) not in STAFF:
            return []
        return [call_services(where, ADMIN, as_json=self.as_json)]

    def ask(
        self,
        method: Callable[[OmnistockClient], Callable[..., Awaitable[Reply]]],
        request: Message,
        *,
        at: Sequence[str] = (),
        locate: Callable[[OmnistockClient], Awaitable[str]] | None = None,
    ) -> Reply:
        """One RPC, `method(client)` (e.g. `lambda client: client.orders.CancelReturn`) with
        `request`, as the caller; its reply."""

        async def work(client: OmnistockClient) -> Reply:
            return await client.call(method(client), request)

        return self.run(work, at=[*at, *(self.locate(locate) if locate is not None else [])])

    def zones(self, location_ids: Iterable[str]) -> dict[str, str]:
        """Each location's time zone ("" for UTC), for printing its moments on its clock; none are read
        for --json (it gives the instants)."""
        wanted = sorted({location_id for location_id in location_ids if location_id})
        if self.as_json or not wanted:
            return {}
        known = ZONES.known(wanted)
        if known is not None:
            return known
        return self.run(lambda client: ZONES.of(client, wanted), at=wanted)

    def zone(self, location_id: str) -> str:
        return self.zones([location_id]).get(location_id, "")

    def emit(self, payload: Any, *, render: Any, wide: bool = False) -> None:
        emit(payload, as_json=self.as_json, render=render, wide=wide)


def acting(
    default: Role,
    *,
    writes: bool = True,
    works_at: bool = True,
    role: Any = None,
    after: Sequence[str] = (),
) -> Callable[[Command], Command]:
    """The command's shared options after its own, in this order: --request-id (when it `writes`),
    --role (help naming `default`, or the command's own `role` option when its default is no
    single role), --works-at (unless the command names the location itself), --token, --json.
    The command's own options named in `after` (e.g. `wide`) stand after them. The command takes
    the shared ones as its keyword `call: Call`."""
    shared = [
        *([("request_id", RequestIdOption, None)] if writes else []),
        ("role", role if role is not None else ROLE_OPTIONS[default], None),
        *([("works_at", WorksAtOption, None)] if works_at else []),
        ("token", TokenOption, None),
        ("as_json", JsonOption, False),
    ]

    def decorate(command: Command) -> Command:
        signature = inspect.signature(command, eval_str=True)
        own = [parameter for name, parameter in signature.parameters.items() if name != "call"]
        last = [parameter.replace(kind=inspect.Parameter.KEYWORD_ONLY) for parameter in own if parameter.name in after]
        options = [
            inspect.Parameter(name, inspect.Parameter.KEYWORD_ONLY, annotation=annotation, default=value)
            for name, annotation, value in shared
        ]

        @functools.wraps(command)
        def run(**given: Any) -> None:
            named = {name: given.pop(name, value) for name, _, value in shared}
            call = Call(
                default,
                role=named["role"],
                works_at=named.get("works_at"),
                token=named["token"],
                as_json=named["as_json"],
                request_id=named.get("request_id") or new_request_id(),
            )
            # A refusal's hint names the option this command has for where staff work, if any.
            chosen = STAFF_OPTION.set("--works-at" if works_at else "")
            try:
                command(**given, call=call)
            finally:
                STAFF_OPTION.reset(chosen)

        parameters = [*(parameter for parameter in own if parameter.name not in after), *options, *last]
        run.__signature__ = signature.replace(parameters=parameters, return_annotation=None)  # type: ignore[attr-defined]
        run.__annotations__ = {parameter.name: parameter.annotation for parameter in parameters} | {"return": None}
        return run

    return decorate
