"""Use cases: project an event, rebuild from the stream, read the figures."""
