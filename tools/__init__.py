"""Business-tool adapters: the only way graph nodes reach the outside world."""
