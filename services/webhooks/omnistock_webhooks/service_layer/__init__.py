"""Use cases: subscriptions, the fan-out of events into deliveries, the dispatcher, the delivery log."""
