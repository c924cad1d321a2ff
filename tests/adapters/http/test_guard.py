"""Wrong-PIN limit per client: locked out after N failures within the window, free again after it."""

from __future__ import annotations

from bmsgateway.adapters.http.guard import PinCheck, PinGuard


def test_wrong_pins_lock_out_one_client_for_the_window() -> None:
    t = [0.0]
    guard = PinGuard(lambda: 42, attempts=3, window_s=60.0, now=lambda: t[0])
    assert guard.check("a", "0042") is PinCheck.OK  # digits compare as the number, as on Modbus
    assert guard.check("a", None) is PinCheck.MISSING
    for _ in range(3):
        t[0] += 1.0
        assert guard.check("a", "41") is PinCheck.WRONG
    assert guard.check("a", "42") is PinCheck.LOCKED_OUT
    assert guard.check("b", "42") is PinCheck.OK  # another client is not affected
    t[0] = 61.5  # the first failure (at 1 s) has left the window
    assert guard.retry_after_s("a") == 0.0
    assert guard.check("a", "42") is PinCheck.OK
