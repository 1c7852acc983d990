"""Fulfilment service: domain."""
