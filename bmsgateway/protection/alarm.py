"""The alarm output: on while a fault is active, steady or in an on/off pattern (a beeping buzzer).

Why a pattern restarted when the alarm starts: the first beep comes at once (the fault's own
cycle), and a change of level (warning -> fault) is heard as a change of rhythm at once too. The
phase is computed from the injectable clock, so the same pattern plays in simulated time; it is
stepped once per pack cycle, so each on or off stretch lasts at least one cycle period.
"""

from __future__ import annotations

from bmsgateway.config.discrete import AlarmConfig

__all__ = ["AlarmPattern"]


def _phase_on(pattern: tuple[float, ...], elapsed_s: float) -> bool:
    """Is ``elapsed_s`` into the repeated on/off ``pattern`` an on stretch? [] = always on."""
    if not pattern:
        return True
    period = sum(pattern)
    x = elapsed_s % period
    for k, d in enumerate(pattern):
        if x < d - 1e-9:
            return k % 2 == 0
        x -= d
    return False


class AlarmPattern:
    """Which pattern applies (fault, warning or none) and whether the output is on now."""

    def __init__(self, cfg: AlarmConfig) -> None:
        self.cfg = cfg
        self._level = ""  #: "fault", "warning" or "" (silent)
        self._since_s = 0.0

    def update(self, fault: bool, warning: bool, t: float) -> tuple[bool, bool]:
        """(alarm active, output on) at clock time ``t``."""
        level = "fault" if fault else "warning" if warning and self.cfg.on_warnings else ""
        if level != self._level:
            self._level = level
            self._since_s = t
        if not level:
            return False, False
        pattern = self.cfg.fault_pattern_s if level == "fault" else self.cfg.warning_pattern_s
        return True, _phase_on(pattern, t - self._since_s)
