"""The errors a use case may raise. Plain Python: the gRPC layer maps them to
status codes with google.rpc details (see omnistock_platform.grpc.errors)."""

from __future__ import annotations

from dataclasses import dataclass, field


class OmnistockError(Exception):
    """Base of every error that is the caller's to see."""

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


@dataclass(frozen=True)
class FieldViolation:
    field: str
    description: str


class InvalidArgument(OmnistockError):
    def __init__(self, violations: list[FieldViolation] | FieldViolation, message: str = "") -> None:
        self.violations = [violations] if isinstance(violations, FieldViolation) else list(violations)
        summary = "; ".join(f"{v.field}: {v.description}" for v in self.violations)
        super().__init__(message or f"invalid request: {summary}")

    @classmethod
    def of(cls, field_name: str, description: str) -> InvalidArgument:
        return cls(FieldViolation(field_name, description))


class NotFound(OmnistockError):
    def __init__(self, kind: str, key: str) -> None:
        self.kind = kind
        self.key = key
        super().__init__(f"{kind} {key!r} not found")


class AlreadyExists(OmnistockError):
    pass


@dataclass(frozen=True)
class PreconditionViolation:
    type: str
    subject: str
    description: str


class FailedPrecondition(OmnistockError):
    def __init__(self, message: str, violations: list[PreconditionViolation] | None = None) -> None:
        self.violations = violations or []
        super().__init__(message)


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

    def __init__(self, lines: list[ShortLine], alternatives: list[Alternative] | None = None) -> None:
        self.lines = lines
        self.alternatives = alternatives or []
        described = ", ".join(
            f"{line.sku} at {line.location_id}: requested {line.requested}, available {line.available}"
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
    def __init__(self, request_id: str) -> None:
        super().__init__(
            f"request_id {request_id!r} was already used for a different request",
            [PreconditionViolation("IDEMPOTENCY", request_id, "request_id reused with different parameters")],
        )


class Aborted(OmnistockError):
    """A lost race: the caller may retry with the same request id."""


class DeadlineExceeded(OmnistockError):
    """No answer within the call's deadline (the caller's, or the service's default)."""


class PermissionDenied(OmnistockError):
    pass


class Unauthenticated(OmnistockError):
    pass


class ResourceExhausted(OmnistockError):
    def __init__(self, message: str, retry_after_seconds: float = 1.0) -> None:
        self.retry_after_seconds = retry_after_seconds
        super().__init__(message)


class Unavailable(OmnistockError):
    def __init__(self, message: str, retry_after_seconds: float = 1.0) -> None:
        self.retry_after_seconds = retry_after_seconds
        super().__init__(message)
