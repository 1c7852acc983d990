"""structlog configured once per process: JSON lines carrying the request id.

No secret reaches a log line: values under secret-sounding keys are replaced, and every
string that is logged (messages, fields, rendered tracebacks) is scrubbed of bearer tokens,
JWTs, passwords in URLs and the process's own configured secrets.
"""

from __future__ import annotations

import logging
import re
import sys
from collections.abc import Iterable
from contextvars import ContextVar
from typing import Any, TextIO
from urllib.parse import urlsplit

import structlog

request_id_var: ContextVar[str] = ContextVar("request_id", default="")

REDACTED = "[redacted]"
_SECRET_KEY = re.compile(r"authorization|token|password|passwd|secret|api_?key|credential|private_key", re.IGNORECASE)
_BEARER = re.compile(r"(?i)\b(bearer|basic)\s+[A-Za-z0-9._~+/=-]{8,}")
_JWT = re.compile(r"\beyJ[A-Za-z0-9_-]*\.[A-Za-z0-9_-]*\.[A-Za-z0-9_-]*")
# scheme://user:password@host: the user stays, the password goes.
_URL_PASSWORD = re.compile(r"(?P<head>[A-Za-z][A-Za-z0-9+.-]*://[^:/@\s]*:)(?P<password>[^@\s]*)@")
_MIN_SCRUBBED = 4  # literal secrets shorter than this would blank out ordinary words

_secrets: tuple[str, ...] = ()


def _scrub(text: str) -> str:
    text = _URL_PASSWORD.sub(lambda m: f"{m.group('head')}{REDACTED}@", text)
    text = _BEARER.sub(lambda m: f"{m.group(1)} {REDACTED}", text)
    text = _JWT.sub(REDACTED, text)
    for secret in _secrets:
        text = text.replace(secret, REDACTED)
    return text


def _clean(key: str, value: Any) -> Any:
    if _SECRET_KEY.search(key) and value not in (None, "", b""):
        return REDACTED
    if isinstance(value, str):
        return _scrub(value)
    if isinstance(value, dict):
        return {k: _clean(str(k), v) for k, v in value.items()}
    if isinstance(value, list | tuple | set | frozenset):
        return [_clean("", item) for item in value]
    if isinstance(value, bytes | int | float | bool) or value is None:
        return value
    # Anything else is rendered with repr() by the JSON renderer: scrub that rendering.
    return _scrub(repr(value))


def _add_request_id(_: Any, __: str, event: dict[str, Any]) -> dict[str, Any]:
    request_id = request_id_var.get()
    if request_id and "request_id" not in event:
        event["request_id"] = request_id
    return event


def _redact(_: Any, __: str, event: dict[str, Any]) -> dict[str, Any]:
    """Runs last before rendering, after tracebacks became text."""
    for key, value in list(event.items()):
        if key in ("event", "exception"):
            event[key] = _scrub(value) if isinstance(value, str) else _clean("", value)
        else:
            event[key] = _clean(key, value)
    return event


def secrets_of(values: Iterable[str | None]) -> list[str]:
    """The literal secrets to scrub: given values, and the passwords inside any URLs among them."""
    found: list[str] = []
    for value in values:
        if not value:
            continue
        if "://" in value:
            try:
                password = urlsplit(value).password
            except ValueError:
                password = None
            if password:
                found.append(password)
        else:
            found.append(value)
    return [secret for secret in found if len(secret) >= _MIN_SCRUBBED]


def configure_logging(
    level: str = "INFO",
    json: bool = True,
    service: str = "",
    *,
    secrets: Iterable[str | None] = (),
    stream: TextIO | None = None,
) -> None:
    """`secrets`: values never to print (the JWT secret, connection URLs: their passwords)."""
    global _secrets
    _secrets = tuple(sorted(set(secrets_of(secrets)), key=len, reverse=True))
    renderer: Any = structlog.processors.JSONRenderer() if json else structlog.dev.ConsoleRenderer()
    processors: list[Any] = [
        structlog.contextvars.merge_contextvars,
        _add_request_id,
        structlog.processors.add_log_level,
        structlog.processors.TimeStamper(fmt="iso", utc=True),
        structlog.processors.format_exc_info,
        _redact,
        renderer,
    ]
    structlog.configure(
        processors=processors,
        wrapper_class=structlog.make_filtering_bound_logger(logging.getLevelName(level.upper())),
        logger_factory=structlog.PrintLoggerFactory(file=stream or sys.stderr),
        cache_logger_on_first_use=True,
    )
    if service:
        structlog.contextvars.bind_contextvars(service=service)


def get_logger(name: str) -> structlog.typing.FilteringBoundLogger:
    return structlog.get_logger(name)  # type: ignore[no-any-return]
