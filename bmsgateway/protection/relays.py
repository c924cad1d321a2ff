"""Allow-charge / allow-discharge signal relays: the 123\\SmartBMS algorithm, exactly.

The manual's tables (normal and critical mode) give, per relay, an *enable* column (all terms
ANDed) and a *disable* column (any term). Between the two the relay keeps its state -- that gap is
the hysteresis (in normal mode the SOC restart thresholds, in both modes the temperature equality
points). Disable wins over enable.

Normal mode                         | Critical mode
charge enable:  all cells < Vbalance | all cells < Vmax
                AND SOC < charge restart
charge disable: a cell >= Vmax       | a cell >= Vmax
                OR all cells >= Vbalance
discharge enable: all cells > Vmin   | all cells > Vmin
                  AND SOC >= discharge restart
discharge disable: a cell <= Vmin    | a cell <= Vmin
both, enable:  AND cell temperature > Tmin AND < Tmax AND cell communication
both, disable: OR a temperature < Tmin OR > Tmax OR no cell communication

Inputs are the *fresh* extremes of this cycle. "A cell >= Vmax" is proven by any fresh cell;
"all cells ..." only when every cell was read this cycle. A cycle without the data proves neither
column, so the relay holds; if data stays missing, communication_lost is raised
and "no cell communication" then disables both. The manual's settings page says "above" the
discharge restart SOC while its table says ``>=``; the table is implemented.

One addition to the tables: a relay that was switched off stays off for at least ``min_off_s``
(config ``protection.relays.min_off_s``). Without it, critical mode switches the charger off at
Vmax and, a cycle later when the cell has relaxed below Vmax, on again -- every few seconds,
which wears out relays and chargers. Switching *off* is never delayed.

A second addition, critical mode only: the charge relay comes back only when every cell is below
Vmax - ``critical_charge_hysteresis_v`` (config ``protection.relays``). The table has no
hysteresis there, so an unregulated charger (open-loop solar) is switched every ``min_off_s``
while the sun shines: 454 times in the simulator's 30 h solar day. 0 restores the table exactly.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from bmsgateway.state import RelayMode, is_full

__all__ = ["RelayInputs", "RelayLogic"]


@dataclass(frozen=True, slots=True)
class RelayInputs:
    """One cycle's inputs. Voltages/temperatures are NaN when no fresh value exists."""

    min_cell_v: float
    max_cell_v: float
    min_temperature_c: float
    max_temperature_c: float
    soc_pct: float
    communication_ok: bool
    all_cells_fresh: bool = True  #: "all cells ..." terms need every cell read this cycle


class RelayLogic:
    """The two relay states and the table; ``update`` returns (charge, discharge)."""

    def __init__(
        self, mode: RelayMode, vmin_v: float, vbalance_v: float, vmax_v: float, tmin_c: float, tmax_c: float,
        charge_restart_soc_pct: float, discharge_restart_soc_pct: float, min_off_s: float = 0.0,
        critical_charge_hysteresis_v: float = 0.0,
    ) -> None:
        self.critical_charge_hysteresis_v = critical_charge_hysteresis_v
        self.mode = mode
        self.vmin_v = vmin_v
        self.vbalance_v = vbalance_v
        self.vmax_v = vmax_v
        self.tmin_c = tmin_c
        self.tmax_c = tmax_c
        self.charge_restart_soc_pct = charge_restart_soc_pct
        self.discharge_restart_soc_pct = discharge_restart_soc_pct
        self.min_off_s = min_off_s
        self.charge = False
        self.discharge = False
        self._charge_off_s = -math.inf  #: when each relay was last switched off
        self._discharge_off_s = -math.inf

    def _decide(self, i: RelayInputs) -> tuple[bool, bool, bool, bool]:
        """(charge_enable, charge_disable, discharge_enable, discharge_disable)."""
        lo, hi = i.min_cell_v, i.max_cell_v
        tlo, thi = i.min_temperature_c, i.max_temperature_c
        have_v = lo == lo and hi == hi  # some fresh cell: "a cell >= / <=" terms are provable
        have_all = have_v and i.all_cells_fresh  # "all cells ..." terms need every cell
        have_t = tlo == tlo and thi == thi
        temp_ok = have_t and tlo > self.tmin_c and thi < self.tmax_c
        temp_bad = have_t and (tlo < self.tmin_c or thi > self.tmax_c)
        comm = i.communication_ok
        critical = self.mode == RelayMode.CRITICAL

        c_dis = (not comm) or temp_bad or (have_v and hi >= self.vmax_v)
        d_dis = (not comm) or temp_bad or (have_v and lo <= self.vmin_v)
        if critical:
            c_en = comm and temp_ok and have_all and hi < self.vmax_v - self.critical_charge_hysteresis_v
            d_en = comm and temp_ok and have_all and lo > self.vmin_v
        else:
            c_dis = c_dis or is_full(lo, self.vbalance_v, have_all)
            soc = i.soc_pct
            c_en = comm and temp_ok and have_all and hi < self.vbalance_v and soc < self.charge_restart_soc_pct
            d_en = comm and temp_ok and have_all and lo > self.vmin_v and soc >= self.discharge_restart_soc_pct
        return c_en, c_dis, d_en, d_dis

    def lights(self, i: RelayInputs) -> int:
        """The 123 warning lights (bits of ``state.STATUS_LIGHTS``) at exactly this table's thresholds.

        E: no cell communication; Vh: a fresh cell >= Vmax; Vl: a fresh cell <= Vmin; Th: a
        temperature > Tmax; Tl: a temperature < Tmin. NaN (not measured fresh) lights nothing.
        """
        hi, lo, thi, tlo = i.max_cell_v, i.min_cell_v, i.max_temperature_c, i.min_temperature_c
        on = (
            not i.communication_ok,
            hi == hi and hi >= self.vmax_v,
            lo == lo and lo <= self.vmin_v,
            thi == thi and thi > self.tmax_c,
            tlo == tlo and tlo < self.tmin_c,
        )
        return sum(1 << n for n, flag in enumerate(on) if flag)

    def update(self, i: RelayInputs, t_s: float = math.inf) -> tuple[bool, bool]:
        """Apply the table at time ``t_s`` (clock seconds; the default ignores ``min_off_s``)."""
        c_en, c_dis, d_en, d_dis = self._decide(i)
        if c_dis:
            if self.charge:
                self._charge_off_s = t_s
            self.charge = False
        elif c_en and t_s - self._charge_off_s >= self.min_off_s:
            self.charge = True
        if d_dis:
            if self.discharge:
                self._discharge_off_s = t_s
            self.discharge = False
        elif d_en and t_s - self._discharge_off_s >= self.min_off_s:
            self.discharge = True
        return self.charge, self.discharge
