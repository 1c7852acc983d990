"""The storefront page as the browser's HTML parser reads it: what the page's address names (the
SKU) reaches the page's script as data, never as markup."""

from __future__ import annotations

import json
import re

from hypothesis import given, settings
from hypothesis import strategies as st
from starlette.testclient import TestClient

from omnistock_platform.settings import Settings
from omnistock_storefront.app import Shop, create_app

CONFIG = re.compile(r'<script id="config" type="application/json">(.*?)</script>', re.S)
# Pieces that change how an HTML parser reads a script element's text, and their neighbours.
PIECES = st.sampled_from(["<!--", "-->", "<script>", "</script>", "<SCRIPT ", "</", "<", ">", "&", "'", '"', "\\"])


@settings(max_examples=100, deadline=None)
@given(sku=st.lists(st.one_of(PIECES, st.text(max_size=4)), max_size=8).map("".join))
def test_what_the_address_names_stays_data_inside_the_page(sku: str) -> None:
    """The config block holds no '<' at all, so no "<!--", "<script" or "</script" in a SKU can
    change where the block ends (an HTML parser leaves a script element only on "</script" outside
    an escaped "<!--<script" run), and its JSON says exactly the SKU asked for."""
    client = TestClient(create_app(Settings(), Shop(urls={})))
    page = client.get("/", params={"sku": sku}).text
    found = CONFIG.search(page)
    assert found is not None
    block = found.group(1)
    assert "<" not in block and ">" not in block, block
    assert json.loads(block)["sku"] == (sku or Shop(urls={}).sku)


def test_no_other_site_may_frame_the_page_and_it_calls_only_its_services() -> None:
    """A page that reserves on a click must not be framed by another site (a decoy over a hidden
    frame turns the visitor's click into a reservation); it loads only its own files and calls only
    the Connect URLs it names."""
    urls = {"inventory": "http://127.0.0.1:7001", "reservations": "http://127.0.0.1:7002/"}
    client = TestClient(create_app(Settings(), Shop(urls=urls)))
    page = client.get("/")
    directives = [directive.partition(" ") for directive in page.headers["content-security-policy"].split("; ")]
    policy = {name: value for name, _, value in directives}
    assert policy["frame-ancestors"] == "'none'" and page.headers["x-frame-options"] == "DENY"
    assert policy["script-src"] == "'self'" and policy["default-src"] == "'self'"
    assert policy["connect-src"].split() == ["'self'", "http://127.0.0.1:7001", "http://127.0.0.1:7002"]
    assert page.headers["cache-control"] == "no-store"
    for asset in ("/storefront.js", "/storefront.css"):
        assert client.get(asset).headers["x-content-type-options"] == "nosniff"
