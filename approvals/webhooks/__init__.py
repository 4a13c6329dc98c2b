"""Webhook notifications: signed, retried, logged deliveries of bus events."""
