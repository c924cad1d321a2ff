"""Acquisition: one cycle of conversions and reads, turned into a ``Measurement``."""
