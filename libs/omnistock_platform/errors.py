"""The errors a use case may raise. Plain Python: the gRPC layer maps them to
status codes with google.rpc details (see omnistock_platform.grpc.errors).

Every error carries a `Reason`: the stable, machine-readable word a client branches on
(`google.rpc.ErrorInfo.reason`). Each error class names the reasons it may carry, its default
first; `docs/errors.md` has the table, and a test holds it to the classes.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import StrEnum
from typing import ClassVar


class Reason(StrEnum):
    """Stable reasons of refused calls. Never renamed: clients branch on them."""

    FIELD_INVALID = "FIELD_INVALID"
    REQUEST_MALFORMED = "REQUEST_MALFORMED"
    RESOURCE_NOT_FOUND = "RESOURCE_NOT_FOUND"
    ALREADY_EXISTS = "ALREADY_EXISTS"
    PRECONDITION_FAILED = "PRECONDITION_FAILED"
    INVALID_STATE = "INVALID_STATE"
    INSUFFICIENT_STOCK = "INSUFFICIENT_STOCK"
    STOCK_NOT_ON_HAND = "STOCK_NOT_ON_HAND"
    LIMIT_REACHED = "LIMIT_REACHED"
    REQUEST_ID_REUSED = "REQUEST_ID_REUSED"
    CONFLICT = "CONFLICT"
    REQUEST_IN_PROGRESS = "REQUEST_IN_PROGRESS"
    STREAM_INTERRUPTED = "STREAM_INTERRUPTED"
    DEADLINE_EXCEEDED = "DEADLINE_EXCEEDED"
    ROLE_NOT_ALLOWED = "ROLE_NOT_ALLOWED"
    LOCATION_NOT_ALLOWED = "LOCATION_NOT_ALLOWED"
    ACTION_NOT_ALLOWED = "ACTION_NOT_ALLOWED"
    TOKEN_MISSING = "TOKEN_MISSING"
    TOKEN_INVALID = "TOKEN_INVALID"
    TOKEN_EXPIRED = "TOKEN_EXPIRED"
    CONCURRENCY_LIMIT = "CONCURRENCY_LIMIT"
    STREAM_LIMIT = "STREAM_LIMIT"
    SERVICE_UNAVAILABLE = "SERVICE_UNAVAILABLE"
    DATABASE_UNAVAILABLE = "DATABASE_UNAVAILABLE"
    NOT_READY = "NOT_READY"
    # Not an OmnistockError: what the interceptor answers for a bug (INTERNAL).
    INTERNAL_ERROR = "INTERNAL_ERROR"


class OmnistockError(Exception):
    """Base of every error that is the caller's to see."""

    # The reasons this kind of error may carry; the first is its default.
    reasons: ClassVar[tuple[Reason, ...]] = ()

    def __init__(self, message: str, *, reason: Reason | None = None) -> None:
        super().__init__(message)
        self.message = message
        chosen = reason or self.reasons[0]
        if chosen not in self.reasons:
            raise ValueError(f"{type(self).__name__} cannot carry reason {chosen}")
        self.reason = chosen


@dataclass(frozen=True)
class FieldViolation:
    field: str
    description: str


class InvalidArgument(OmnistockError):
    reasons: ClassVar[tuple[Reason, ...]] = (Reason.FIELD_INVALID, Reason.REQUEST_MALFORMED)

    def __init__(
        self, violations: list[FieldViolation] | FieldViolation, message: str = "", *, reason: Reason | None = None
    ) -> None:
        self.violations = [violations] if isinstance(violations, FieldViolation) else list(violations)
        summary = "; ".join(f"{v.field}: {v.description}" for v in self.violations)
        super().__init__(message or f"invalid request: {summary}", reason=reason)

    @classmethod
    def of(cls, field_name: str, description: str) -> InvalidArgument:
        return cls(FieldViolation(field_name, description))


class NotFound(OmnistockError):
    """`kind` and `key` travel as google.rpc.ResourceInfo (resource_type, resource_name); `field`,
    when the missing thing was named by a request field, as its description."""

    reasons: ClassVar[tuple[Reason, ...]] = (Reason.RESOURCE_NOT_FOUND,)

    def __init__(self, kind: str, key: str, *, field: str = "", message: str = "") -> None:
        self.kind = kind
        self.key = key
        self.field = field
        super().__init__(message or f"{kind} {key!r} not found")


class AlreadyExists(OmnistockError):
    reasons: ClassVar[tuple[Reason, ...]] = (Reason.ALREADY_EXISTS,)


@dataclass(frozen=True)
class PreconditionViolation:
    type: str
    subject: str
    description: str


class FailedPrecondition(OmnistockError):
    reasons: ClassVar[tuple[Reason, ...]] = (
        Reason.PRECONDITION_FAILED,
        Reason.INVALID_STATE,
        Reason.INSUFFICIENT_STOCK,
        Reason.STOCK_NOT_ON_HAND,
        Reason.LIMIT_REACHED,
        Reason.REQUEST_ID_REUSED,
    )

    def __init__(
        self, message: str, violations: list[PreconditionViolation] | None = None, *, reason: Reason | None = None
    ) -> None:
        self.violations = violations or []
        super().__init__(message, reason=reason)


@dataclass(frozen=True)
class ShortLine:
    location_id: str
    sku: str
    requested: int
    available: int


@dataclass(frozen=True)
class Alternative:
    location_id: str
    location_name: str
    city: str
    distance_km: float
    available: dict[str, int] = field(default_factory=dict)


class Shortfall(FailedPrecondition):
    """Not enough stock: which lines were short, and where else it could be had."""

    reasons: ClassVar[tuple[Reason, ...]] = (Reason.INSUFFICIENT_STOCK,)

    def __init__(self, lines: list[ShortLine], alternatives: list[Alternative] | None = None) -> None:
        self.lines = lines
        self.alternatives = alternatives or []
        described = ", ".join(
            f"{line.sku} at {line.location_id or 'any location'}: requested {line.requested},"
            f" available {line.available}"
            for line in lines
        )
        super().__init__(
            f"not enough stock: {described}",
            [
                PreconditionViolation(
                    type="STOCK",
                    subject=f"{line.location_id}/{line.sku}",
                    description=f"requested {line.requested}, available {line.available}",
                )
                for line in lines
            ],
        )

    def with_alternatives(self, alternatives: list[Alternative]) -> Shortfall:
        return Shortfall(self.lines, alternatives)


class IdempotencyMismatch(FailedPrecondition):
    """The request id is taken: by a different request, or by another caller (whose answer is theirs)."""

    reasons: ClassVar[tuple[Reason, ...]] = (Reason.REQUEST_ID_REUSED,)

    def __init__(self, request_id: str) -> None:
        super().__init__(
            f"request_id {request_id!r} was already used for a different request",
            [PreconditionViolation("IDEMPOTENCY", request_id, "request_id reused with different parameters")],
        )


class Aborted(OmnistockError):
    """A lost race, or the same request being handled by another call: the caller may retry with the
    same request id (google.rpc.RetryInfo says when)."""

    reasons: ClassVar[tuple[Reason, ...]] = (Reason.CONFLICT, Reason.REQUEST_IN_PROGRESS, Reason.STREAM_INTERRUPTED)

    def __init__(self, message: str, retry_after_seconds: float = 0.1, *, reason: Reason | None = None) -> None:
        self.retry_after_seconds = retry_after_seconds
        super().__init__(message, reason=reason)


class DeadlineExceeded(OmnistockError):
    """No answer within the call's deadline (the caller's, or the service's default)."""

    reasons: ClassVar[tuple[Reason, ...]] = (Reason.DEADLINE_EXCEEDED,)


class PermissionDenied(OmnistockError):
    reasons: ClassVar[tuple[Reason, ...]] = (
        Reason.ROLE_NOT_ALLOWED,
        Reason.LOCATION_NOT_ALLOWED,
        Reason.ACTION_NOT_ALLOWED,
    )


class Unauthenticated(OmnistockError):
    reasons: ClassVar[tuple[Reason, ...]] = (Reason.TOKEN_INVALID, Reason.TOKEN_MISSING, Reason.TOKEN_EXPIRED)


class ResourceExhausted(OmnistockError):
    reasons: ClassVar[tuple[Reason, ...]] = (Reason.CONCURRENCY_LIMIT, Reason.STREAM_LIMIT)

    def __init__(self, message: str, retry_after_seconds: float = 1.0, *, reason: Reason | None = None) -> None:
        self.retry_after_seconds = retry_after_seconds
        super().__init__(message, reason=reason)


class Unavailable(OmnistockError):
    reasons: ClassVar[tuple[Reason, ...]] = (Reason.SERVICE_UNAVAILABLE, Reason.DATABASE_UNAVAILABLE, Reason.NOT_READY)

    def __init__(self, message: str, retry_after_seconds: float = 1.0, *, reason: Reason | None = None) -> None:
        self.retry_after_seconds = retry_after_seconds
        super().__init__(message, reason=reason)
