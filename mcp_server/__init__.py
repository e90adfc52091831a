"""MCP server exposing imagegen's image generation and editing tools to AI assistants."""
