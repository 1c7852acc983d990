"""Insights: channel figures projected from the event stream."""
