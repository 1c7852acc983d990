"""Pickup codes: short, and unambiguous when read aloud or typed from a phone screen."""

from __future__ import annotations

import secrets
from collections.abc import Callable

# No 0/O, no 1/I/L: the pairs people confuse.
ALPHABET = "ABCDEFGHJKMNPQRSTUVWXYZ23456789"
LENGTH = 6
_ALLOWED = frozenset(ALPHABET)
# What people type between groups or by habit; ignored when a code is read back.
_SEPARATORS = str.maketrans("", "", " -_.\t")


def new_pickup_code(choose: Callable[[str], str] = secrets.choice) -> str:
    return "".join(choose(ALPHABET) for _ in range(LENGTH))


def normalize_pickup_code(text: str) -> str:
    """The code as stored: upper case, without spaces or dashes."""
    return text.translate(_SEPARATORS).upper()


def is_pickup_code(text: str) -> bool:
    return len(text) == LENGTH and all(char in _ALLOWED for char in text)
