"""The one mapping from Omnistock errors to gRPC status with google.rpc details."""

from __future__ import annotations

from typing import TypeVar

import grpc
from google.protobuf import any_pb2, duration_pb2
from google.protobuf.message import Message
from google.rpc import code_pb2, error_details_pb2, status_pb2
from grpc_status import rpc_status

from omnistock.common.v1 import common_pb2
from omnistock_platform import errors

_CODES: list[tuple[type[errors.OmnistockError], int]] = [
    (errors.InvalidArgument, code_pb2.INVALID_ARGUMENT),
    (errors.NotFound, code_pb2.NOT_FOUND),
    (errors.AlreadyExists, code_pb2.ALREADY_EXISTS),
    (errors.FailedPrecondition, code_pb2.FAILED_PRECONDITION),
    (errors.Aborted, code_pb2.ABORTED),
    (errors.PermissionDenied, code_pb2.PERMISSION_DENIED),
    (errors.Unauthenticated, code_pb2.UNAUTHENTICATED),
    (errors.ResourceExhausted, code_pb2.RESOURCE_EXHAUSTED),
    (errors.Unavailable, code_pb2.UNAVAILABLE),
    (errors.DeadlineExceeded, code_pb2.DEADLINE_EXCEEDED),
]


def _pack(message: object) -> any_pb2.Any:
    packed = any_pb2.Any()
    packed.Pack(message)  # type: ignore[arg-type]
    return packed


def error_domain(service: str) -> str:
    """google.rpc.ErrorInfo.domain of a service's errors."""
    return f"omnistock.{service}" if service else "omnistock"


def _details(error: errors.OmnistockError, service: str) -> list[any_pb2.Any]:
    details: list[any_pb2.Any] = [_pack(error_details_pb2.ErrorInfo(reason=error.reason, domain=error_domain(service)))]
    if isinstance(error, errors.InvalidArgument):
        details.append(
            _pack(
                error_details_pb2.BadRequest(
                    field_violations=[
                        error_details_pb2.BadRequest.FieldViolation(field=v.field, description=v.description)
                        for v in error.violations
                    ]
                )
            )
        )
    if isinstance(error, errors.FailedPrecondition) and error.violations:
        details.append(
            _pack(
                error_details_pb2.PreconditionFailure(
                    violations=[
                        error_details_pb2.PreconditionFailure.Violation(
                            type=v.type, subject=v.subject, description=v.description
                        )
                        for v in error.violations
                    ]
                )
            )
        )
    if isinstance(error, errors.Shortfall):
        details.append(_pack(shortfall_message(error)))
    if isinstance(error, errors.NotFound):
        details.append(
            _pack(
                error_details_pb2.ResourceInfo(
                    resource_type=error.kind, resource_name=error.key, description=error.field
                )
            )
        )
    if isinstance(error, errors.ResourceExhausted | errors.Unavailable | errors.Aborted):
        delay = duration_pb2.Duration()
        delay.FromMilliseconds(int(error.retry_after_seconds * 1000))
        details.append(_pack(error_details_pb2.RetryInfo(retry_delay=delay)))
    return details


def shortfall_message(error: errors.Shortfall) -> common_pb2.Shortfall:
    return common_pb2.Shortfall(
        lines=[
            common_pb2.ShortLine(
                location_id=line.location_id, sku=line.sku, requested=line.requested, available=line.available
            )
            for line in error.lines
        ],
        alternatives=[
            common_pb2.Alternative(
                location_id=alt.location_id,
                location_name=alt.location_name,
                city=alt.city,
                distance_km=alt.distance_km,
                available=[common_pb2.SkuQuantity(sku=sku, quantity=qty) for sku, qty in sorted(alt.available.items())],
            )
            for alt in error.alternatives
        ],
    )


def code_of(kind: type[errors.OmnistockError]) -> grpc.StatusCode:
    """The gRPC status code every error of this kind is answered with."""
    code = next(code for base, code in _CODES if issubclass(kind, base))
    return next(status for status in grpc.StatusCode if status.value[0] == code)


def to_status(error: errors.OmnistockError, service: str = "") -> grpc.Status:
    """The status a service answers with; `service` names the ErrorInfo domain (omnistock.<service>)."""
    code = next(code for kind, code in _CODES if isinstance(error, kind))
    status = status_pb2.Status(code=code, message=error.message, details=_details(error, service))
    return rpc_status.to_status(status)


def internal_status(request_id: str, service: str = "") -> grpc.Status:
    info = error_details_pb2.ErrorInfo(reason=errors.Reason.INTERNAL_ERROR, domain=error_domain(service))
    return rpc_status.to_status(
        status_pb2.Status(
            code=code_pb2.INTERNAL, message=f"internal error; quote request id {request_id}", details=[_pack(info)]
        )
    )


DetailT = TypeVar("DetailT", bound=Message)


def details_of(error: grpc.aio.AioRpcError, detail_type: type[DetailT]) -> list[DetailT]:
    """The google.rpc details of a failed call that are of one message type (for clients and tests)."""
    found: list[DetailT] = []
    for key, value in error.trailing_metadata() or ():
        if key != "grpc-status-details-bin":
            continue
        status = status_pb2.Status.FromString(value if isinstance(value, bytes) else value.encode())
        for detail in status.details:
            if detail.Is(detail_type.DESCRIPTOR):
                message = detail_type()
                detail.Unpack(message)
                found.append(message)
    return found


def error_from_rpc(error: grpc.aio.AioRpcError) -> errors.OmnistockError | None:
    """Rebuild an Omnistock error from a downstream call, so it can travel on unchanged (its reason
    included, when the kind of error may carry it)."""
    rebuilt = _rebuilt(error)
    if rebuilt is not None:
        infos = details_of(error, error_details_pb2.ErrorInfo)
        reason = infos[0].reason if infos else ""
        if reason in errors.Reason.__members__ and errors.Reason(reason) in rebuilt.reasons:
            rebuilt.reason = errors.Reason(reason)
    return rebuilt


def _retry_after(error: grpc.aio.AioRpcError, default: float) -> float:
    infos = details_of(error, error_details_pb2.RetryInfo)
    return infos[0].retry_delay.ToTimedelta().total_seconds() if infos else default


def _rebuilt(error: grpc.aio.AioRpcError) -> errors.OmnistockError | None:
    code = error.code()
    message = error.details() or ""
    if code == grpc.StatusCode.FAILED_PRECONDITION:
        shortfalls = details_of(error, common_pb2.Shortfall)
        if shortfalls:
            detail = shortfalls[0]
            return errors.Shortfall(
                [errors.ShortLine(ln.location_id, ln.sku, ln.requested, ln.available) for ln in detail.lines],
                [
                    errors.Alternative(
                        a.location_id, a.location_name, a.city, a.distance_km, {s.sku: s.quantity for s in a.available}
                    )
                    for a in detail.alternatives
                ],
            )
        # The violations travel on too, so a caller further up sees what the precondition was.
        violations = [
            errors.PreconditionViolation(v.type, v.subject, v.description)
            for failure in details_of(error, error_details_pb2.PreconditionFailure)
            for v in failure.violations
        ]
        infos = details_of(error, error_details_pb2.ErrorInfo)
        if infos and infos[0].reason == errors.Reason.REQUEST_ID_REUSED.value:
            # Told apart from other refusals: a caller that derives request ids learns that another
            # of its changes used this one (see fulfilment's short picks).
            reused = next((v.subject for v in violations if v.type == "IDEMPOTENCY"), "")
            return errors.IdempotencyMismatch(reused)
        return errors.FailedPrecondition(message, violations)
    if code == grpc.StatusCode.ABORTED:
        return errors.Aborted(message, _retry_after(error, 0.1))
    simple: dict[grpc.StatusCode, type[errors.OmnistockError]] = {
        grpc.StatusCode.PERMISSION_DENIED: errors.PermissionDenied,
        grpc.StatusCode.ALREADY_EXISTS: errors.AlreadyExists,
    }
    if code in simple:
        return simple[code](message)
    if code == grpc.StatusCode.INVALID_ARGUMENT:
        field_violations = [
            errors.FieldViolation(v.field, v.description)
            for bad in details_of(error, error_details_pb2.BadRequest)
            for v in bad.field_violations
        ]
        return errors.InvalidArgument(field_violations or [errors.FieldViolation("", message)], message)
    if code == grpc.StatusCode.NOT_FOUND:
        infos = details_of(error, error_details_pb2.ResourceInfo)
        if infos:
            info = infos[0]
            return errors.NotFound(info.resource_type, info.resource_name, field=info.description, message=message)
        return errors.NotFound("resource", message)
    return None
