"""`python -m omnistock_mcp`: the MCP server (stdio by default)."""

from omnistock_mcp.server import main

main()
