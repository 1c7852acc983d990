"""Reservations service: entrypoints."""
