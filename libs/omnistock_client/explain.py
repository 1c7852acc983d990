"""A failed call as one helpful sentence, for a person in a chat or a model using a tool:
"Only 0 of SOFA-VELVET-GREEN are left at Berlin Mitte; Hamburg Altona (255 km) has 2."

The google.rpc details the services attach (field violations, the shortfall with its
alternatives, what was not found) carry everything needed; only location names are looked up."""

from __future__ import annotations

from collections.abc import Mapping

import grpc
from google.rpc import error_details_pb2

from omnistock.common.v1 import common_pb2
from omnistock_platform.grpc.errors import details_of

# How each kind of thing the services may not find (google.rpc.ResourceInfo.resource_type) reads.
NOUNS = {
    "sku": "product with the SKU code",
    "location": "store or warehouse",
    "store": "store",
    "warehouse": "warehouse",
    "reservation": "reservation",
    "order": "order",
    "hold": "hold",
    "task": "task",
}
# Names come from the caller: a sentence repeats at most this much of one.
MAX_NAME = 80


def resource_kind(resource_type: str) -> str:
    """ "sku", "location", ... from a ResourceInfo type, however qualified ("omnistock.inventory.v1.Sku")."""
    return resource_type.rsplit("/", 1)[-1].rsplit(".", 1)[-1].strip().lower()


def not_found_of(error: grpc.aio.AioRpcError) -> tuple[str, str] | None:
    """(kind, name) of what a NOT_FOUND answer says is missing; None for any other answer."""
    if error.code() != grpc.StatusCode.NOT_FOUND:
        return None
    for info in details_of(error, error_details_pb2.ResourceInfo):
        return resource_kind(info.resource_type), info.resource_name
    return "", ""


def missing_sentence(kind: str, name: str) -> str:
    """ "Omnistock has no product with the SKU code SOFA-VELVET-PINK." """
    noun = NOUNS.get(kind, kind.replace("_", " ") or "record")
    shown = name if len(name) <= MAX_NAME else f"{name[:MAX_NAME]}…"
    return f"Omnistock has no {noun} {shown}." if shown else f"Omnistock has no such {noun}."


def shortfall_sentence(shortfall: common_pb2.Shortfall, names: Mapping[str, str]) -> str:
    parts = []
    for line in shortfall.lines:
        where = names.get(line.location_id) or line.location_id
        verb = "is" if line.available == 1 else "are"
        parts.append(f"Only {line.available} of {line.sku} {verb} left at {where} (asked for {line.requested})")
    sentence = "; ".join(parts) or "Not enough stock"
    offers = []
    for alternative in shortfall.alternatives:
        where = alternative.location_name or alternative.location_id
        what = ", ".join(f"{item.quantity} of {item.sku}" for item in alternative.available)
        distance = f" ({alternative.distance_km:.0f} km, location_id {alternative.location_id})"
        offers.append(f"{where}{distance} has {what}")
    if offers:
        return f"{sentence}; {'; '.join(offers)}."
    return f"{sentence}. No other location nearby has it for pickup."


def shortfall_of(error: grpc.aio.AioRpcError) -> common_pb2.Shortfall | None:
    found = details_of(error, common_pb2.Shortfall)
    return found[0] if found else None


def short_locations(error: grpc.aio.AioRpcError) -> list[str]:
    shortfall = shortfall_of(error)
    return [line.location_id for line in shortfall.lines] if shortfall else []


def explain(error: grpc.aio.AioRpcError, names: Mapping[str, str] | None = None) -> str:
    """The error as a sentence; `names` maps location ids to names for shortfalls."""
    code = error.code()
    message = (error.details() or "").rstrip(".")
    shortfall = shortfall_of(error)
    if shortfall is not None:
        return shortfall_sentence(shortfall, names or {})
    if code == grpc.StatusCode.INVALID_ARGUMENT:
        violations = [
            f"{violation.field} {violation.description}".strip()
            for bad in details_of(error, error_details_pb2.BadRequest)
            for violation in bad.field_violations
        ]
        return f"The request was not accepted: {'; '.join(violations) or message}."
    missing = not_found_of(error)
    if missing is not None:
        return missing_sentence(*missing) if any(missing) else f"Not found: {message}."
    if code == grpc.StatusCode.FAILED_PRECONDITION:
        return f"That is not possible now: {message}."
    if code == grpc.StatusCode.PERMISSION_DENIED:
        return f"This caller may not do that: {message}."
    if code == grpc.StatusCode.UNAUTHENTICATED:
        return f"Omnistock refused the credentials ({message}); the token may have expired or be signed wrongly."
    if code in (grpc.StatusCode.UNAVAILABLE, grpc.StatusCode.DEADLINE_EXCEEDED):
        return f"Omnistock did not answer in time ({message or code.name}); it is safe to retry the same call."
    if code == grpc.StatusCode.ABORTED:
        return f"Another change got there first ({message}); it is safe to retry the same call."
    return f"Omnistock could not do that ({code.name}): {message}."
