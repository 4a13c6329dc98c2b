"""The accounts-payable workflow: ingest -> checks -> match -> file, or hold for a person.

``process_invoice`` is the stable entry point (used by the CLI, the API, the benchmark
and the golden cases); ``InvoiceWorkflow`` holds the compiled sub-graph.
"""
