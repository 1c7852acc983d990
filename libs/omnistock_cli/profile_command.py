"""`omnistock profiles`: the profiles of the configuration file, and which one is in use."""

from __future__ import annotations

import typer

from omnistock_cli import profiles
from omnistock_cli.context import JsonOption, fail
from omnistock_cli.output import emit, table


def profiles_command(as_json: JsonOption = False) -> None:
    """List the profiles of the configuration file (addresses, TLS files, where the token comes from)."""
    path = profiles.config_path()
    if not path.is_file():
        emit(
            {"config": str(path), "active": "", "profiles": []},
            as_json=as_json,
            render=f"No configuration file at {path}; see docs/cli.md for its format.",
        )
        return
    try:
        config = profiles.read_config(path)
    except profiles.ProfileError as error:
        fail(str(error))
    active = profiles.active()
    described = [profiles.Profile(name, path, data).describe() for name, data in sorted(config.profiles.items())]
    rows = [
        [
            ("* " if active is not None and active.name == item["name"] else "  ") + item["name"],
            "\n".join(f"{service} {address}" for service, address in item["addresses"].items()) or "(environment)",
            item["tls_ca_file"] or "",
            item["token"] or "(minted)",
        ]
        for item in described
    ]
    emit(
        {
            "config": str(path),
            "default": config.default,
            "active": active.name if active else "",
            "profiles": described,
        },
        as_json=as_json,
        render=table(f"Profiles in {path} (* in use)", ["profile", "addresses", "tls ca", "token"], rows)
        if rows
        else f"{path} has no profiles.",
    )


def register(app: typer.Typer) -> None:
    app.command("profiles")(profiles_command)
