"""Helpers for the simulator tests: a pack on a VirtualClock with chosen simulator settings."""

from __future__ import annotations

from typing import Any

from bmsgateway.clock import VirtualClock
from bmsgateway.config import Config
from bmsgateway.config.simulator import SimulatorConfig
from bmsgateway.sim import PackSimulator

QUIET: dict[str, Any] = {"voltage_noise_v": 0.0, "temperature_noise_c": 0.0, "current_noise_a": 0.0}


def make_sim(config: Config | None = None, /, **sim: Any) -> tuple[PackSimulator, VirtualClock]:
    """A simulator whose simulator section is the default with ``sim`` overrides."""
    base = config or Config()
    cfg = base.model_copy(update={"simulator": SimulatorConfig(**{**base.simulator.model_dump(), **sim})})
    clock = VirtualClock()
    return PackSimulator(cfg, clock), clock


def close_all(sim: PackSimulator, clock: VirtualClock) -> None:
    """Close charge and discharge paths (contactors + relays) and let the contacts move."""
    for name in ("charge", "discharge", "allow_charge", "allow_discharge"):
        sim.set_output(name, True)
    clock.advance(1.0)


def run(sim: PackSimulator, clock: VirtualClock, duration_s: float, step_s: float = 0.1) -> None:
    """Advance like the daemon does: one AFE read per tick."""
    ticks = round(duration_s / step_s)
    for _ in range(ticks):
        clock.advance(step_s)
        sim.cell_inputs_v(0)
