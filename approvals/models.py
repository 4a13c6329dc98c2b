"""Approval tables."""
