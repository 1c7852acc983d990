"""What a subscription may say: its URL, its event types, its retry budget; and its secret."""

from __future__ import annotations

import base64
import re
import secrets
from collections.abc import Iterable, Sequence
from urllib.parse import urlsplit

from omnistock_platform.events.catalogue import matches
from omnistock_platform.validation import Validator
from omnistock_webhooks.domain.networks import AllowedNetworks, literal_address

MAX_URL = 2048
MAX_EVENT_TYPES = 50
MAX_PATTERN = 128
MAX_ATTEMPTS = 100
SECRET_PREFIX = "whsec_"
SECRET_BYTES = 32
_LABEL = re.compile(r"[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?")
# A last label like these is read as (part of) an IPv4 address by inet_aton: 127.1, 2130706433, 0x7f.1.
_NUMERIC_LABEL = re.compile(r"(?:0x[0-9a-f]*|[0-9]+)")
_TOKEN = re.compile(r"[a-z0-9_]+|\*|>")
_WHITESPACE_OR_CONTROL = re.compile(r"[\x00-\x20\x7f]")
LOCAL_NAMES = ("localhost",)


def check_url(check: Validator, field: str, url: str, networks: AllowedNetworks, require_https: bool) -> None:
    """Every way a URL can be refused, without resolving its host: an IP literal must be in an allowed
    network, a name is checked again on every address it resolves to when a delivery connects."""
    if not url:
        check.fail(field, "is required")
        return
    if len(url) > MAX_URL:
        check.fail(field, f"must be at most {MAX_URL} characters")
        return
    if _WHITESPACE_OR_CONTROL.search(url) or not url.isascii():
        check.fail(field, "must be ASCII without spaces or control characters (percent-encode the rest)")
        return
    try:
        parts = urlsplit(url)
        port = parts.port
    except ValueError as error:
        check.fail(field, f"is not a URL: {error}")
        return
    schemes = ("https",) if require_https else ("http", "https")
    if parts.scheme.lower() not in schemes:
        check.fail(field, f"must start with {' or '.join(s + '://' for s in schemes)}")
        return
    if parts.username is not None or parts.password is not None:
        check.fail(field, "must not carry a user name or password (they would be logged and sent in clear)")
        return
    if parts.fragment or url.endswith("#"):
        check.fail(field, "must not have a fragment (#...)")
        return
    if port == 0:
        check.fail(field, "must not name port 0")
        return
    host = (parts.hostname or "").lower()
    if not host:
        check.fail(field, "must name a host")
        return
    address = literal_address(host)
    if address is not None:
        if not networks.allows(address):
            check.fail(field, f"names {address}, outside the networks deliveries may reach ({networks.describe()})")
        return
    if not _is_host_name(host):
        check.fail(field, f"names {host!r}, which is neither a host name nor an IP address")
        return
    if (host in LOCAL_NAMES or host.endswith(".localhost")) and not networks.loopback:
        check.fail(field, f"names {host}, a loopback host, outside the networks deliveries may reach")


def _is_host_name(host: str) -> bool:
    name = host[:-1] if host.endswith(".") else host
    labels = name.split(".")
    if not name or len(name) > 253 or not all(_LABEL.fullmatch(label) for label in labels):
        return False
    return not _NUMERIC_LABEL.fullmatch(labels[-1])


def check_event_types(check: Validator, field: str, patterns: Sequence[str], known: Iterable[str]) -> list[str]:
    """The patterns, each once, in the order given; each must match some event type of the catalogue."""
    known = list(known)
    if not patterns:
        check.fail(field, 'needs at least one event type or pattern (">" for every event)')
        return []
    if len(patterns) > MAX_EVENT_TYPES:
        check.fail(field, f"must name at most {MAX_EVENT_TYPES} event types")
        return []
    kept: list[str] = []
    for index, pattern in enumerate(patterns):
        where = f"{field}[{index}]"
        tokens = pattern.split(".")
        if not pattern or len(pattern) > MAX_PATTERN or not all(_TOKEN.fullmatch(token) for token in tokens):
            check.fail(where, f"must be dot-separated lower-case tokens, `*` or a final `>`, at most {MAX_PATTERN}")
        elif ">" in tokens[:-1]:
            check.fail(where, "may have `>` only as its last token")
        elif not any(matches(pattern, event_type) for event_type in known):
            check.fail(where, f"{pattern!r} matches no event type (ListEventTypes lists them)")
        elif pattern not in kept:
            kept.append(pattern)
    return kept


def check_max_attempts(check: Validator, field: str, value: int) -> None:
    if not 0 <= value <= MAX_ATTEMPTS:
        check.fail(field, f"must be between 1 and {MAX_ATTEMPTS}, or 0 for the service's default")


def wants(patterns: Iterable[str], event_type: str) -> bool:
    return any(matches(pattern, event_type) for pattern in patterns)


def new_secret() -> str:
    """A Standard Webhooks secret: the prefix and the base64 of random bytes."""
    return SECRET_PREFIX + base64.b64encode(secrets.token_bytes(SECRET_BYTES)).decode()
