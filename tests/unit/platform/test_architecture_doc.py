"""docs/architecture.md stays a true map: every file it names exists, and so does every name it
says lives in one."""

from __future__ import annotations

import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[3]
DOC = ROOT / "docs" / "architecture.md"
PLACES = [
    ROOT,
    ROOT / "libs" / "omnistock_platform",
    *sorted((ROOT / "services").glob("*")),
    *sorted((ROOT / "services").glob("*/omnistock_*")),
]


def where(path: str) -> Path | None:
    """A path as the page writes it: from the root, from the platform library, or from a service."""
    for place in PLACES:
        if (place / path).exists():
            return place / path
    return None


def test_every_file_the_page_names_exists() -> None:
    text = DOC.read_text()
    named = set(re.findall(r"`([\w./<>-]+\.(?:py|md|yaml|proto))`", text))
    named |= {f"{name}.md" for name in re.findall(r"\]\(([\w-]+)\.md\)", text)}
    missing = [path for path in named if "<" not in path and where(path) is None and where(f"docs/{path}") is None]
    assert missing == []


def test_the_names_of_the_rules_are_where_the_page_says() -> None:
    text = DOC.read_text()
    rows = re.findall(r"`([\w/]+\.py)` \(`(\w+)`(?:, `(\w+)`)?", text)
    assert rows, "the page names no rule in a file"
    for path, *names in rows:
        found = where(path)
        assert found is not None, path
        source = found.read_text()
        for name in filter(None, names):
            assert re.search(rf"\b{name}\b", source), f"{name} is not in {path}"
