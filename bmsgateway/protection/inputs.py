"""Discrete inputs: line levels -> debounced active states -> what each function asks for.

Why debounce here, on the pack cycle's samples and the injectable clock: a contact bounces, a long
wire picks up a spike, and an emergency stop that latches on a 2 ms glitch is as bad as one that
is missed. A new level counts once every sample for ``debounce_s`` showed it; one sample back at
the accepted level starts the wait again. A reading that is missing (the IO gave fewer levels)
is no evidence: the accepted state holds, as everywhere else in protection.

Every input starts inactive, so an input already active at start acts after its debounce time
(the contactors are still open then: precharge takes longer).
"""

from __future__ import annotations

from collections.abc import Sequence

from bmsgateway.config.discrete import InputConfig

__all__ = ["DiscreteInputs"]


class _Debounced:
    """One input's accepted state and the candidate level it is watching."""

    __slots__ = ("active", "debounce_s", "pending_since")

    def __init__(self, debounce_s: float) -> None:
        self.debounce_s = debounce_s
        self.active = False
        self.pending_since: float | None = None

    def sample(self, active: bool, t: float) -> bool:
        if active == self.active:
            self.pending_since = None
            return self.active
        if self.pending_since is None:
            self.pending_since = t
        if t - self.pending_since >= self.debounce_s - 1e-6:
            self.active = active
            self.pending_since = None
        return self.active


class DiscreteInputs:
    """The configured inputs (``hardware.inputs``), sampled once per cycle."""

    def __init__(self, inputs: Sequence[InputConfig]) -> None:
        self.configure(inputs)

    def configure(self, inputs: Sequence[InputConfig]) -> None:
        """New config: inputs whose wiring is unchanged keep their debounced state."""
        old = getattr(self, "_cfg", ())
        old_state = getattr(self, "_state", [])
        self._cfg: tuple[InputConfig, ...] = tuple(inputs)
        self._state: list[_Debounced] = []
        for k, c in enumerate(self._cfg):
            d = _Debounced(c.debounce_s)
            if k < len(old) and old[k].line == c.line and old[k].active_low == c.active_low:
                d.active = old_state[k].active
            self._state.append(d)
        self._by_function = {
            f: tuple(k for k, c in enumerate(self._cfg) if c.function == f)
            for f in ("remote_off", "charger_present", "emergency_stop", "generic")
        }
        self.active: tuple[bool, ...] = tuple(d.active for d in self._state)

    @property
    def configured(self) -> bool:
        return bool(self._cfg)

    def update(self, levels: Sequence[bool], t: float) -> tuple[bool, ...]:
        """Sample the line levels (True = high, config order) at clock time ``t``."""
        for k, (c, d) in enumerate(zip(self._cfg, self._state, strict=True)):
            if k < len(levels):
                d.sample(bool(levels[k]) != c.active_low, t)
        self.active = tuple(d.active for d in self._state)
        return self.active

    def indices(self, function: str) -> tuple[int, ...]:
        """Indices (config order) of the inputs with ``function`` that are active now."""
        return tuple(k for k in self._by_function[function] if self.active[k])

    def charger_present(self) -> bool | None:
        """True while any charger_present input is active; None when none is configured."""
        ks = self._by_function["charger_present"]
        return any(self.active[k] for k in ks) if ks else None
