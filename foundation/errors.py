"""The three tiers of failure, so every caller knows whose problem an error is.

1. ``AgentSignal``: expected outcomes the agent loop turns into a message for the
   model (approval required, tool failed, denied). Never shown as a crash.
2. ``UserError``: a mistake by whoever configures or calls the platform (bad
   settings, a broken policy file, an unknown id, a forbidden action). The message
   says what to change.
3. ``RunFailure``: a run could not continue (budget exhausted, model unreachable).

HTTP status codes are chosen in ``api/`` from these classes, nowhere else.
"""

from __future__ import annotations


class TethraError(Exception):
    """Root of every error Tethra raises on purpose."""


# --- tier 1: signals to the agent loop -------------------------------------------------
class AgentSignal(TethraError):
    """An outcome the governed tool node reports back to the model as a tool message."""


class ToolFailed(AgentSignal):
    """The adapter ran and failed; the agent is told, the run continues."""


# --- tier 2: mistakes by the developer or operator -------------------------------------
class UserError(TethraError):
    """Something the caller can fix; the message says what."""


class ConfigError(UserError):
    """Settings or a configuration file are invalid; raised at start."""


class NotFound(UserError):
    """The referenced record does not exist."""


class Forbidden(UserError):
    """The actor is authenticated but not allowed to do this."""


class Conflict(UserError):
    """The record changed under the caller (lost a compare-and-set, already decided)."""


class InvalidInput(UserError):
    """The input is well-formed but not acceptable (schema, edit rules)."""


# --- tier 3: run failures --------------------------------------------------------------
class RunFailure(TethraError):
    """The run stops; the reason is recorded and shown to the user."""


class LostOwnership(TethraError):
    """This process no longer holds the run or call it was working on (its lease
    lapsed and another process took over, or the run was ended): it must stop and
    write nothing more. Not a failure of the run, which goes on elsewhere."""
