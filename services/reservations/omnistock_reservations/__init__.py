"""Reservations service."""
