"""`omnistock console`: serve the staff console on its own, next to services that run elsewhere
(`omnistock up` serves it already)."""

from __future__ import annotations

from typing import Annotated

import typer

from omnistock_cli.context import load_settings


def console(
    port: Annotated[
        int | None, typer.Option("--port", help="The port to serve on. Default: OMNISTOCK_CONSOLE_PORT or 8080.")
    ] = None,
    demo_sign_in: Annotated[
        bool | None,
        typer.Option(
            "--demo-sign-in/--no-demo-sign-in",
            help="One-click sign-in as any store's or warehouse's staff (development only). "
            "Default: OMNISTOCK_CONSOLE_DEMO_SIGN_IN, off.",
        ),
    ] = None,
) -> None:
    """Serve the web console for store and warehouse staff until Ctrl-C."""
    from omnistock_console.server import serve

    from omnistock_platform.logging import configure_logging

    settings = load_settings()
    update: dict[str, object] = {}
    if port is not None:
        update["console_port"] = port
    if demo_sign_in is not None:
        update["console_demo_sign_in"] = demo_sign_in
    configure_logging(settings.log_level, json=settings.log_json)
    serve(settings.model_copy(update=update))


def register(app: typer.Typer) -> None:
    app.command("console")(console)
