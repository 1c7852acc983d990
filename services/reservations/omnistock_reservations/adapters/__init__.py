"""Reservations service: adapters."""
