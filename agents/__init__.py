"""Agents: one folder per agent (prompt.md + spec.yaml) and the chat-model layer.

Prompts, tool allowances and budgets are files in the repository so they are
reviewed and versioned like code; the loader lives in ``agents.spec`` and the models
in ``agents.models``.
"""
