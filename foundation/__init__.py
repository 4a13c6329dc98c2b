"""The foundation every other package stands on: settings, the database, logging,
errors, ids, canonical hashing, users and telemetry. It imports no other Tethra
package; the entry points (``tethra``) sit at the other end of the import graph."""

__version__ = "0.1.0"
