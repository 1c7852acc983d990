"""The `omnistock` command."""
