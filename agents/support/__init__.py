"""Marks the folder as a package so its prompt.md and spec.yaml ship in the wheel."""
