"""The HTTP API (FastAPI): an entry point over ``graph.Runtime``; nothing imports it.

``api.main.create_app`` builds the app; see ``docs/api.md`` for the endpoints and roles.
"""
