"""`python -m omnistock_cli` is the `omnistock` command."""

from omnistock_cli.main import app

app(prog_name="omnistock")
