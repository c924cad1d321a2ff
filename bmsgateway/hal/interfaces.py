"""The small interfaces the rest of the daemon uses to reach hardware (or its simulation).

Why interfaces: the same driver and control code runs on a Raspberry Pi (spidev, gpiod) and on the
simulated pack (byte-level chip emulator, in-memory outputs), so tests exercise the real protocol.
"""

from __future__ import annotations

from typing import Protocol, runtime_checkable

from bmsgateway.state import Output

__all__ = ["OUTPUT_NAMES", "BusVoltageSensor", "DigitalIO", "SpiTransport"]

#: Names of the digital outputs (declared once, as ``state.Output``); feedback inputs are ``<name>_feedback``.
OUTPUT_NAMES: tuple[str, ...] = tuple(o.value for o in Output)


@runtime_checkable
class SpiTransport(Protocol):
    """A full-duplex SPI link to the isoSPI master (LTC6820), chip select framing each call."""

    def transfer(self, tx: bytes) -> bytes:
        """Clock ``tx`` out with CS held low; return the ``len(tx)`` bytes clocked in."""
        ...

    def wakeup(self, chain_length: int) -> None:
        """Wake the daisy chain from sleep/idle (CS pulses or dummy bytes, one per device)."""
        ...


@runtime_checkable
class DigitalIO(Protocol):
    """Contactor and relay outputs with their feedback inputs, and the discrete inputs."""

    def set_output(self, name: str, on: bool) -> None:
        """Drive output ``name`` (one of ``OUTPUT_NAMES``); unknown/unwired names are ignored."""
        ...

    def get_output(self, name: str) -> bool:
        """Last commanded state of an output."""
        ...

    def read_feedback(self, name: str) -> bool | None:
        """Auxiliary contact of output ``name`` (True = closed); None when not wired."""
        ...

    def safe_state(self) -> None:
        """Open every output at once (daemon stop, loop crash)."""
        ...

    def read_inputs(self) -> tuple[bool, ...]:
        """Levels of the discrete inputs (``hardware.inputs``, config order), True = line high.

        Polarity (active_low) and debouncing are applied by ``protection.inputs``; fewer levels
        than inputs (none wired, a read that failed) means "no reading": the states hold.
        """
        ...


@runtime_checkable
class BusVoltageSensor(Protocol):
    """Voltage on the load side of the contactors, needed to finish precharge."""

    def read_bus_voltage_v(self) -> float | None:
        """Bus voltage in volts; None when it cannot be measured."""
        ...
