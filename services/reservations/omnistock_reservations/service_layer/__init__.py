"""Reservations service: service_layer."""
