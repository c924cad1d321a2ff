"""The 123\\SmartBMS charge / load relay tables (manual, section "Algorithm"), normal and critical.

LFP defaults: Vmin 2.9 V, Vbalance 3.4 V, Vmax 3.7 V; Tmin 0 °C, Tmax 50 °C; charge restart 90 %,
discharge restart 20 %. Each row: mode, relay state before, inputs, expected (charge, discharge).
"""

from __future__ import annotations

import pytest

from bmsgateway.protection.relays import RelayInputs, RelayLogic
from tests.protection.conftest import NAN, Rig, make_config


def inputs(lo: float = 3.3, hi: float = 3.3, tlo: float = 25.0, thi: float = 25.0, soc: float = 50.0,
           comm: bool = True) -> RelayInputs:
    return RelayInputs(lo, hi, tlo, thi, soc, comm)


ON, OFF = True, False
# mode, (charge, discharge) before, inputs, (charge, discharge) after
TABLE: list[tuple[str, tuple[bool, bool], RelayInputs, tuple[bool, bool]]] = [
    # --- normal mode, charge relay ---
    ("normal", (OFF, OFF), inputs(), (ON, ON)),                                  # all enable terms hold
    ("normal", (OFF, ON), inputs(hi=3.41), (OFF, ON)),                           # a cell >= Vbalance: no enable
    ("normal", (OFF, ON), inputs(soc=90.0), (OFF, ON)),                          # SOC not < charge restart
    ("normal", (OFF, ON), inputs(soc=89.9), (ON, ON)),                           # SOC < charge restart
    ("normal", (ON, ON), inputs(lo=3.40, hi=3.45, soc=99), (OFF, ON)),           # all cells >= Vbalance: full
    ("normal", (ON, ON), inputs(lo=3.35, hi=3.45, soc=99), (ON, ON)),            # not all: keeps charging
    ("normal", (ON, ON), inputs(lo=3.3, hi=3.70), (OFF, ON)),                    # a cell >= Vmax
    ("normal", (OFF, ON), inputs(lo=3.3, hi=3.39, soc=95), (OFF, ON)),           # full, SOC high: stays off
    ("normal", (ON, ON), inputs(tlo=-0.1), (OFF, OFF)),                          # temperature < Tmin: both off
    ("normal", (ON, ON), inputs(thi=50.1), (OFF, OFF)),                          # temperature > Tmax: both off
    ("normal", (ON, ON), inputs(tlo=0.0), (ON, ON)),                             # == Tmin: neither column, holds
    ("normal", (OFF, OFF), inputs(tlo=0.0), (OFF, OFF)),                         # == Tmin: holds off too
    ("normal", (ON, ON), inputs(comm=False), (OFF, OFF)),                        # no cell communication
    ("normal", (ON, ON), inputs(thi=50.0), (ON, ON)),                            # == Tmax: neither column, holds
    ("normal", (OFF, OFF), inputs(thi=50.0), (OFF, OFF)),                        # == Tmax: holds off too
    ("normal", (OFF, ON), inputs(lo=3.3, hi=3.40), (OFF, ON)),                   # a cell == Vbalance: no enable
    # --- normal mode, discharge relay ---
    ("normal", (ON, ON), inputs(lo=2.9), (ON, OFF)),                             # a cell <= Vmin
    ("normal", (ON, OFF), inputs(lo=3.0, soc=19.9), (ON, OFF)),                  # SOC < discharge restart
    ("normal", (ON, OFF), inputs(lo=3.0, soc=20.0), (ON, ON)),                   # SOC >= discharge restart
    ("normal", (ON, OFF), inputs(lo=2.9, soc=50.0), (ON, OFF)),                  # cell not > Vmin
    ("normal", (ON, ON), inputs(lo=2.91, soc=5.0), (ON, ON)),                    # low SOC alone does not stop
    # --- critical mode ---
    ("critical", (OFF, OFF), inputs(hi=3.69, lo=3.5, soc=100), (ON, ON)),        # all < Vmax, SOC ignored
    ("critical", (ON, ON), inputs(lo=3.45, hi=3.5, soc=100), (ON, ON)),          # full pack keeps both on
    ("critical", (ON, ON), inputs(hi=3.70), (OFF, ON)),                          # a cell >= Vmax
    ("critical", (OFF, ON), inputs(hi=3.69), (ON, ON)),                          # back below Vmax: on again
    ("critical", (ON, ON), inputs(lo=2.90), (ON, OFF)),                          # a cell <= Vmin
    ("critical", (ON, OFF), inputs(lo=2.91, soc=0.0), (ON, ON)),                 # above Vmin: on, SOC ignored
    ("critical", (ON, ON), inputs(tlo=-1.0), (OFF, OFF)),
    ("critical", (ON, ON), inputs(thi=51.0), (OFF, OFF)),
    ("critical", (ON, ON), inputs(comm=False), (OFF, OFF)),
    ("critical", (OFF, OFF), inputs(thi=50.0), (OFF, OFF)),                      # == Tmax: holds
    # --- no fresh data this cycle: neither column provable, relays hold ---
    ("normal", (ON, ON), inputs(lo=NAN, hi=NAN), (ON, ON)),
    ("critical", (OFF, OFF), inputs(lo=NAN, hi=NAN), (OFF, OFF)),
    ("normal", (ON, ON), inputs(tlo=NAN, thi=NAN), (ON, ON)),
    # some cells missing: "a cell >= Vmax" still proven by a fresh cell, "all cells" terms are not
    ("normal", (OFF, OFF), RelayInputs(3.3, 3.3, 25, 25, 50, True, False), (OFF, OFF)),
    ("critical", (ON, ON), RelayInputs(3.3, 3.7, 25, 25, 50, True, False), (OFF, ON)),
    ("normal", (ON, ON), RelayInputs(3.45, 3.5, 25, 25, 99, True, False), (ON, ON)),
]


@pytest.mark.parametrize(("mode", "before", "inp", "after"), TABLE)
def test_relay_table(mode: str, before: tuple[bool, bool], inp: RelayInputs, after: tuple[bool, bool]) -> None:
    logic = RelayLogic(mode, 2.9, 3.4, 3.7, 0.0, 50.0, 90.0, 20.0)
    logic.charge, logic.discharge = before
    assert logic.update(inp) == after


def test_normal_mode_full_cycle_through_protection() -> None:
    """Charge until all cells reach Vbalance, stay off until SOC < 90 %, then on again."""
    rig = Rig(make_config(relays={"mode": "normal", "min_off_s": 0.0}), soc_pct=80.0)
    st = rig.run(0.5, cells=3.35)
    assert st.allow_charge_relay and rig.io.out["allow_charge"]
    st = rig.run(0.5, cells=[3.40] * 15 + [3.45])
    assert not st.allow_charge_relay and not rig.io.out["allow_charge"]
    rig.soc_pct = 95.0
    st = rig.run(0.5, cells=3.33)  # relaxed below Vbalance but SOC still high
    assert not st.allow_charge_relay
    rig.soc_pct = 89.0
    st = rig.run(0.5, cells=3.33)
    assert st.allow_charge_relay
    assert st.allow_discharge_relay  # discharge unaffected throughout


def test_relay_stays_off_for_min_off_time() -> None:
    """Critical mode at Vmax: the cell relaxes below Vmax a cycle later, but the charger stays
    off for protection.relays.min_off_s (no chatter); switching off itself is immediate."""
    rig = Rig(make_config(relays={"mode": "critical", "min_off_s": 30.0}), soc_pct=100.0)
    st = rig.run(0.5, cells=3.40)
    assert st.allow_charge_relay
    st = rig.step(cells=[3.40] * 15 + [3.70])
    assert not st.allow_charge_relay  # off in the same cycle
    st = rig.run(29.0, cells=3.45)
    assert not st.allow_charge_relay  # enable condition holds, but min_off_s has not passed
    st = rig.run(1.5, cells=3.45)
    assert st.allow_charge_relay


def test_critical_mode_through_protection() -> None:
    rig = Rig(make_config(relays={"mode": "critical"}), soc_pct=100.0)
    st = rig.run(0.5, cells=[3.40] * 15 + [3.45])
    assert st.allow_charge_relay and st.allow_discharge_relay
    st = rig.step(cells=[3.40] * 15 + [3.70])
    assert not st.allow_charge_relay and st.allow_discharge_relay
    assert st.relay_mode == "critical"


def test_soc_falls_back_to_coulomb_counter_when_estimate_is_nan() -> None:
    """Normal mode: after 'full' (SOC set to 100 %), charge restarts only after 10 % of the
    capacity was discharged, counted internally from the current."""
    rig = Rig(make_config(relays={"mode": "normal"}), soc_pct=NAN)
    st = rig.run(0.5, cells=3.45)  # all >= Vbalance: full, counter set to 100 %
    assert not st.allow_charge_relay
    # 100 Ah pack, discharge at 100 A (peak limits allow it) for 5.4 min = 9 Ah -> 91 %: still off
    rig.period_s = 1.0
    st = rig.run(5.4 * 60, cells=3.30, current_a=-100.0)
    assert not st.allow_charge_relay
    st = rig.run(60, cells=3.30, current_a=-100.0)  # 10.67 Ah -> 89.3 %
    assert st.allow_charge_relay


def test_critical_mode_charge_hysteresis() -> None:
    """Issue 17 item 10: re-enabling the charge relay waits for Vmax - hysteresis (0 = the table)."""
    logic = RelayLogic("critical", 2.9, 3.4, 3.7, 0.0, 50.0, 90.0, 20.0, critical_charge_hysteresis_v=0.05)
    logic.charge, logic.discharge = OFF, ON
    assert logic.update(inputs(hi=3.69)) == (OFF, ON)  # the table alone would switch on here
    assert logic.update(inputs(hi=3.651)) == (OFF, ON)
    assert logic.update(inputs(hi=3.649)) == (ON, ON)
    assert logic.update(inputs(hi=3.70)) == (OFF, ON)  # switching off is still at Vmax exactly
    normal = RelayLogic("normal", 2.9, 3.4, 3.7, 0.0, 50.0, 90.0, 20.0, critical_charge_hysteresis_v=0.05)
    assert normal.update(inputs(hi=3.39)) == (ON, ON)  # normal mode keeps its own table


def test_relays_start_off_until_their_enable_terms_hold() -> None:
    """At start-up neither relay is on by default: inside the hysteresis band (SOC above the
    charge restart, below the discharge restart) both stay off."""
    logic = RelayLogic("normal", 2.9, 3.4, 3.7, 0.0, 50.0, 90.0, 20.0)
    assert logic.update(inputs(soc=95.0)) == (OFF, ON)
    logic = RelayLogic("normal", 2.9, 3.4, 3.7, 0.0, 50.0, 90.0, 20.0)
    assert logic.update(inputs(lo=3.0, soc=10.0)) == (ON, OFF)


def test_min_off_counts_from_switching_off_not_from_the_last_disable_cycle() -> None:
    """Too hot for 100 s: the charge relay went off 100 s ago, longer than min_off_s, so it comes
    back as soon as the temperature is fine again (the fault's clear delay aside)."""
    rig = Rig(make_config(relays={"min_off_s": 60.0, "tmax_c": 40.0}))
    st = rig.run(1.0, temps=25.0)
    assert st.allow_charge_relay and st.allow_discharge_relay
    st = rig.run(100.0, temps=42.0)
    assert not st.allow_charge_relay and not st.allow_discharge_relay
    st = rig.run(5.0, temps=25.0)
    assert st.allow_charge_relay and st.allow_discharge_relay


def test_after_min_off_the_relay_needs_its_enable_terms_again() -> None:
    """Switched off at Vmax, the enable terms held only briefly inside min_off_s; afterwards the
    pack sits in the hysteresis band (SOC above charge restart): the relay stays off."""
    rig = Rig(make_config(relays={"min_off_s": 30.0}))
    assert rig.run(1.0, cells=3.30).allow_charge_relay
    assert not rig.step(cells=[3.30] * 15 + [3.70]).allow_charge_relay
    assert not rig.run(5.0, cells=3.30).allow_charge_relay  # enable holds, min_off_s has not passed
    rig.soc_pct = 95.0
    assert not rig.run(40.0, cells=3.30).allow_charge_relay


def test_after_min_off_the_discharge_relay_needs_its_enable_terms_again() -> None:
    rig = Rig(make_config(relays={"min_off_s": 30.0}))
    assert rig.run(1.0, cells=3.30).allow_discharge_relay
    assert not rig.step(cells=[3.30] * 15 + [2.90]).allow_discharge_relay
    assert not rig.run(5.0, cells=3.30).allow_discharge_relay
    rig.soc_pct = 10.0
    assert not rig.run(40.0, cells=3.30).allow_discharge_relay


def test_min_off_ends_exactly_after_min_off_s() -> None:
    logic = RelayLogic("normal", 2.9, 3.4, 3.7, 0.0, 50.0, 90.0, 20.0, min_off_s=30.0)
    assert logic.update(inputs(), t_s=0.0) == (ON, ON)
    assert logic.update(inputs(hi=3.7, lo=2.9), t_s=10.0) == (OFF, OFF)
    assert logic.update(inputs(), t_s=39.9) == (OFF, OFF)
    assert logic.update(inputs(), t_s=40.0) == (ON, ON)
