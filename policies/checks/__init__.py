"""Declarative output checks: rules in YAML that any structured output or tool-call
arguments must pass before they may act (see ``checks/invoice.yaml``)."""
