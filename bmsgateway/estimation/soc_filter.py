"""Extended Kalman filter of every cell's SOC, RC-pair voltage and the current sensor's offset.

Model (the same 1-RC equivalent circuit as the simulator), per cell i, current positive = charging:

    I_true     = I_measured - b_i                      (b_i: current sensor offset seen by cell i)
    SOC'       = SOC + eta * I_true * dt / (3600 * C_i)
    V_rc'      = a * V_rc + R1 * (1 - a) * I_true,      a = exp(-dt / tau)
    b_i'       = b_i + random walk
    V_cell     = OCV(SOC) + V_rc + R0_i * I_true        (what the AFE measures)

Why the offset is a state: a 0.3 A offset integrates to 7 Ah a day, the error the 123\\SmartBMS only
removes at its next full charge. Here each correction the voltage (or a full/empty recalibration)
makes to the SOC also moves the offset estimate through their covariance, so the drift stops.

Why independent 3-state filters per cell instead of one joint filter: a joint filter over 255 cells
is a 511x511 matrix; per-cell 3x3 blocks vectorised with numpy cost microseconds. The offset is
then learnt once per cell; that only wastes some information, it biases nothing.

SOC is a fraction 0..1 inside this module.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
from numpy.typing import NDArray

from bmsgateway.ocv import OcvCurve

__all__ = ["CellSocFilter", "FilterTuning"]

FloatArray = NDArray[np.float64]
BoolArray = NDArray[np.bool_]

#: Current errors (gain, offset changes) are correlated over about an hour, not white: the SOC
#: uncertainty they cause grows roughly linearly over that time, so the process noise of the SOC is
#: scaled with this correlation time.
_CURRENT_ERROR_CORRELATION_S = 3600.0
#: How far (SOC fraction) a voltage correction may go beyond the SOC the voltage points at.
_OVERSHOOT_MARGIN = 0.01


@dataclass
class FilterTuning:
    """Noise figures and RC constants of the filter (``apply_config`` swaps the whole object)."""

    r1_ohm: float
    tau_s: float
    coulomb_efficiency: float
    voltage_noise_v: float
    current_noise_a: float
    current_gain_noise: float  #: fraction, e.g. 0.01 for 1 %
    bias_drift_a_per_sqrt_h: float
    bias_limit_a: float


class CellSocFilter:
    """The per-cell EKFs, state ``x[:, (soc, v_rc, bias)]`` and covariance ``p[:, 3, 3]``."""

    def __init__(
        self,
        *,
        ocv: OcvCurve,
        tuning: FilterTuning,
        soc: FloatArray,
        soc_std: FloatArray,
        bias_a: FloatArray,
        bias_std_a: float,
    ) -> None:
        n = len(soc)
        self.ocv = ocv
        self.tuning = tuning
        self.x = np.zeros((n, 3))
        self.x[:, 0] = np.clip(soc, 0.0, 1.0)
        self.x[:, 2] = bias_a
        self.p = np.zeros((n, 3, 3))
        self.p[:, 0, 0] = np.square(soc_std)
        self.p[:, 1, 1] = (0.01) ** 2
        self.p[:, 2, 2] = bias_std_a**2
        self.last_slope = ocv.slope(self.x[:, 0])  #: dOCV/dSOC at the last voltage correction

    @property
    def cell_count(self) -> int:
        return int(self.x.shape[0])

    @property
    def soc(self) -> FloatArray:
        return self.x[:, 0]

    @property
    def soc_std(self) -> FloatArray:
        return np.sqrt(np.maximum(self.p[:, 0, 0], 0.0))

    @property
    def bias_a(self) -> FloatArray:
        return self.x[:, 2]

    def predict(self, dt_s: float, current_a: FloatArray, capacity_ah: FloatArray) -> None:
        """Advance by ``dt_s`` with the mean measured current through each cell over that time."""
        if dt_s <= 0:
            return
        t = self.tuning
        true_i = current_a - self.x[:, 2]
        eta = np.where(true_i > 0, t.coulomb_efficiency, 1.0)
        k = eta / (3600.0 * capacity_ah)  # SOC per ampere-second
        a = math.exp(-dt_s / t.tau_s)
        g = t.r1_ohm * (1.0 - a)
        self.x[:, 0] += k * true_i * dt_s
        self.x[:, 1] = a * self.x[:, 1] + g * true_i

        # P' = F P F^T + Q with F = [[1, 0, -k dt], [0, a, -g], [0, 0, 1]], written out per element
        # (faster than stacked matmuls for 3x3 blocks).
        p = self.p
        f02 = -k * dt_s
        p00, p01, p02 = p[:, 0, 0], p[:, 0, 1], p[:, 0, 2]
        p11, p12, p22 = p[:, 1, 1], p[:, 1, 2], p[:, 2, 2]
        n00 = p00 + 2 * f02 * p02 + f02 * f02 * p22
        n01 = a * (p01 + f02 * p12) - g * (p02 + f02 * p22)
        n02 = p02 + f02 * p22
        n11 = a * a * p11 - 2 * a * g * p12 + g * g * p22
        n12 = a * p12 - g * p22
        sigma_i2 = t.current_noise_a**2 + (t.current_gain_noise * current_a) ** 2
        n00 = n00 + k * k * sigma_i2 * dt_s * _CURRENT_ERROR_CORRELATION_S
        n11 = n11 + g * g * sigma_i2
        n22 = p22 + t.bias_drift_a_per_sqrt_h**2 * dt_s / 3600.0
        self._store(n00, n01, n02, n11, n12, n22)
        self._bound()

    def update_voltage(self, voltage_v: FloatArray, current_a: FloatArray, r0_ohm: FloatArray) -> BoolArray:
        """Correct with measured cell voltages (NaN = not fresh: that cell is skipped).

        ``current_a`` is the measured current through each cell at the moment of the reading.
        Returns the mask of cells that were corrected.

        Standard EKF step (the OCV curve linearised at the prior SOC), with one guard: the SOC
        never moves past the SOC the voltage itself points at, z = OCV^-1(V - V_rc - R0 * I).
        Why: with a prior far off on the flat LFP plateau the tangent there is nearly flat, and
        the full Kalman step would throw the SOC past the truth (to 0 % or 100 %); the offset
        state would then take the blame for the slow way back.
        """
        x = self.x
        s = x[:, 0]
        i_true = current_a - x[:, 2]
        u = voltage_v - x[:, 1] - r0_ohm * i_true
        innovation = u - self.ocv.voltage(s)
        use = np.isfinite(innovation)
        innovation = np.where(use, innovation, 0.0)
        z = self.ocv.soc(np.where(use, u, 0.0))
        h0 = self.ocv.slope(s)
        self.last_slope = h0
        h2 = -r0_ohm
        p = self.p
        # P h^T for h = [h0, 1, h2]
        ph0 = p[:, 0, 0] * h0 + p[:, 0, 1] + p[:, 0, 2] * h2
        ph1 = p[:, 0, 1] * h0 + p[:, 1, 1] + p[:, 1, 2] * h2
        ph2 = p[:, 0, 2] * h0 + p[:, 1, 2] + p[:, 2, 2] * h2
        s_var = h0 * ph0 + ph1 + h2 * ph2 + self.tuning.voltage_noise_v**2
        step = np.abs(ph0 / s_var * innovation)
        reach = np.abs(z - s) + _OVERSHOOT_MARGIN
        scale = np.where(step > reach, reach / np.maximum(step, 1e-12), 1.0)
        self._correct((ph0, ph1, ph2), s_var, innovation * scale, use)
        return use

    def update_soc(self, target: FloatArray, std: float, mask: BoolArray) -> None:
        """Recalibration (full / empty) of the masked cells: their SOC *is* ``target`` now.

        First a Kalman update with ``SOC = target ± std``, so that the offset state learns from
        how far the count had drifted (their covariance says how much of the gap it explains);
        then the SOC is set to ``target`` as the 123\\SmartBMS does, whatever the prior said.
        """
        p = self.p
        ph0, ph1, ph2 = p[:, 0, 0].copy(), p[:, 0, 1].copy(), p[:, 0, 2].copy()
        s_var = ph0 + std * std
        innovation = np.where(mask, target - self.x[:, 0], 0.0)
        self._correct((ph0, ph1, ph2), s_var, innovation, mask)
        self.x[:, 0] = np.where(mask, np.clip(target, 0.0, 1.0), self.x[:, 0])

    def set_soc(self, soc: FloatArray, std: float) -> None:
        """Overwrite the SOC (user command or a new cell count); forgets its correlations."""
        self.x[:, 0] = np.clip(soc, 0.0, 1.0)
        self.p[:, 0, :] = 0.0
        self.p[:, :, 0] = 0.0
        self.p[:, 0, 0] = std * std

    def reset_bias(self, bias_a: float, std_a: float) -> None:
        """Forget the learnt offset (after the user zeroed the current sensor)."""
        self.x[:, 2] = bias_a
        self.p[:, 2, :] = 0.0
        self.p[:, :, 2] = 0.0
        self.p[:, 2, 2] = std_a * std_a

    def _correct(
        self, ph: tuple[FloatArray, FloatArray, FloatArray], s_var: FloatArray,
        innovation: FloatArray, use: BoolArray,
    ) -> None:
        """Scalar-measurement update given P h^T (``ph``) and the innovation variance."""
        ph0, ph1, ph2 = ph
        inv = np.where(use, 1.0 / s_var, 0.0)
        k0, k1, k2 = ph0 * inv, ph1 * inv, ph2 * inv
        self.x[:, 0] += k0 * innovation
        self.x[:, 1] += k1 * innovation
        self.x[:, 2] += k2 * innovation
        # P' = P - K S K^T = P - (P h^T)(P h^T)^T / S
        p = self.p
        self._store(
            p[:, 0, 0] - k0 * ph0,
            p[:, 0, 1] - k0 * ph1,
            p[:, 0, 2] - k0 * ph2,
            p[:, 1, 1] - k1 * ph1,
            p[:, 1, 2] - k1 * ph2,
            p[:, 2, 2] - k2 * ph2,
        )
        self._bound()

    def _store(self, *elements: FloatArray) -> None:
        """Write the six unique elements (00, 01, 02, 11, 12, 22) of the symmetric covariance."""
        p00, p01, p02, p11, p12, p22 = elements
        p = self.p
        p[:, 0, 0] = np.maximum(p00, 1e-10)
        p[:, 1, 1] = np.maximum(p11, 1e-12)
        p[:, 2, 2] = np.maximum(p22, 1e-8)
        p[:, 0, 1] = p[:, 1, 0] = p01
        p[:, 0, 2] = p[:, 2, 0] = p02
        p[:, 1, 2] = p[:, 2, 1] = p12

    def _bound(self) -> None:
        """Keep the states physical; an SOC pinned at a limit stops being pushed past it."""
        x = self.x
        lim = self.tuning.bias_limit_a
        # minimum/maximum instead of np.clip: same result, a fraction of the call overhead.
        x[:, 0] = np.minimum(np.maximum(x[:, 0], 0.0), 1.0)
        x[:, 2] = np.minimum(np.maximum(x[:, 2], -lim), lim)
