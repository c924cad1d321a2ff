"""Crash-safe files: atomic writes that never lose the previous good copy."""
