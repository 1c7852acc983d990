"""The old spellings of options, rewritten to the new ones before a command parses them."""

from __future__ import annotations

import click

from omnistock_cli.aliases import lift_profile, rewrite_options


def test_an_old_option_is_rewritten_in_every_form_but_after_a_double_dash() -> None:
    args = ["ID", "--location", "A", "-l", "B", "--location=C", "--role", "pos", "--", "--location"]
    assert rewrite_options("cancel-reservation", args) == [
        "ID",
        "--works-at",
        "A",
        "--works-at",
        "B",
        "--works-at=C",
        "--role",
        "pos",
        "--",
        "--location",
    ]
    # Where --location is what the command acts at, it stays what it is.
    assert rewrite_options("tasks", ["--location", "A"]) == ["--location", "A"]
    assert rewrite_options("handover", ["CODE", "-l", "S"]) == ["CODE", "--store", "S"]


def test_a_profile_given_after_the_command_is_the_profile_of_omnistock() -> None:
    ctx = click.Context(click.Command("omnistock"))
    assert lift_profile(ctx, ["SKU", "--profile", "prod", "--json"]) == ["SKU", "--json"]
    assert ctx.params["profile"] == "prod"
    assert lift_profile(ctx, ["--profile=staging", "SKU", "--", "--profile", "x"]) == ["SKU", "--", "--profile", "x"]
    assert ctx.params["profile"] == "staging"
