"""Orders service: service_layer."""
