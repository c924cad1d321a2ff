"""Usable capacity of each cell from the charge that flows between two well-known SOC points.

Why this way: capacity = charge / SOC swing is only as good as the two SOC values and the charge,
so a measuring point is taken only where the SOC is known independently of coulomb counting: a
full or empty recalibration, or a rested cell on a steep part of the OCV curve whose filter
estimate is certain. Each sample carries its variance (the two SOC uncertainties over the swing,
the current sensor's gain error over the charge moved, the offset uncertainty over the time
between the points) and is merged with the estimate by inverse-variance weighting, starting from
the rated capacity with ``prior_std`` (new cells differ from their datasheet by a few %). The
charge between the points is counted with the filter's offset-corrected current, so the sensor
offset does not leak into the capacity.

"Learnt" is a statement about the variance: a cell's capacity counts as learnt once its 1-sigma
is below ``learnt_std`` (a fraction). Until then the rated value is used and reported, and SOH is
unknown: data that never swings between well-known points (a pack always on the LFP plateau)
teaches nothing, and the learner says so instead of inventing a number.
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
    """Per-cell capacity estimates with variance, anchors and charge counters (Ah through each cell)."""

    def __init__(
        self,
        capacity_ah: FloatArray,
        capacity_std_ah: FloatArray,
        rated_ah: float,
        min_delta_soc: float,
        learn_rate: float,
        learnt_std: float,
    ) -> None:
        n = len(capacity_ah)
        self.capacity_ah = capacity_ah.astype(np.float64).copy()
        self.capacity_var = np.square(capacity_std_ah.astype(np.float64))
        self.rated_ah = rated_ah
        self.min_delta_soc = min_delta_soc
        self.learn_rate = learn_rate
        self.learnt_std = learnt_std
        self.charge_ah = np.zeros(n)  #: offset-corrected charge through each cell since start
        self.throughput_ah = np.zeros(n)  #: |charge| through each cell since start (gain error)
        self.anchor_soc = np.full(n, np.nan)
        self.anchor_var = np.full(n, np.nan)
        self.anchor_charge_ah = np.full(n, np.nan)
        self.anchor_throughput_ah = np.full(n, np.nan)
        self.anchor_time_s = np.full(n, np.nan)
        self.samples = np.zeros(n, dtype=np.int64)

    @property
    def capacity_std_ah(self) -> FloatArray:
        out: FloatArray = np.sqrt(self.capacity_var)
        return out

    @property
    def learnt(self) -> BoolArray:
        out: BoolArray = self.capacity_std_ah <= self.learnt_std * self.capacity_ah
        return out

    @property
    def rel_std(self) -> FloatArray:
        """1-sigma of each capacity as a fraction (drives the filter's SOC process noise)."""
        out: FloatArray = self.capacity_std_ah / self.capacity_ah
        return out

    def count(self, current_a: FloatArray, dt_s: float) -> None:
        """Integrate the (corrected) current through each cell."""
        q = current_a * (dt_s / 3600.0)
        self.charge_ah += q
        self.throughput_ah += np.abs(q)

    def anchor(
        self, time_s: float, soc: FloatArray, soc_std: FloatArray, known: BoolArray,
        gain_std: float, bias_std_a: FloatArray,
    ) -> BoolArray:
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
            # Variance of the sample: SOC errors at both ends, gain error on the charge moved,
            # offset uncertainty over the time between the points.
            hours = (time_s - self.anchor_time_s) / 3600.0
            q_var = (gain_std * (self.throughput_ah - self.anchor_throughput_ah)) ** 2 + (bias_std_a * hours) ** 2
            var = (np.square(sample) * (np.square(soc_std) + self.anchor_var) + q_var) / np.square(delta_soc)
        if plausible.any():
            gain = self.capacity_var / (self.capacity_var + var)
            # Once learnt, a single sample moves the estimate by at most learn_rate (ageing is slow).
            gain = np.where(self.learnt, np.minimum(gain, self.learn_rate), gain)
            self.capacity_ah = np.where(plausible, self.capacity_ah + gain * (sample - self.capacity_ah),
                                        self.capacity_ah)
            self.capacity_var = np.where(plausible, (1.0 - gain) * self.capacity_var, self.capacity_var)
            self.samples += plausible
            sampled = plausible
        # Move the anchor: after a sample, to a fresh point, or when nothing better is held.
        no_anchor = known & ~np.isfinite(self.anchor_soc)
        with np.errstate(invalid="ignore"):
            near = have & (np.abs(delta_soc) < _SAME_SPOT)
        move = big | no_anchor | near
        self.anchor_soc = np.where(move, soc, self.anchor_soc)
        self.anchor_var = np.where(move, np.square(soc_std), self.anchor_var)
        self.anchor_charge_ah = np.where(move, self.charge_ah, self.anchor_charge_ah)
        self.anchor_throughput_ah = np.where(move, self.throughput_ah, self.anchor_throughput_ah)
        self.anchor_time_s = np.where(move, time_s, self.anchor_time_s)
        return sampled
