"""Profiles: a deployment's addresses, TLS files and token in one file, chosen with `--profile`
or OMNISTOCK_PROFILE, so a terminal needs none of the OMNISTOCK_* variables."""

from __future__ import annotations

from pathlib import Path

from omnistock.common.v1 import common_pb2
from omnistock.reservations.v1 import reservations_pb2 as rpb
from omnistock_platform.auth import Role, TokenAuthority
from omnistock_platform.services import SERVICES
from omnistock_platform.testing.stack import Stack, unique_id
from tests.integration.cli.support import Cli, World

# What a terminal with a profile does without: the addresses and the signing secret.
BARE = {f"OMNISTOCK_{service.upper()}_ADDRESS": None for service in SERVICES} | {"OMNISTOCK_JWT_SECRET": None}


def write_config(path: Path, stack: Stack, token: str) -> None:
    addresses = ", ".join(f'{service} = "{address}"' for service, address in stack.addresses.items())
    path.write_text(
        f"""
default = "staging"

[profiles.staging]
addresses = {{ {addresses} }}
token_command = "echo {token}"

[profiles.production]
gateway = "omnistock.invalid:443"
token = "not-used-here"

[profiles.broken]
addresses = {{ {addresses} }}
token_command = "echo no token here >&2; exit 3"
""",
        encoding="utf-8",
    )


async def test_a_profile_gives_the_addresses_and_the_token(stack: Stack, tmp_path: Path) -> None:
    world, cli = World(stack), Cli(stack)
    store = await world.location(unique_id("Hameln-"), (52.10, 9.36))
    lamp = await world.sku("Lamp")
    await world.receive(store, lamp, 2)
    web_shop = TokenAuthority(stack.settings).mint(Role.STOREFRONT, unique_id("web-shop-"), channel="web")
    config = tmp_path / "config.toml"
    write_config(config, stack, web_shop)
    env = {**BARE, "OMNISTOCK_CONFIG": str(config)}

    # The file's default profile: its addresses, and the token its command prints (a web shop's).
    made = await cli.json("reserve", lamp, "--store", store, "--customer", "Ada Lovelace", env=env)
    record = await stack.stub("reservations", role="admin").GetReservation(
        rpb.GetReservationRequest(reservation_id=made["reservation_id"])
    )
    assert record.reservation.channel == common_pb2.CHANNEL_WEB  # not the chat agent's, the CLI's default
    chosen = await cli.json("stock", lamp, "--profile", "staging", env=env)
    assert [level["location_id"] for level in chosen["levels"]] == [store]

    listed = await cli.json("profiles", env=env)
    assert listed["active"] == "staging" and listed["default"] == "staging"
    assert {item["name"] for item in listed["profiles"]} == {"staging", "production", "broken"}
    production = next(item for item in listed["profiles"] if item["name"] == "production")
    assert production["addresses"]["inventory"] == "omnistock.invalid:443" and production["token"] == "token"
    assert "not-used-here" not in str(listed)

    # OMNISTOCK_PROFILE chooses too; a profile's failure is said plainly.
    broken = await cli.run("stock", lamp, env={**env, "OMNISTOCK_PROFILE": "broken"}, expect=1)
    assert "token_command" in broken.stderr and "exited with 3" in broken.stderr and "no token here" in broken.stderr
    unknown = await cli.run("--profile", "nowhere", "stock", lamp, env=env, expect=1)
    assert "no profile 'nowhere'" in unknown.stderr and "staging" in unknown.stderr
    assert "Traceback" not in broken.stderr + unknown.stderr


async def test_a_bad_configuration_file_is_named_with_what_is_wrong(stack: Stack, tmp_path: Path) -> None:
    cli = Cli(stack)
    config = tmp_path / "config.toml"
    config.write_text('[profiles.x]\ngateway = "h:1"\ntls_ca_file = "missing-ca.pem"\ncolour = "green"\n')
    said = await cli.run("--profile", "x", "health", env={"OMNISTOCK_CONFIG": str(config)}, expect=1)
    assert str(config) in said.stderr and "colour" in said.stderr
    config.write_text('[profiles.x]\ngateway = "h:1"\ntls_ca_file = "missing-ca.pem"\n')
    said = await cli.run("--profile", "x", "stock", "SKU", env={"OMNISTOCK_CONFIG": str(config)}, expect=1)
    assert "missing-ca.pem" in said.stderr and "is not a file" in said.stderr
    # On a narrow terminal too: an error is never wrapped by the CLI, so its path stays whole.
    narrow = await cli.run(
        "--profile", "x", "stock", "SKU", env={"OMNISTOCK_CONFIG": str(config), "COLUMNS": "40"}, expect=1
    )
    assert f"tls_ca_file {tmp_path / 'missing-ca.pem'} is not a file" in narrow.stderr
    config.write_text("this is = not [toml")
    said = await cli.run("--profile", "x", "health", env={"OMNISTOCK_CONFIG": str(config)}, expect=1)
    assert "not valid TOML" in said.stderr and "Traceback" not in said.stderr
