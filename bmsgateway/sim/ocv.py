"""The simulator's OCV curve: the one ``bmsgateway.ocv.OcvCurve`` with steep ends.

Beyond the table the curve is extended with a slope three times as steep as its end segments, so
a cell that is overcharged (or over-discharged) by a protection failure really does climb above
Vmax (fall below Vmin) instead of sticking at the table's end. SOC is confined to
``SOC_MIN_FRACTION .. SOC_MAX_FRACTION``.
"""

from __future__ import annotations

from collections.abc import Sequence

from bmsgateway.config.ocv import OcvCurve

__all__ = ["SOC_MAX_FRACTION", "SOC_MIN_FRACTION", "OcvCurve", "simulator_curve"]

#: How far beyond empty / full the simulated SOC may go (fractions of capacity).
SOC_MIN_FRACTION = -0.10
SOC_MAX_FRACTION = 1.10
_EXTRAPOLATION_STEEPNESS = 3.0


def simulator_curve(table: Sequence[tuple[float, float]]) -> OcvCurve:
    """The config's OCV table as the simulated cells see it (steep ends, -10 .. 110 %)."""
    return OcvCurve(table, end_steepness=_EXTRAPOLATION_STEEPNESS, soc_limits=(SOC_MIN_FRACTION, SOC_MAX_FRACTION))
