"""Run and tool-call records."""
