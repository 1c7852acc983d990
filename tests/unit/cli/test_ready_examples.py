"""The commands `omnistock up` shows once the system is ready are meant to be copied: every SKU and
location they name is in the demo catalogue it loads (or is a set an earlier example defines)."""

from __future__ import annotations

import re
import shlex
from itertools import pairwise

from omnistock_cli.catalogue import demo_catalogue
from omnistock_cli.main import examples

# Placeholders the reader replaces with an id of their own.
PLACEHOLDERS = {"ORDER-ID"}
NAMED = re.compile(r"^([A-Z][A-Z0-9]*(?:-[A-Z0-9]+)+)(?:[:=]\d+)?$")


def test_every_example_names_what_the_demo_catalogue_has() -> None:
    catalogue = demo_catalogue()
    known = {sku.sku for sku in catalogue.skus} | {location.location_id for location in catalogue.locations}
    unknown = []
    for example in examples():
        words = shlex.split(example)
        if words[:2] == ["omnistock", "bundle"]:
            known.add(words[2])
        for word in words:
            found = NAMED.match(word)
            if found and found.group(1) not in known | PLACEHOLDERS:
                unknown.append((found.group(1), example))
    assert unknown == []


def test_every_example_works_on_the_demo_catalogue_as_it_is_copied() -> None:
    """What an example acts on is there: a channel's pool names a location group an earlier example
    puts (`pools set web --pool berlin-stores:80:2` was shown alone and answered NOT_FOUND: the demo
    has no groups), and a transfer's origin has the units it is to send (WH-BER has no green sofa)."""
    catalogue = demo_catalogue()
    on_hand = {(row.location_id, row.sku): row.on_hand for row in catalogue.stock}
    groups: set[str] = set()
    problems = []
    for example in examples():
        words = shlex.split(example)
        if words[1:3] == ["groups", "put"]:
            groups.add(words[3])
        for option, value in pairwise(words):
            if option == "--pool" and value.split(":")[0] not in groups:
                problems.append(("no such group", example))
        if words[1:3] == ["transfer", "create"]:
            origin = words[words.index("--from") + 1]
            for option, value in pairwise(words):
                if option == "--sku":
                    sku, _, quantity = value.partition("=")
                    if on_hand.get((origin, sku), 0) < int(quantity or 1):
                        problems.append(("origin lacks the units", example))
    assert problems == []
