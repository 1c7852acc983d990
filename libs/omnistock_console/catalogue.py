"""What a scanner or a person typed, as SKUs.

A barcode scanner types the code and Enter into the focused field. The code is a SKU's own
code, or a GTIN printed on the item (EAN-13, EAN-8, UPC-A or GTIN-14: the same number with
more or fewer leading zeros), kept in the SKU's `gtin` (or `ean`) attribute. A number that
looks like a GTIN but fails its check digit was misread, and is said to be, rather than
searched as text."""

from __future__ import annotations

import asyncio
from collections.abc import Iterable
from dataclasses import dataclass, field

import grpc
from omnistock_client import OmnistockClient
from stdnum import ean

from omnistock.inventory.v1 import inventory_pb2 as ipb

BARCODE_ATTRIBUTES = ("gtin", "ean")
GTIN_LENGTHS = (8, 12, 13, 14)
MAX_CODE_LENGTH = 64
TEXT_MATCHES = 20
# BatchGetSkus answers at most this many codes at once.
BATCH = 100


@dataclass
class Found:
    skus: list[ipb.Sku] = field(default_factory=list)
    # Why nothing (or not one thing) was found, in words; empty when `skus` is the answer.
    problem: str = ""
    # The code matched a SKU code or a barcode exactly (not a text search).
    exact: bool = False


def gtin_forms(code: str) -> list[str]:
    """The ways one GTIN is written: as given, and padded or trimmed to 8, 12, 13 and 14 digits."""
    bare = code.lstrip("0") or "0"
    forms = [code] + [bare.zfill(length) for length in GTIN_LENGTHS if len(bare) <= length]
    return list(dict.fromkeys(forms))


def looks_like_gtin(code: str) -> bool:
    return code.isdigit() and len(code) in GTIN_LENGTHS


async def find_skus(client: OmnistockClient, typed: str) -> Found:
    code = typed.strip()
    if not code:
        return Found(problem="Scan a barcode or type a SKU code or name.")
    if len(code) > MAX_CODE_LENGTH:
        return Found(problem=f"That is longer than {MAX_CODE_LENGTH} characters; no SKU or barcode is that long.")
    for candidate in dict.fromkeys((code, code.upper())):
        sku = await _get_sku(client, candidate)
        if sku is not None:
            return Found([sku], exact=True)
    if looks_like_gtin(code):
        if not ean.is_valid(code):
            return Found(problem=f"The barcode {code} did not read correctly (its check digit is wrong): scan again.")
        matches = await by_barcode(client, code)
        if matches:
            return Found(matches, exact=True)
        return Found(problem=f"No SKU has the barcode {code}.")
    reply = await client.call(client.inventory.ListSkus, ipb.ListSkusRequest(text=code, page_size=TEXT_MATCHES))
    if not reply.skus:
        return Found(problem=f"No SKU matches “{code}”.")
    return Found(list(reply.skus))


async def by_barcode(client: OmnistockClient, code: str) -> list[ipb.Sku]:
    requests = [
        ipb.ListSkusRequest(attributes={attribute: form}, page_size=TEXT_MATCHES)
        for attribute in BARCODE_ATTRIBUTES
        for form in gtin_forms(code)
    ]
    replies = await asyncio.gather(*(client.call(client.inventory.ListSkus, request) for request in requests))
    found = {sku.sku: sku for reply in replies for sku in reply.skus}
    return [found[key] for key in sorted(found)]


async def _get_sku(client: OmnistockClient, code: str) -> ipb.Sku | None:
    try:
        return (await client.call(client.inventory.GetSku, ipb.GetSkuRequest(sku=code))).sku
    except grpc.aio.AioRpcError as error:
        # A code that is not a valid SKU identifier is simply not a SKU code.
        if error.code() in (grpc.StatusCode.NOT_FOUND, grpc.StatusCode.INVALID_ARGUMENT):
            return None
        raise


async def titles(client: OmnistockClient, skus: Iterable[str]) -> dict[str, ipb.Sku]:
    """SKU code -> SKU, for the codes inventory knows."""
    wanted = sorted(set(skus))
    batches = [wanted[i : i + BATCH] for i in range(0, len(wanted), BATCH)]
    replies = await asyncio.gather(
        *(client.call(client.inventory.BatchGetSkus, ipb.BatchGetSkusRequest(skus=batch)) for batch in batches)
    )
    return {sku.sku: sku for reply in replies for sku in reply.skus}


def barcode_of(sku: ipb.Sku) -> str:
    return next((sku.attributes[name] for name in BARCODE_ATTRIBUTES if sku.attributes.get(name)), "")
