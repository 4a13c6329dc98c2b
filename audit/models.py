"""Audit tables."""
