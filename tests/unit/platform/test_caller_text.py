"""What a caller sends costs work in proportion to its size, and no more than a fixed amount once it
is cut: the log scrubber is linear (measured by the characters it examines, not by a clock), log
lines and errors have a size cap whatever they echo."""

from __future__ import annotations

import io
import itertools
import json
import re

import pytest
import structlog
from hypothesis import given, settings
from hypothesis import strategies as st

from omnistock_platform import errors
from omnistock_platform import logging as omnilog
from omnistock_platform.grpc.errors import to_status
from omnistock_platform.grpc.interceptors import bounded
from omnistock_platform.logging import MAX_LINE, MAX_TEXT, Meter, configure_logging, scrub
from omnistock_platform.validation import Validator

CONTROL_REFUSED = "must not contain control characters (nor line separators or bidi overrides)"

# Inputs that made backtracking patterns quadratic, and the shapes each pass looks for, repeated.
UNITS = {
    "letters": "a",
    "scheme-like run": "abc+.-",
    "url without @": "a://b:",
    "url pieces": "x://:/",
    "many urls": "http://u:p@h ",
    "jwt-ish run": "eyJ-",
    "jwt dots": "eyJ.",
    "bearer words": "bearer ",
    "b and space": "b ",
    "basic tokens": "Basic QWxhZGRpbjpvcGVu ",
    "spaces": " ",
    "mixed": "postgresql://u:pw@db eyJa.b.c Bearer abcdefgh1234 ",
}
SIZES = (4_000, 8_000, 16_000, 32_000, 64_000)
# Characters examined per character of input, at most (each pass looks at each character a few times).
PER_CHARACTER = 12


def work(text: str) -> int:
    meter = Meter()
    scrub(text, meter, limit=len(text) + 1)
    return meter.work


@pytest.fixture(autouse=True)
def secrets() -> None:
    """The process's own secrets are scrubbed too: two of them, as a service has."""
    configure_logging("INFO", json=True, secrets=["jwt-secret-not-for-logs", "postgresql://u:db-password@h/db"])


@pytest.mark.parametrize("unit", list(UNITS.values()), ids=list(UNITS))
def test_scrubbing_work_grows_in_proportion_to_the_input(unit: str) -> None:
    costs = [work(unit * (size // len(unit))) for size in SIZES]
    for size, cost in zip(SIZES, costs, strict=True):
        assert cost <= PER_CHARACTER * size, f"{cost} characters examined for {size}"
    # Doubling the input doubles the work: the ratio of consecutive sizes stays at 2 (quadratic: 4).
    for smaller, larger in itertools.pairwise(costs):
        assert larger <= 2.05 * smaller, costs


@settings(max_examples=300, deadline=None)
@given(st.text(alphabet=":/@ \t.-_=+~eyJbBasicerhtp0Aa", max_size=3_000))
def test_scrubbing_any_text_is_linear(text: str) -> None:
    assert work(text) <= PER_CHARACTER * len(text) + 64


def test_the_scrubber_only_searches_for_single_character_classes() -> None:
    """The meter counts exact work only for searches that examine each character once: a literal, or
    the first character of one class. A backtracking pattern here would make the count meaningless."""
    single_class = re.compile(r"\[\^?[^\[\]]+\]|\\S")
    patterns = [
        value for name, value in vars(omnilog).items() if isinstance(value, re.Pattern) and name != "_SECRET_KEY"
    ]
    assert patterns
    for pattern in patterns:
        assert single_class.fullmatch(pattern.pattern), f"{pattern.pattern!r} is not a single character class"


def test_scrubbing_still_finds_what_it_must() -> None:
    text = (
        "postgresql://omnistock:pw-1@db:5432/x nats://a:b@h Authorization: Bearer abcdefghijk.lmn"
        " basic QWxhZGRpbjpvcGVuIHNlc2FtZQ== eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiIxIn0.sig-x jwt-secret-not-for-logs"
        " db-password"
    )
    scrubbed = scrub(text)
    for secret in ("pw-1", ":b@", "abcdefghijk", "QWxhZGRp", "eyJhbGci", "jwt-secret-not-for-logs", "db-password"):
        assert secret not in scrubbed, scrubbed
    assert "postgresql://omnistock:[redacted]@db:5432/x" in scrubbed


def test_a_secret_across_the_cut_is_still_found() -> None:
    text = "x" * (MAX_TEXT - 10) + " postgresql://u:pw-across-the-cut@db/x"
    assert "pw-across" not in scrub(text)


def test_a_log_line_has_a_cap_whatever_is_logged() -> None:
    output = io.StringIO()
    configure_logging("INFO", json=True, stream=output)
    huge = "k" * 1_000_000
    structlog.get_logger("caps").info("rpc.refused", message=huge)
    structlog.get_logger("caps").info(
        "many", fields={huge: huge, **{f"f{i}": huge for i in range(500)}}, items=[huge] * 500, other=huge
    )
    lines = output.getvalue().splitlines()
    assert len(lines) == 2
    for line in lines:
        assert len(line) <= MAX_LINE
        json.loads(line)
    first = json.loads(lines[0])
    assert len(first["message"]) < MAX_TEXT + 100 and "[cut" in first["message"]
    assert json.loads(lines[1])["cut"].startswith("the line had")


HUGE = "\u202e" + "k" * 1_000_000


@pytest.mark.parametrize(
    "error",
    [
        errors.InvalidArgument([errors.FieldViolation(HUGE, HUGE)] * 50, HUGE),
        errors.NotFound(HUGE, HUGE, field=HUGE),
        errors.FailedPrecondition(HUGE, [errors.PreconditionViolation(HUGE, HUGE, HUGE)] * 50),
        errors.PermissionDenied(HUGE),
        errors.Aborted(HUGE),
    ],
    ids=lambda error: type(error).__name__,
)
def test_an_error_that_echoes_a_huge_value_stays_small(error: errors.OmnistockError) -> None:
    """Clients drop trailers over 8 KiB: whatever an error echoes, it is sent cut down."""
    status = to_status(bounded(error), "inventory")
    size = sum(len(value) for _, value in status.trailing_metadata) + len(status.details)
    assert size < 8 * 1024, size


SHOWN_OTHERWISE = [chr(c) for c in (*range(0x00, 0x09), 0x0B, 0x0C, *range(0x0E, 0x20), *range(0x7F, 0xA0))] + [
    "\u2028",
    "\u2029",
    *map(chr, range(0x202A, 0x202F)),
    *map(chr, range(0x2066, 0x206A)),
]


@settings(max_examples=300)
@given(before=st.text(max_size=20), hidden=st.sampled_from(SHOWN_OTHERWISE), after=st.text(max_size=20))
def test_text_holding_a_character_that_changes_how_it_reads_is_refused(before: str, hidden: str, after: str) -> None:
    """Control characters (C0, DEL, C1), line and paragraph separators, bidi embeddings, overrides
    and isolates are refused wherever they are in a text, and the refusal names the field."""
    check = Validator()
    check.text("reason", before + hidden + after)
    check.name("location.name", "Mitte" + before + hidden + after)
    assert [(v.field, v.description) for v in check.violations] == [
        ("reason", CONTROL_REFUSED),
        ("location.name", CONTROL_REFUSED),
    ]


@given(
    text=st.text(
        st.characters(exclude_categories=["Cc", "Cs"], exclude_characters="".join(SHOWN_OTHERWISE)), max_size=50
    )
)
def test_other_text_is_accepted_whatever_its_script(text: str) -> None:
    """Any other character of any script is kept, with tab, line breaks and the left-to-right and
    right-to-left marks that mixed-direction text needs."""
    check = Validator()
    check.text("note", text + "\t\n\r\u200e\u200f")
    assert check.violations == []
