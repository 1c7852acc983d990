"""Fulfilment service: service_layer."""
