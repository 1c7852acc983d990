"""The shared form of commands that act for a caller: their own options first, then --request-id,
--role, --works-at, --token and --json in that order, handed to the body as one `Call`."""

from __future__ import annotations

from typing import Annotated

import typer
from typer.testing import CliRunner

from omnistock_cli.acting import Call, acting
from omnistock_platform.auth import Role

seen: list[Call] = []


@acting(Role.POS)
def receive(thing: Annotated[str, typer.Argument(help="What.")], note: str = "", *, call: Call) -> None:
    """Receive a thing."""
    seen.append(call)


@acting(Role.ADMIN, writes=False, works_at=False)
def show(*, call: Call) -> None:
    """Show."""
    seen.append(call)


HolderRole = Annotated[
    Role | None, typer.Option("--role", "-r", case_sensitive=False, help="Default: storefront, or admin for a review.")
]


@acting(Role.STOREFRONT, writes=False, role=HolderRole, after=["wide"])
def hold(thing: str = "", wide: Annotated[bool, typer.Option("--wide")] = False, *, call: Call) -> None:
    """Hold."""
    seen.append(call)


def app() -> typer.Typer:
    built = typer.Typer()
    built.command("receive")(receive)
    built.command("show")(show)
    built.command("hold")(hold)
    return built


def test_the_shared_options_follow_the_commands_own_in_one_order() -> None:
    shown = CliRunner().invoke(app(), ["receive", "--help"], env={"COLUMNS": "200", "NO_COLOR": "1"})
    assert shown.exit_code == 0, shown.output
    names = ["--note", "--request-id", "--role", "--works-at", "--token", "--json"]
    where = [shown.output.index(f" {name} ") for name in names]
    assert where == sorted(where)
    assert "Default: pos at the store." in shown.output and "Receive a thing." in shown.output

    read = CliRunner().invoke(app(), ["show", "--help"], env={"COLUMNS": "200", "NO_COLOR": "1"})
    assert "--request-id" not in read.output and "--works-at" not in read.output
    assert "Default: admin." in read.output


def test_the_body_gets_the_caller_and_one_request_id() -> None:
    seen.clear()
    runner = CliRunner()
    given = ["receive", "X", "--request-id", "R-1", "--role", "warehouse", "--works-at", "WH", "--json"]
    assert runner.invoke(app(), given, env={"OMNISTOCK_TOKEN": None}).exit_code == 0
    assert runner.invoke(app(), ["receive", "Y"], env={"OMNISTOCK_TOKEN": None}).exit_code == 0
    assert runner.invoke(app(), ["receive", "Z"], env={"OMNISTOCK_TOKEN": None}).exit_code == 0
    first, second, third = seen
    assert (first.default, first.role, first.works_at, first.as_json, first.request_id) == (
        Role.POS,
        Role.WAREHOUSE,
        ["WH"],
        True,
        "R-1",
    )
    assert (second.role, second.works_at, second.token, second.as_json) == (None, None, None, False)
    assert second.request_id and third.request_id and second.request_id != third.request_id
    assert second.who(at=["STORE"]).locations == ("STORE",)


def test_a_command_may_give_its_role_option_and_keep_its_own_options_after_the_shared() -> None:
    shown = CliRunner().invoke(app(), ["hold", "--help"], env={"COLUMNS": "200", "NO_COLOR": "1"})
    assert shown.exit_code == 0, shown.output
    names = ["--thing", "--role", "--works-at", "--token", "--json", "--wide"]
    where = [shown.output.index(f" {name} ") for name in names]
    assert where == sorted(where)
    assert "Default: storefront, or admin for a review." in shown.output

    seen.clear()
    given = ["hold", "--wide", "--role", "admin", "--json"]
    assert CliRunner().invoke(app(), given, env={"OMNISTOCK_TOKEN": None}).exit_code == 0
    (call,) = seen
    assert (call.default, call.role, call.as_json) == (Role.STOREFRONT, Role.ADMIN, True)


def test_a_default_that_follows_the_arguments_keeps_the_rest_of_the_call() -> None:
    call = Call(Role.STOREFRONT, works_at=["S1"], as_json=True, request_id="R-2")
    till = call.defaulting(Role.POS)
    assert (till.default, till.works_at, till.as_json, till.request_id) == (Role.POS, ["S1"], True, "R-2")
    assert till.who(at=["S2"]).locations == ("S1",)
    assert Call(Role.STOREFRONT).defaulting(Role.POS).who(at=["S2"]).locations == ("S2",)


def test_a_list_filtered_by_a_location_names_it_in_the_token_whatever_the_role() -> None:
    assert Call(Role.ADMIN).working_at("WH-1").who().locations == ("WH-1",)
    assert Call(Role.ADMIN).working_at(None).who().locations == ()
    assert Call(Role.ADMIN, token="T").working_at("WH-1").who().token == "T"
