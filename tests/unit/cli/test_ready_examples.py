"""The commands `omnistock up` shows once the system is ready are meant to be copied: every SKU and
location they name is in the demo catalogue it loads (or is a set an earlier example defines)."""

from __future__ import annotations

import re
import shlex

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
