"""Approval requests and decisions: separation of duties, N-of-M, edits, expiry, and the bus.

SQL is the system of record for every request and decision; the bus only carries
notifications that something changed, so losing the bus loses nothing.
"""
