"""Tools added after installation: Python code, HTTP endpoints (OpenAPI or described by
hand) and MCP servers. ``loading`` turns a source into candidates and a stored
registration back into a tool; ``live`` keeps a process's registry in step with the
stored registrations. See docs/add-a-tool-adapter.md."""
