"""Usable capacity of each cell from the charge that flows between two well-known SOC points.

Why this way: capacity = charge / SOC swing is only as good as the two SOC values, so a point is
taken only where the SOC is known independently of coulomb counting: a full or empty
recalibration, or a filter estimate that is both certain and sitting on a steep part of the OCV
curve (where the voltage, not the integrated current, pins the SOC). The charge between the points
is counted with the filter's offset-corrected current, so the sensor offset does not leak into the
capacity. Samples outside 50..150 % of rated are rejected as implausible. The first samples are
averaged with equal weight (the start value is only the rated capacity), later ones move the
estimate by ``learn_rate``.
"""

from __future__ import annotations

import numpy as np
from numpy.typing import NDArray

__all__ = ["CapacityLearner"]

FloatArray = NDArray[np.float64]
BoolArray = NDArray[np.bool_]

#: A new anchor replaces the old one when the SOC has not moved more than this (fraction): keeps
#: the freshest point of a stay at the top or bottom.
_SAME_SPOT = 0.10


class CapacityLearner:
    """Per-cell capacity estimates, anchors and charge counters (Ah through each cell)."""

    def __init__(
        self,
        capacity_ah: FloatArray,
        rated_ah: float,
        min_delta_soc: float,
        learn_rate: float,
    ) -> None:
        n = len(capacity_ah)
        self.capacity_ah = capacity_ah.astype(np.float64).copy()
        self.rated_ah = rated_ah
        self.min_delta_soc = min_delta_soc
        self.learn_rate = learn_rate
        self.charge_ah = np.zeros(n)  #: offset-corrected charge through each cell since start
        self.anchor_soc = np.full(n, np.nan)
        self.anchor_charge_ah = np.full(n, np.nan)
        self.samples = np.zeros(n, dtype=np.int64)

    def count(self, current_a: FloatArray, dt_s: float) -> None:
        """Integrate the (corrected) current through each cell."""
        self.charge_ah += current_a * (dt_s / 3600.0)

    def anchor(self, soc: FloatArray, known: BoolArray) -> BoolArray:
        """Offer the cells whose SOC is well known now; returns the cells that got a new sample."""
        sampled = np.zeros(len(soc), dtype=bool)
        if not known.any():
            return sampled
        have = known & np.isfinite(self.anchor_soc)
        delta_soc = soc - self.anchor_soc
        delta_ah = self.charge_ah - self.anchor_charge_ah
        with np.errstate(invalid="ignore", divide="ignore"):
            sample = np.where(np.abs(delta_soc) > 0, delta_ah / delta_soc, np.nan)
            big = have & (np.abs(delta_soc) >= self.min_delta_soc)
            plausible = big & (sample > 0.5 * self.rated_ah) & (sample < 1.5 * self.rated_ah)
        if plausible.any():
            # A running mean over the first samples (the start value is only the rated figure),
            # then an exponential average that follows ageing.
            w = np.maximum(self.learn_rate, 1.0 / (self.samples + 1.0))
            self.capacity_ah = np.where(
                plausible, (1 - w) * self.capacity_ah + w * sample, self.capacity_ah
            )
            self.samples += plausible
            sampled = plausible
        # Move the anchor: after a sample, to a fresh point, or when nothing better is held.
        no_anchor = known & ~np.isfinite(self.anchor_soc)
        with np.errstate(invalid="ignore"):
            near = have & (np.abs(delta_soc) < _SAME_SPOT)
        move = big | no_anchor | near
        self.anchor_soc = np.where(move, soc, self.anchor_soc)
        self.anchor_charge_ah = np.where(move, self.charge_ah, self.anchor_charge_ah)
        return sampled
