"""Placeholder: filled in by the demo-systems work."""
