"""Fulfilment service: entrypoints."""
