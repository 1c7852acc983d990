"""Reservations service: domain."""
