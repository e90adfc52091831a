"""MCP server exposing imagegen's ``generate_image`` to AI assistants."""
