"""``SpidevTransport``: the LTC6820 isoSPI master on a Raspberry Pi SPI bus, through spidev.

SPI mode (default 3: CPOL = 1, CPHA = 1, as the LTC6820's POL/PHA pins are usually strapped)
and clock (at most 1 MHz, 200 kHz with the LTC6820's SLOW pin high) come from ``[hardware.spi]``;
full duplex with CS held low for the whole call (``xfer2``). ``spidev`` is imported when a transport is created, so the
package imports (and the simulator runs) on machines without it.
"""

from __future__ import annotations

import math
from typing import Any

__all__ = ["WAKE_CS_LOW_S", "SpidevTransport"]

#: CS low time that wakes one chip from SLEEP (tWAKE ≈ 300 µs per device, Linduino wakeup_sleep).
WAKE_CS_LOW_S = 300e-6


class SpidevTransport:
    """``SpiTransport`` over ``/dev/spidev<bus>.<device>``."""

    def __init__(self, bus: int, device: int, speed_hz: int, mode: int = 3) -> None:
        try:
            import spidev  # optional dependency, only on the Pi
        except ImportError as exc:
            raise RuntimeError(
                "the 'spidev' module is not installed; install bmsgateway[pi] on the Raspberry Pi "
                "or use hardware.backend = 'simulated'"
            ) from exc
        if not 10_000 <= speed_hz <= 1_000_000:
            raise ValueError(f"speed_hz must be within 10 kHz..1 MHz for the LTC6820, got {speed_hz}")
        spi: Any = spidev.SpiDev()
        spi.open(bus, device)
        if mode not in (0, 1, 2, 3):
            raise ValueError(f"SPI mode must be 0..3 (2*POL + PHA of the LTC6820), got {mode}")
        spi.mode = mode
        spi.max_speed_hz = speed_hz
        spi.bits_per_word = 8
        self._spi = spi
        self.speed_hz = speed_hz
        # Dummy bytes that keep CS low for WAKE_CS_LOW_S at this clock rate.
        self._wake_bytes = max(1, math.ceil(WAKE_CS_LOW_S * speed_hz / 8))

    def transfer(self, tx: bytes) -> bytes:
        """Clock ``tx`` out with CS held low; return the bytes clocked in."""
        return bytes(self._spi.xfer2(list(tx)))

    def wakeup(self, chain_length: int) -> None:
        """Wake every device: one long CS-low burst of 0xFF per device (a wake pulse travels up).

        0xFF bytes never form a command with a valid PEC, so the chips ignore the data itself.
        """
        dummy = [0xFF] * self._wake_bytes
        for _ in range(max(1, chain_length)):
            self._spi.xfer2(dummy)

    def wakeup_idle(self, chain_length: int) -> None:
        """Ready the isoSPI ports: one dummy byte per device, each in its own CS frame
        (Linduino ``wakeup_idle``); a sleeping core needs ``wakeup`` instead."""
        for _ in range(max(1, chain_length)):
            self._spi.xfer2([0xFF])

    def close(self) -> None:
        """Release the SPI device."""
        self._spi.close()
