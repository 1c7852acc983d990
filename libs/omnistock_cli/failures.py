"""A failed call explained in a few lines: the gRPC code, the message and the
google.rpc details (field violations, preconditions, shortfall, alternatives).
Expected failures never end in a traceback."""

from __future__ import annotations

from contextvars import ContextVar
from dataclasses import dataclass, field
from typing import Any

import grpc
from google.rpc import error_details_pb2
from rich.text import Text

from omnistock.common.v1 import common_pb2
from omnistock_platform.grpc.errors import details_of

HINTS: dict[grpc.StatusCode, str] = {
    grpc.StatusCode.UNAVAILABLE: "is the service running? start everything with `omnistock up` (or `make run`)",
    grpc.StatusCode.UNAUTHENTICATED: "the token is missing, expired or signed with another secret "
    "(see OMNISTOCK_TOKEN and OMNISTOCK_JWT_SECRET)",
    grpc.StatusCode.ABORTED: "a race was lost; retrying the same command is safe",
    grpc.StatusCode.DEADLINE_EXCEEDED: "the service did not answer in time; retrying the same command is safe",
}

# The option of the running command that says where store and warehouse staff work ("--works-at"), or
# "" when it has none (the command names the location it acts at itself, or is no caller's command).
STAFF_OPTION: ContextVar[str] = ContextVar("staff_option", default="")


def permission_hint() -> str:
    """What to try on PERMISSION_DENIED, naming only options the running command has."""
    option = STAFF_OPTION.get()
    if option:
        return f"try another --role, or {option} for store and warehouse staff"
    return "try another --role, or --token: store and warehouse staff act only where their token says they work"


@dataclass
class Failure:
    """What went wrong, as data: rendered for people or printed as JSON."""

    code: str
    message: str
    lines: list[str] = field(default_factory=list)
    details: dict[str, Any] = field(default_factory=dict)
    hint: str = ""

    def as_dict(self) -> dict[str, Any]:
        data: dict[str, Any] = {"code": self.code, "message": self.message, **self.details}
        if self.hint:
            data["hint"] = self.hint
        return {"error": data}

    def render(self) -> Text:
        text = Text.assemble((self.code, "bold red"), f": {self.message}")
        for line in self.lines:
            text.append(f"\n  {line}")
        if self.hint:
            text.append(f"\n  hint: {self.hint}", style="dim")
        return text


def from_rpc_error(error: grpc.aio.AioRpcError | grpc.RpcError) -> Failure:
    code = error.code() if hasattr(error, "code") else grpc.StatusCode.UNKNOWN
    message = (error.details() if hasattr(error, "details") else "") or ""
    hint = permission_hint() if code == grpc.StatusCode.PERMISSION_DENIED else HINTS.get(code, "")
    failure = Failure(code=code.name, message=message, hint=hint)
    if not isinstance(error, grpc.aio.AioRpcError):
        return failure
    for bad in details_of(error, error_details_pb2.BadRequest):
        for violation in bad.field_violations:
            failure.lines.append(f"field {violation.field or '(request)'}: {violation.description}")
            failure.details.setdefault("field_violations", []).append(
                {"field": violation.field, "description": violation.description}
            )
    shortfalls = details_of(error, common_pb2.Shortfall)
    for shortfall in shortfalls:
        for line in shortfall.lines:
            failure.lines.append(
                f"short: {line.sku} at {line.location_id or 'any location'}: requested {line.requested},"
                f" available {line.available}"
            )
        for alternative in shortfall.alternatives:
            offer = ", ".join(f"{item.sku} x{item.quantity}" for item in alternative.available)
            where = f"{alternative.location_name or alternative.location_id} ({alternative.location_id})"
            city = f", {alternative.city}" if alternative.city else ""
            failure.lines.append(f"alternative: {where}{city}, {alternative.distance_km:.1f} km: {offer}")
        failure.details["shortfall"] = {
            "lines": [
                {"location_id": ln.location_id, "sku": ln.sku, "requested": ln.requested, "available": ln.available}
                for ln in shortfall.lines
            ],
            "alternatives": [
                {
                    "location_id": alt.location_id,
                    "location_name": alt.location_name,
                    "city": alt.city,
                    "distance_km": alt.distance_km,
                    "available": {item.sku: item.quantity for item in alt.available},
                }
                for alt in shortfall.alternatives
            ],
        }
    if not shortfalls:  # a shortfall already says the same as its precondition violations
        for precondition in details_of(error, error_details_pb2.PreconditionFailure):
            for v in precondition.violations:
                failure.lines.append(f"precondition {v.type} {v.subject}: {v.description}")
                failure.details.setdefault("precondition_violations", []).append(
                    {"type": v.type, "subject": v.subject, "description": v.description}
                )
    for info in details_of(error, error_details_pb2.ResourceInfo):
        failure.details["resource"] = {"type": info.resource_type, "name": info.resource_name}
    for retry in details_of(error, error_details_pb2.RetryInfo):
        seconds = retry.retry_delay.ToTimedelta().total_seconds()
        failure.lines.append(f"retry after {seconds:g} s")
        failure.details["retry_after_seconds"] = seconds
    return failure
