"""The PIN check of HTTP writes, with a per-client limit on wrong attempts.

Why per request and not a server-side session: the API stays stateless (any client, curl included,
sends the PIN with the write it unlocks), and the page forgets the PIN itself after the unlock
timeout. Guessing is what must be slowed: a client with ``pin_attempts`` wrong PINs within
``pin_window_s`` gets 429 until its window ends, whatever PIN it sends; each wrong PIN is a
warning in the log and counted in ``bms_pin_failures_total``.
"""

from __future__ import annotations

import hmac
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from enum import Enum

__all__ = ["PinCheck", "PinGuard"]

_MAX_CLIENTS = 1024


class PinCheck(Enum):
    OK = "ok"
    MISSING = "missing"
    WRONG = "wrong"
    LOCKED_OUT = "locked_out"


@dataclass
class PinGuard:
    """Checks PINs; remembers each client's recent failures."""

    pin: Callable[[], int]  #: the PIN in force (read each time: settings may change it)
    attempts: int
    window_s: float
    now: Callable[[], float] = time.monotonic
    _failures: dict[str, deque[float]] = field(default_factory=dict)

    def retry_after_s(self, client: str) -> float:
        """Seconds until ``client`` may try again (0 when it may now)."""
        q = self._failures.get(client)
        if q is None:
            return 0.0
        t = self.now()
        while q and q[0] <= t - self.window_s:
            q.popleft()
        if not q:
            del self._failures[client]
            return 0.0
        if len(q) < self.attempts:
            return 0.0
        return q[0] + self.window_s - t

    def check(self, client: str, given: object) -> PinCheck:
        if self.retry_after_s(client) > 0.0:
            return PinCheck.LOCKED_OUT
        if given is None or given == "":
            return PinCheck.MISSING
        text = str(given).strip()
        # Digits compare as a number ("0042" is PIN 42, as on the Modbus register), in constant time.
        value = str(int(text)) if text.isdigit() else text
        if hmac.compare_digest(value.encode(), str(self.pin()).encode()):
            return PinCheck.OK
        if len(self._failures) >= _MAX_CLIENTS:  # many addresses guessing: forget the expired ones
            for other in list(self._failures):
                self.retry_after_s(other)
        self._failures.setdefault(client, deque(maxlen=self.attempts)).append(self.now())
        return PinCheck.WRONG
