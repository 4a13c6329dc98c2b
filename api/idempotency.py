"""Idempotency-Key records for POST requests with effects."""
