"""Inventory service: service_layer."""
