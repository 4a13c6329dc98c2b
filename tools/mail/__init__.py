"""Demo mail: an outbox that stands in for sending email."""
