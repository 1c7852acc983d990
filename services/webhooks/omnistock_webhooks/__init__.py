"""Webhooks: the events of the bus delivered to partners' HTTP endpoints, signed, in order per entity."""
