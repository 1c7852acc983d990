"""The README's "From a browser or curl" block, run as written by bash against the test stack with
the demo catalogue loaded (as `make run` does). The only change is the ports: 51051 and 51052
become the ones the test stack's Connect servers listen on. curl finds the green sofa at the
branch and reserves it for pickup, with a storefront token."""

from __future__ import annotations

import json
import re
import shutil
from pathlib import Path

from omnistock.reservations.v1 import reservations_pb2 as rpb
from omnistock_cli.catalogue import DEMO_SKU, DEMO_STORE
from omnistock_platform.testing.stack import Stack
from tests.integration.cli.support import Cli

README = Path(__file__).resolve().parents[2] / "README.md"
PORTS = {"inventory": "127.0.0.1:51051", "reservations": "127.0.0.1:51052"}


def block() -> str:
    text = README.read_text(encoding="utf-8")
    start = text.index("<!-- curl -->")
    found = re.search(r"```sh\n(.*?)```", text[start : text.index("<!-- /curl -->", start)], re.S)
    assert found
    return found.group(1)


def answers(output: str) -> list[dict[str, object]]:
    """The JSON documents curl printed one after the other."""
    decoder, found, at = json.JSONDecoder(), [], 0
    while at < len(output.rstrip()):
        document, end = decoder.raw_decode(output, at)
        found.append(document)
        at = end + len(output[end:]) - len(output[end:].lstrip())
    return found


def test_the_block_is_a_token_and_two_curl_posts() -> None:
    script = block()
    assert script.startswith("TOKEN=$(omnistock token --role storefront)\n")
    assert script.count("curl -s http://") == 2
    assert script.count('-H "authorization: Bearer $TOKEN"') == 2
    assert all(address in script for address in PORTS.values())


async def test_curl_finds_the_sofa_and_reserves_it_as_written(fresh_stack: Stack, tmp_path: Path) -> None:
    assert shutil.which("curl"), "curl is needed to run the README's curl block"
    cli = Cli(fresh_stack)
    await cli.run("seed", "--force")  # what `make run` loads; tops the green sofa up to one
    script = block()
    for service, address in PORTS.items():
        script = script.replace(f"http://{address}", fresh_stack.connect_urls[service])
    done = await cli.shell(script, cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    stock, reservation = answers(done.stdout)
    (level,) = stock["levels"]  # type: ignore[misc]
    assert (level["locationId"], level["sku"], level["available"]) == (DEMO_STORE, DEMO_SKU, "1")
    made: dict[str, str] = reservation["reservation"]  # type: ignore[assignment]
    assert made["storeId"] == DEMO_STORE
    assert made["pickupCode"]
    stored = await fresh_stack.stub("reservations").GetReservation(
        rpb.GetReservationRequest(reservation_id=made["reservationId"])
    )
    assert stored.reservation.status == rpb.RESERVATION_STATUS_ACTIVE
