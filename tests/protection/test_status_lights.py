"""Issue 17 item 8: the 123\\SmartBMS warning lights (E, Vh, Vl, Th, Tl) at exactly the relay thresholds.

LFP defaults: Vmin 2.9 V, Vmax 3.7 V; relays Tmin 0 °C, Tmax 50 °C (the fault table's own
thresholds lie elsewhere: the lights follow the relay table, as on the 123 display).
"""

from __future__ import annotations

import pytest

from bmsgateway.protection.relays import RelayInputs, RelayLogic
from bmsgateway.state import STATUS_LIGHTS
from tests.protection.conftest import NAN, Rig, make_config


def lit(bits: int) -> set[str]:
    return {name for n, name in enumerate(STATUS_LIGHTS) if bits >> n & 1}


@pytest.mark.parametrize(("inp", "expected"), [
    (RelayInputs(3.3, 3.3, 25.0, 25.0, 50.0, True), set()),
    (RelayInputs(3.3, 3.70, 25.0, 25.0, 50.0, True), {"Vh"}),   # == Vmax: the relay opens, Vh on
    (RelayInputs(3.3, 3.699, 25.0, 25.0, 50.0, True), set()),
    (RelayInputs(2.90, 3.3, 25.0, 25.0, 50.0, True), {"Vl"}),   # == Vmin
    (RelayInputs(2.901, 3.3, 25.0, 25.0, 50.0, True), set()),
    (RelayInputs(3.3, 3.3, 25.0, 50.1, 50.0, True), {"Th"}),    # > Tmax
    (RelayInputs(3.3, 3.3, 25.0, 50.0, 50.0, True), set()),     # == Tmax: the table holds, no light
    (RelayInputs(3.3, 3.3, -0.1, 25.0, 50.0, True), {"Tl"}),    # < Tmin
    (RelayInputs(3.3, 3.3, 0.0, 25.0, 50.0, True), set()),      # == Tmin: the table holds, no light
    (RelayInputs(3.3, 3.3, 25.0, 25.0, 50.0, False), {"E"}),
    (RelayInputs(NAN, NAN, NAN, NAN, 50.0, False), {"E"}),      # nothing fresh lights nothing but E
    (RelayInputs(2.8, 3.8, -5.0, 60.0, 50.0, False), set(STATUS_LIGHTS)),
])
def test_lights_follow_the_relay_table(inp: RelayInputs, expected: set[str]) -> None:
    logic = RelayLogic("normal", 2.9, 3.4, 3.7, 0.0, 50.0, 90.0, 20.0)
    assert lit(logic.lights(inp)) == expected
    # each light says why the relay table opened (or would open) a relay
    c, d = logic.update(inp)
    if expected & {"E", "Th", "Tl"}:
        assert not c and not d
    if "Vh" in expected:
        assert not c
    if "Vl" in expected:
        assert not d


def test_lights_in_the_protection_status_at_the_configured_relay_limits() -> None:
    rig = Rig(make_config(relays={"tmin_c": 5.0, "tmax_c": 40.0}))
    assert lit(rig.run(0.5, cells=3.3, temps=25.0).status_lights) == set()
    assert lit(rig.run(0.5, cells=[3.3] * 15 + [3.70], temps=25.0).status_lights) == {"Vh"}
    assert lit(rig.run(0.5, cells=3.3, temps=[25.0, 25.0, 25.0, 4.9]).status_lights) == {"Tl"}
    assert lit(rig.run(0.5, cells=3.3, temps=[25.0, 25.0, 25.0, 40.1]).status_lights) == {"Th"}
