"""structlog configured once per process: JSON lines carrying the request id.

No secret reaches a log line: values under secret-sounding keys are replaced, and every
string that is logged (messages, fields, rendered tracebacks) is scrubbed of bearer tokens,
JWTs, passwords in URLs and the process's own configured secrets.

Nothing a caller sends can make logging slow: every logged string, list and mapping is cut to a
fixed size first, the scrubbing is linear in what is left (no backtracking patterns: literal
searches and single character classes only), and a rendered line has a size cap.
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
_MIN_SCRUBBED = 4  # literal secrets shorter than this would blank out ordinary words

# Caps: whatever a caller sends, a log line costs bounded work and bounded bytes.
MAX_TEXT = 8_192  # characters of one logged string (the rest is cut, and says so)
MAX_TRACEBACK = 32_768  # characters of a rendered traceback
MAX_KEY = 200  # characters of a key of a logged mapping
MAX_ITEMS = 100  # items of a logged list or mapping
MAX_DEPTH = 6  # nesting of logged lists and mappings
MAX_LINE = 65_536  # characters of one rendered line: beyond, only the event's identity is written
# A string is scrubbed a little beyond its cut, so that a secret across the cut is still found whole.
SCRUB_MARGIN = 4_096
# The fields a line cut down to size keeps.
_IDENTITY = ("timestamp", "level", "event", "service", "request_id", "method", "code", "reason")

_secrets: tuple[str, ...] = ()


class Meter:
    """Counts the characters the scrubber examines. The scrubber only uses primitives whose work is
    the distance they advance (a literal `str.find`, the first character of one class from a
    position, a comparison of a few characters), and adds that distance here: the tests hold the
    count to a small multiple of the input's length, whatever the input."""

    def __init__(self) -> None:
        self.work = 0

    def add(self, characters: int) -> None:
        self.work += max(0, characters) + 1


_NOT_METERED = Meter()
# One character class each: a search for the first match examines every character once.
_SCHEME_CHAR = frozenset("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789+.-")
_USER_END = re.compile(r"[:/@\s]")
_PASSWORD_END = re.compile(r"[/@\s]")
_NOT_SPACE = re.compile(r"\S")
_TOKEN_END = re.compile(r"[^A-Za-z0-9._~+/=-]")
_JWT_PART_END = re.compile(r"[^A-Za-z0-9_-]")
_JWT_CHAR = frozenset("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_-")
_B = re.compile(r"[bB]")
_SCHEMES = ("bearer", "basic")
_WORD_CHAR = frozenset("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_")
_MIN_TOKEN = 8


def _first(pattern: re.Pattern[str], text: str, start: int, meter: Meter) -> int:
    """Index of the first character of the class at or after `start` (len(text) if none)."""
    found = pattern.search(text, start)
    end = found.start() if found else len(text)
    meter.add(end - start)
    return end


def _url_passwords(text: str, meter: Meter) -> list[tuple[int, int]]:
    """Spans of the passwords in scheme://user:password@host (the user stays, the password goes)."""
    spans: list[tuple[int, int]] = []
    pos = 0
    while (mark := text.find("://", pos)) != -1:
        meter.add(mark + 3 - pos)
        pos = mark + 3
        if mark == 0 or text[mark - 1] not in _SCHEME_CHAR:
            continue
        colon = _first(_USER_END, text, pos, meter)
        if colon == len(text) or text[colon] != ":":
            continue
        at = _first(_PASSWORD_END, text, colon + 1, meter)
        if at < len(text) and text[at] == "@":
            spans.append((colon + 1, at))
            pos = at + 1
        else:
            pos = colon + 1  # the next "://" may begin inside what looked like a password
    meter.add(len(text) - pos)
    return spans


def _bearer_tokens(text: str, meter: Meter) -> list[tuple[int, int]]:
    """Spans of the credentials after "Bearer " and "Basic " (any case)."""
    spans: list[tuple[int, int]] = []
    pos = 0
    while (start := _first(_B, text, pos, meter)) < len(text):
        pos = start + 1
        if start > 0 and text[start - 1] in _WORD_CHAR:
            continue
        scheme = next((word for word in _SCHEMES if text[start : start + len(word)].lower() == word), None)
        meter.add(6)
        if scheme is None:
            continue
        spaces = start + len(scheme)
        token = _first(_NOT_SPACE, text, spaces, meter)
        if token == spaces:
            continue
        end = _first(_TOKEN_END, text, token, meter)
        if end - token >= _MIN_TOKEN:
            spans.append((token, end))
            pos = end
        else:
            pos = max(pos, spaces)
    return spans


def _jwts(text: str, meter: Meter) -> list[tuple[int, int]]:
    """Spans of anything shaped like a JWT: eyJ... . ... . ... (three base64url parts)."""
    spans: list[tuple[int, int]] = []
    pos = 0
    while (start := text.find("eyJ", pos)) != -1:
        meter.add(start + 3 - pos)
        pos = start + 3
        if start > 0 and text[start - 1] in _JWT_CHAR:
            continue  # inside a run: the run's own start is the only candidate
        end = _first(_JWT_PART_END, text, pos, meter)
        for _ in range(2):
            if end == len(text) or text[end] != ".":
                break
            end = _first(_JWT_PART_END, text, end + 1, meter)
        else:
            spans.append((start, end))
            pos = end
    meter.add(len(text) - pos)
    return spans


def _replace(text: str, spans: list[tuple[int, int]]) -> str:
    if not spans:
        return text
    parts, last = [], 0
    for start, end in sorted(spans):
        if start < last:
            continue
        parts += [text[last:start], REDACTED]
        last = end
    parts.append(text[last:])
    return "".join(parts)


def scrub(text: str, meter: Meter = _NOT_METERED, limit: int = MAX_TEXT) -> str:
    """The text as it may be logged: at most `limit` characters, without bearer tokens, JWTs, URL
    passwords or the process's own secrets. Work is linear in the part of the text it looks at
    (at most limit + SCRUB_MARGIN characters), whatever the text."""
    cut = len(text) > limit
    text = text[: limit + SCRUB_MARGIN]
    text = _replace(text, _url_passwords(text, meter))
    text = _replace(text, _bearer_tokens(text, meter))
    text = _replace(text, _jwts(text, meter))
    for secret in _secrets:
        meter.add(len(text))
        text = text.replace(secret, REDACTED)
    if cut:
        text = f"{text[:limit]}... [cut: the value had more than {limit} characters]"
    return text


def _clean(key: str, value: Any, depth: int = 0) -> Any:
    if _SECRET_KEY.search(key[:MAX_KEY]) and value not in (None, "", b""):
        return REDACTED
    if isinstance(value, str):
        return scrub(value)
    if isinstance(value, bytes | int | float | bool) or value is None:
        return value if not isinstance(value, bytes) or len(value) <= MAX_TEXT else value[:MAX_TEXT]
    if depth >= MAX_DEPTH:
        return "[nested too deep]"
    if isinstance(value, dict):
        items = list(value.items())
        cleaned = {scrub(str(k), limit=MAX_KEY): _clean(str(k)[:MAX_KEY], v, depth + 1) for k, v in items[:MAX_ITEMS]}
        if len(items) > MAX_ITEMS:
            cleaned["..."] = f"{len(items) - MAX_ITEMS} more"
        return cleaned
    if isinstance(value, list | tuple | set | frozenset):
        items = list(value)
        cleaned_items = [_clean("", item, depth + 1) for item in items[:MAX_ITEMS]]
        if len(items) > MAX_ITEMS:
            cleaned_items.append(f"... {len(items) - MAX_ITEMS} more")
        return cleaned_items
    # Anything else is rendered with repr() by the JSON renderer: scrub that rendering.
    return scrub(repr(value))


def _add_request_id(_: Any, __: str, event: dict[str, Any]) -> dict[str, Any]:
    request_id = request_id_var.get()
    if request_id and "request_id" not in event:
        event["request_id"] = request_id
    return event


def _redact(_: Any, __: str, event: dict[str, Any]) -> dict[str, Any]:
    """Runs last before rendering, after tracebacks became text."""
    for key, value in list(event.items()):
        if key == "exception" and isinstance(value, str):
            event[key] = scrub(value, limit=MAX_TRACEBACK)
        elif key == "event":
            event[key] = scrub(value) if isinstance(value, str) else _clean("", value)
        else:
            event[key] = _clean(key, value)
    return event


class _Capped:
    """The renderer, with a cap on the line: a line that would still be longer than MAX_LINE (many
    fields each near their own cap) is written as the event's identity and its length only."""

    def __init__(self, renderer: Any) -> None:
        self.renderer = renderer

    def __call__(self, logger: Any, name: str, event: dict[str, Any]) -> Any:
        line = self.renderer(logger, name, event)
        if len(line) <= MAX_LINE:
            return line
        kept = {key: event[key] for key in _IDENTITY if key in event}
        kept["cut"] = f"the line had {len(line)} characters, more than {MAX_LINE}"
        return self.renderer(logger, name, kept)


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
        _Capped(renderer),
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
