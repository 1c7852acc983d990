"""Test fixtures for Omnistock: real PostgreSQL and NATS, isolated per run."""
