"""Webhook tables."""
