"""Worked examples of adapters an installation adds itself (docs/add-a-tool-adapter.md)."""
