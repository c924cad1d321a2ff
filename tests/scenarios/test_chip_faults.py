"""Issue 8 items 3-4 through the chip emulator: lost/stalled conversions and an extra board."""

from __future__ import annotations

import math

import pytest

from tests.scenarios.harness import simulate
from tests.scenarios.test_faults import BASE, INJECT_AT_S, PERIOD_S, _off_time

ADC_DELAY_S = 0.3  # protection.sensors.adc_fault_delay_s default


@pytest.mark.parametrize("fault", ["adc_stall:2", "adc_drop:2=1.0"])
def test_lost_or_stalled_conversions_open_the_contactors(fault: str) -> None:
    rec = simulate(BASE, INJECT_AT_S + 3.0, injections=[f"{fault}@{INJECT_AT_S}"])
    ((t_inj, _),) = rec.injections
    for out in ("charge", "discharge"):
        assert [on for t, on in rec.outputs(out) if t < t_inj][-1] is True
    raised = [e for e in rec.raised("adc_fault", "fault") if e.time_s >= t_inj]
    assert raised, f"adc_fault not raised; events: {rec.events}"
    assert raised[0].time_s - t_inj <= ADC_DELAY_S + 2 * PERIOD_S + 1e-6
    for out in ("charge", "discharge"):
        assert _off_time(rec, out, t_inj) <= raised[0].time_s + 1e-6
    # No value of board 2 is ever taken as fresh after the fault: its cells read NaN.
    n1 = rec.config.pack.boards[0].cells
    for s in rec.states:
        if s.time_s > t_inj + PERIOD_S:
            assert all(math.isnan(v) for v in s.measurement.cell_voltages_v[n1:])
            assert s.measurement.boards[1].adc_fault in ("conversion_timeout", "not_converted")


def test_an_unconfigured_answering_board_keeps_the_contactors_open() -> None:
    rec = simulate({**BASE, "simulator.unconfigured_boards": 1}, 2.0)
    raised = rec.raised("chain_configuration", "fault")
    assert raised and raised[0].time_s <= PERIOD_S + 1e-6
    for out in ("charge", "discharge"):
        assert not any(on for _t, on in rec.outputs(out))
    assert "beyond" in rec.states[-1].measurement.chain_faults[0]


def test_chip_injections_parse_and_report_bad_input() -> None:
    from bmsgateway.sim.faults import parse_injection

    assert parse_injection("adc_stall:2@30s").target == 2
    inj = parse_injection("adc_drop:1=0.25@1m")
    assert (inj.target, inj.value, inj.at_s) == (1, 0.25, 60.0)
    with pytest.raises(ValueError, match="adc_drop needs '=P'"):
        parse_injection("adc_drop:1")
    with pytest.raises(ValueError, match=r"within 0\.\.1"):
        parse_injection("adc_drop:1=1.5")
