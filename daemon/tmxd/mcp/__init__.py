"""``tmxd mcp``: a stdio MCP server over the store and the history.

``tools`` holds Task Master's tools that need no AI (same names, arguments and result
shapes as Task Master's own MCP server) and ``own_tools`` tmxd's (ready tasks with their
routes, a task's history, the report summary, the autopilot's state); ``workspace``
finds the project a call names and keeps its parsed files while they are unchanged;
``server`` puts them on the official MCP SDK and records every call. Only ``server``
imports the SDK.
"""
