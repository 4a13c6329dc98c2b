"""Tethra's application shell: settings, database, logging, identities, CLI and worker.

The foundation modules here import nothing from the domain packages; the entry
points (``tethra.cli``, ``tethra.worker``) sit at the top of the layer order.
"""

__version__ = "0.1.0"
