from mcp_server.server import main

main()
