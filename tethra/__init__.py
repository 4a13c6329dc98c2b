"""Tethra's entry points: the CLI (``tethra.cli``), the worker process (``tethra.worker``)
and the database migrations (``tethra.migrations``, which load every package's models).
Nothing imports them; they import everything else."""

from foundation import __version__

__all__ = ["__version__"]
