"""Omnistock for AI chat agents: an MCP server whose tools search the catalogue, find stock
near a customer and reserve it for pickup, calling the services as the chat agent."""
