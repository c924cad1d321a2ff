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

from bmsgateway.config.ocv import OcvCurve

__all__ = ["CellSocFilter", "FilterTuning"]

FloatArray = NDArray[np.float64]
BoolArray = NDArray[np.bool_]

#: Current errors (gain, offset changes) are correlated over about an hour, not white: the SOC
#: uncertainty they cause grows roughly linearly over that time, so the process noise of the SOC is
#: scaled with this correlation time.
_CURRENT_ERROR_CORRELATION_S = 3600.0
#: Longest pulse (s) over which one model error is assumed: beyond it the error has moved on.
_MAX_PULSE_S = 3600.0
#: How far (SOC fraction) a voltage correction may go beyond the SOC the voltage points at.
_OVERSHOOT_MARGIN = 0.01
#: Readings a rest's voltage SOC is averaged over at most (a minute or two of filter steps).
_REST_READINGS = 100.0


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
    rated_ah: float = 100.0  #: for C-rates
    model_error_v_per_c: float = 0.0  #: 1-sigma voltage the model may be off per C of current
    relaxation_tau_s: float = 300.0  #: decay of the overpotential after the current changed
    ocv_error_v: float = 0.0  #: accuracy of the OCV table (correlated: bounds what rests can teach)


class CellSocFilter:
    """The per-cell EKFs: state (``s``, ``v_rc``, ``b``) and the six covariance elements ``pij``."""

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
        # State and covariance as one contiguous vector per element (not an (n, 3) / (n, 3, 3)
        # array): every operation runs over whole cell vectors with no strided views, which is
        # what the filter's cost at 255 cells is made of.
        self.s: FloatArray = np.clip(np.asarray(soc, dtype=np.float64), 0.0, 1.0)  #: SOC
        self.v_rc: FloatArray = np.zeros(n)
        self.b: FloatArray = np.asarray(bias_a, dtype=np.float64).copy()  #: offset (A)
        self.p00: FloatArray = np.square(np.asarray(soc_std, dtype=np.float64))
        self.p01: FloatArray = np.zeros(n)
        self.p02: FloatArray = np.zeros(n)
        self.p11: FloatArray = np.full(n, 0.01**2)
        self.p12: FloatArray = np.zeros(n)
        self.p22: FloatArray = np.full(n, bias_std_a**2)
        self.last_slope = ocv.slope(self.s)  #: dOCV/dSOC at the last voltage correction
        #: |current| low-passed with the relaxation time constant: how loaded the cells were lately
        self.load_a = 0.0
        self.last_dt_s = 1.0  #: length of the last prediction step
        #: SOC swung (fraction) since the voltage last pinned each cell's SOC (see ``predict``)
        self.swing = np.zeros(n)
        self.busy_s = 0.0  #: how long the cells have not been at rest (length of the current pulse)
        #: 1-sigma model error (V) used in the last voltage correction, per cell
        self.model_error_v = np.zeros(n)
        #: cells whose last voltage correction was at rest (model error below the AFE noise)
        self.relaxed = np.zeros(n, dtype=bool)
        #: SOC the voltages of the current rest point at, OCV^-1(V - V_rc - R0 I), averaged over
        #: the rest's readings (each carried forward by the charge counted since): a measurement
        #: of the SOC that owes nothing to the capacity used for counting. Valid where
        #: ``rest_readings`` > 0; its 1-sigma is ``voltage_soc_std``.
        self.voltage_soc = self.s.copy()
        self.rest_readings = np.zeros(n)  #: readings averaged into ``voltage_soc`` (0 = not at rest)
        self._last_ds = np.zeros(n)  #: SOC counted by the last prediction

    @property
    def cell_count(self) -> int:
        return len(self.s)

    @property
    def soc(self) -> FloatArray:
        return self.s

    @property
    def soc_std(self) -> FloatArray:
        out: FloatArray = np.sqrt(np.maximum(self.p00, 0.0))
        return out

    @property
    def bias_a(self) -> FloatArray:
        return self.b

    @property
    def bias_var(self) -> FloatArray:
        """Variance of each cell's offset estimate (A^2)."""
        return self.p22

    def predict(
        self, dt_s: float, current_a: FloatArray, capacity_ah: FloatArray, capacity_rel_std: FloatArray
    ) -> None:
        """Advance by ``dt_s`` with the mean measured current through each cell over that time.

        ``capacity_rel_std`` is how uncertain each cell's capacity is (fraction): a capacity that
        is 4 % off makes the counted SOC drift by 4 % of every swing, so it adds to the SOC's
        process noise like a gain error of the current sensor does.
        """
        if dt_s <= 0:
            return
        t = self.tuning
        self.last_dt_s = dt_s
        true_i = current_a - self.b
        abs_i = np.abs(true_i)
        mean_abs = float(np.add.reduce(abs_i)) / len(abs_i) if len(abs_i) else 0.0
        self.load_a += (mean_abs - self.load_a) * (1.0 - math.exp(-dt_s / t.relaxation_tau_s))
        eta = np.where(true_i > 0, t.coulomb_efficiency, 1.0)
        k = eta / (3600.0 * capacity_ah)  # SOC per ampere-second
        a = math.exp(-dt_s / t.tau_s)
        g = t.r1_ohm * (1.0 - a)
        kdt = k * dt_s
        self._last_ds = kdt * true_i
        self.s += self._last_ds
        self.v_rc = a * self.v_rc + g * true_i

        # P' = F P F^T + Q with F = [[1, 0, -k dt], [0, a, -g], [0, 0, 1]], written out per element
        # (faster than stacked matmuls for 3x3 blocks).
        f02 = -kdt
        f02_sq = f02 * f02
        p00, p01, p02 = self.p00, self.p01, self.p02
        p11, p12, p22 = self.p11, self.p12, self.p22
        n00 = p00 + 2 * f02 * p02 + f02_sq * p22
        n01 = a * (p01 + f02 * p12) - g * (p02 + f02 * p22)
        n02 = p02 + f02 * p22
        n11 = a * a * p11 - 2 * a * g * p12 + g * g * p22
        n12 = a * p12 - g * p22
        sigma_i2 = t.current_noise_a**2
        # Gain and capacity errors are the same for the whole swing: the SOC error they cause is
        # rel_error * (SOC swung since the voltage last pinned the SOC), so its variance grows
        # with the square of that swing, not linearly with time.
        ds = kdt * abs_i
        rel2 = t.current_gain_noise**2 + np.square(capacity_rel_std)
        n00 = n00 + f02_sq * (sigma_i2 * _CURRENT_ERROR_CORRELATION_S / dt_s) + rel2 * ds * (2.0 * self.swing + ds)
        self.swing += ds
        n11 = n11 + g * g * sigma_i2
        n22 = p22 + t.bias_drift_a_per_sqrt_h**2 * dt_s / 3600.0
        self._store(n00, n01, n02, n11, n12, n22)
        self._bound()

    def update_voltage(self, voltage_v: FloatArray, current_a: FloatArray, r0_ohm: FloatArray) -> BoolArray:
        """Correct with measured cell voltages (NaN = not fresh: that cell is skipped).

        ``current_a`` is the measured current through each cell at the moment of the reading.
        Returns the mask of cells that were corrected.

        EKF step (the OCV curve linearised at the prior SOC) whose measurement noise says how much
        the voltage really tells at this moment: the AFE noise plus a model error that grows with
        the current now and with the current of the last minutes (``load_a``, low-passed with the
        relaxation time: a long pulse leaves diffusion overpotentials no RC pair describes, and
        they fade only slowly after the current stops). So a rested cell pins its SOC where the
        curve is steep; a loaded cell on the flat LFP plateau moves it by almost nothing.

        Guards: the SOC never moves past the SOC the voltage itself points at,
        z = OCV^-1(V - V_rc - R0 * I) (a prior far off on the flat plateau would otherwise be
        thrown past the truth); and what a correction can teach is bounded by the OCV table's own
        accuracy: the SOC variance a correction leaves is at least ``(ocv_error / slope)^2`` (or
        what it was before, if that was smaller), since that error is the same at every rest.
        """
        t = self.tuning
        s = self.s
        i_true = current_a - self.b
        u = voltage_v - self.v_rc - r0_ohm * i_true
        innovation = u - self.ocv.voltage(s)
        use = np.isfinite(innovation)
        innovation = np.where(use, innovation, 0.0)
        z = self.ocv.soc(np.where(use, u, 0.0))
        h0 = self.ocv.slope(s)
        self.last_slope = h0
        h2 = -r0_ohm
        model_v = t.model_error_v_per_c / t.rated_ah * (0.5 * np.abs(i_true) + self.load_a)
        self.model_error_v = model_v
        self.relaxed = model_v < 0.5 * t.voltage_noise_v
        self._average_rest(z, use)
        self.busy_s = 0.0 if bool(self.relaxed.all()) else self.busy_s + self.last_dt_s
        # The model error is not white: it stays for the relaxation time, and under a long pulse
        # (diffusion) for the whole pulse. Corrections every dt would average it away as if it
        # were noise and pull the SOC with it, so its variance counts once per correlation time:
        # each correction gets dt / max(tau, pulse length) of its information, and what a whole
        # pulse can teach grows only with the log of its length.
        corr_s = max(t.relaxation_tau_s, min(self.busy_s, _MAX_PULSE_S))
        model_var = np.square(model_v) * max(1.0, corr_s / self.last_dt_s)
        p00_before = self.p00
        # P h^T for h = [h0, 1, h2]
        ph0 = self.p00 * h0 + self.p01 + self.p02 * h2
        ph1 = self.p01 * h0 + self.p11 + self.p12 * h2
        ph2 = self.p02 * h0 + self.p12 + self.p22 * h2
        s_var = h0 * ph0 + ph1 + h2 * ph2 + t.voltage_noise_v**2 + model_var
        step = np.abs(ph0 / s_var * innovation)
        reach = np.abs(z - s) + _OVERSHOOT_MARGIN
        scale = np.where(step > reach, reach / np.maximum(step, 1e-12), 1.0)
        self._correct((ph0, ph1, ph2), s_var, innovation * scale, use)
        if t.ocv_error_v > 0:
            floor = np.minimum(p00_before, np.square(t.ocv_error_v / np.maximum(h0, 1e-6)))
            self.p00 = np.where(use, np.maximum(self.p00, floor), self.p00)
        # The swing whose correlated error is still in the SOC shrinks with the SOC's sigma.
        self.swing *= np.sqrt(self.p00 / p00_before)
        return use

    def _average_rest(self, z: FloatArray, use: BoolArray) -> None:
        """Fold this reading's voltage SOC into the rest's average (restart it when not at rest).

        The average is over at most ``_REST_READINGS`` readings, so that a long rest follows the
        self-discharge and the slow end of relaxation instead of its first minutes.
        """
        at_rest = self.relaxed & use
        n = np.where(at_rest, np.minimum(self.rest_readings + 1.0, _REST_READINGS), 0.0)
        carried = self.voltage_soc + self._last_ds
        self.voltage_soc = np.where(n > 1.0, carried + (z - carried) / np.maximum(n, 1.0), z)
        self.rest_readings = n

    def voltage_soc_std(self, slope: FloatArray) -> FloatArray:
        """1-sigma of ``voltage_soc``: the AFE noise averaged over the rest, the OCV table's
        error not (it is the same at every reading), both through the curve's slope."""
        t = self.tuning
        noise2 = t.voltage_noise_v**2 / np.maximum(self.rest_readings, 1.0)
        out: FloatArray = np.sqrt(noise2 + t.ocv_error_v**2) / np.maximum(slope, 1e-6)
        return out

    def update_soc(
        self, target: FloatArray, std: float | FloatArray, mask: BoolArray, set_mask: BoolArray | None = None,
    ) -> None:
        """Recalibration (full / empty) of the masked cells: their SOC *is* ``target`` now.

        First a Kalman update with ``SOC = target +- std`` (per cell if an array), so that the
        offset state learns from how far the count had drifted (their covariance says how much of
        the gap it explains); then the SOC of the cells in ``set_mask`` (default: all masked
        cells) is set to ``target`` as the 123\\SmartBMS does, whatever the prior said. The
        variance keeps what the set moved away from the update's own estimate, so sigma stays
        honest when the target is a convention more than a fact. Masked cells outside
        ``set_mask`` keep the update's estimate: a measurement, not a convention.
        """
        ph0, ph1, ph2 = self.p00, self.p01, self.p02
        s_var = ph0 + np.square(std)
        innovation = np.where(mask, target - self.s, 0.0)
        self._correct((ph0, ph1, ph2), s_var, innovation, mask)
        hard = mask if set_mask is None else mask & set_mask
        target = np.clip(target, 0.0, 1.0)
        self.p00 = np.where(hard, self.p00 + np.square(target - self.s), self.p00)
        self.s = np.where(hard, target, self.s)

    def set_soc(self, soc: FloatArray, std: float) -> None:
        """Overwrite the SOC (user command or a new cell count); forgets its correlations."""
        self.s = np.clip(np.asarray(soc, dtype=np.float64), 0.0, 1.0)
        self.p01 = np.zeros(len(self.s))
        self.p02 = np.zeros(len(self.s))
        self.p00 = np.full(len(self.s), std * std)

    def reset_bias(self, bias_a: float, std_a: float) -> None:
        """Forget the learnt offset (after the user zeroed the current sensor)."""
        n = len(self.s)
        self.b = np.full(n, bias_a)
        self.p02 = np.zeros(n)
        self.p12 = np.zeros(n)
        self.p22 = np.full(n, std_a * std_a)

    def _correct(
        self, ph: tuple[FloatArray, FloatArray, FloatArray], s_var: FloatArray,
        innovation: FloatArray, use: BoolArray,
    ) -> None:
        """Scalar-measurement update given P h^T (``ph``) and the innovation variance."""
        ph0, ph1, ph2 = ph
        inv = np.where(use, 1.0 / s_var, 0.0)
        k0, k1, k2 = ph0 * inv, ph1 * inv, ph2 * inv
        self.s = self.s + k0 * innovation
        self.v_rc = self.v_rc + k1 * innovation
        self.b = self.b + k2 * innovation
        # P' = P - K S K^T = P - (P h^T)(P h^T)^T / S
        self._store(
            self.p00 - k0 * ph0,
            self.p01 - k0 * ph1,
            self.p02 - k0 * ph2,
            self.p11 - k1 * ph1,
            self.p12 - k1 * ph2,
            self.p22 - k2 * ph2,
        )
        self._bound()

    def _store(self, *elements: FloatArray) -> None:
        """Write the six unique elements (00, 01, 02, 11, 12, 22) of the symmetric covariance."""
        p00, p01, p02, p11, p12, p22 = elements
        self.p00 = np.maximum(p00, 1e-10)
        self.p11 = np.maximum(p11, 1e-12)
        self.p22 = np.maximum(p22, 1e-8)
        self.p01, self.p02, self.p12 = p01, p02, p12

    def _bound(self) -> None:
        """Keep the states physical; an SOC pinned at a limit stops being pushed past it."""
        lim = self.tuning.bias_limit_a
        # minimum/maximum instead of np.clip: same result, a fraction of the call overhead.
        self.s = np.minimum(np.maximum(self.s, 0.0), 1.0)
        self.b = np.minimum(np.maximum(self.b, -lim), lim)
