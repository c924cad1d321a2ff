"""Property: whatever bits the isoSPI link flips in the replies, no wrong value is ever taken as good.

The transport between driver and emulated chain flips 1 to 3 random bits in the reply part of
random transfers. Every cell value the driver returns must then be either the true (quantised)
value or NaN with its board marked not ok -- PEC15 has a Hamming distance of at least 4 over an
8-byte register frame, so these corruptions are always caught.
"""

from __future__ import annotations

import math
import random

from hypothesis import given, settings
from hypothesis import strategies as st

from bmsgateway.clock import VirtualClock
from bmsgateway.hal.ltc681x import EmulatedChain, LTC681xChain, StaticAfe
from tests.hal.ltc681x_helpers import board_voltages

CHIPS = ("LTC6811", "LTC6813", "LTC6811")
USED = [12, 18, 9]


class FlippingLink:
    """Wraps the emulated chain; flips bits in the bytes clocked back to the host."""

    def __init__(self, inner: EmulatedChain, rng: random.Random, probability: float, max_bits: int) -> None:
        self.inner = inner
        self.rng = rng
        self.probability = probability
        self.max_bits = max_bits
        self.flips = 0

    def transfer(self, tx: bytes) -> bytes:
        rx = bytearray(self.inner.transfer(tx))
        if len(rx) > 4 and self.rng.random() < self.probability:
            for _ in range(self.rng.randint(1, self.max_bits)):
                pos = self.rng.randrange(4, len(rx))  # after the 4 command bytes: reply data
                rx[pos] ^= 1 << self.rng.randrange(8)
                self.flips += 1
        return bytes(rx)

    def wakeup(self, chain_length: int) -> None:
        self.inner.wakeup(chain_length)


@settings(max_examples=60, deadline=None)
@given(seed=st.integers(0, 2**32 - 1), probability=st.floats(0.05, 0.9), max_bits=st.integers(1, 3),
       retries=st.integers(0, 3))
def test_corrupted_replies_are_retried_or_reported_never_accepted(
    seed: int, probability: float, max_bits: int, retries: int
) -> None:
    clock = VirtualClock()
    truth = [board_voltages(b, n) for b, n in enumerate(USED)]
    emu = EmulatedChain(CHIPS, clock, StaticAfe(truth), USED, seed=seed)
    link = FlippingLink(emu, random.Random(seed), probability, max_bits)
    chain = LTC681xChain(link, CHIPS, pec_retries=retries)
    chain.wakeup()
    for _ in range(5):
        chain.clear_cells()
        chain.wait_done(clock.advance, chain.start_cell_conversion(), timeout_s=0.05)
        read = chain.read_cell_voltages()
        for b, n in enumerate(USED):
            values = read.values[b][:n]
            for got, want in zip(values, truth[b], strict=True):
                # NaN is a missing value (a failed PEC, or a corrupted command so that nothing was
                # converted after the clear): allowed. A wrong number never is.
                if not math.isnan(got):
                    assert abs(got - want) < 1e-4  # the true value, to the ADC step
    # flips always land somewhere read back, so with a high rate some PEC failures are counted
    if link.flips >= 10:
        assert sum(chain.pec_errors) > 0
