"""Tables of this demo system."""
