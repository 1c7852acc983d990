"""Fulfilment service: adapters."""
