"""State estimation: SOC per cell and pack, SOH and capacity, cell resistance, energy counters.

``Estimator`` is the stage the pack cycle calls once per cycle; the other modules each own one
piece of it (the OCV curve, the Kalman filter, capacity and resistance learning, counters).
"""

from bmsgateway.estimation.estimator import Estimator

__all__ = ["Estimator"]
