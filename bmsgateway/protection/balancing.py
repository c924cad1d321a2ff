"""Passive balancing: which DCC bits to set, and the energy the bleed resistors dissipate.

Modes (``protection.balancing.mode``):

* ``threshold``    -- every cell above Vbalance bleeds (123\\SmartBMS);
* ``differential`` -- a cell more than ``start_delta_v`` above the lowest cell starts bleeding and
  keeps bleeding until it is within ``stop_delta_v`` (ENNOID-BMS, Servovision), only while
  charging or resting (discharge current below ``rest_current_a``): bleeding during discharge
  only wastes energy. Only cells above Vbalance − ``below_vbalance_v`` bleed (top balancing,
  as ENNOID-BMS's minimum balancing voltage): near empty the voltage says little about charge.

Limits: never on stale data (any cell not fresh this cycle, or lost communication); no bleeding
on a board hotter than ``max_board_temperature_c`` (die or its thermistors); at most
``max_cells_per_chip`` bleeding per board, the highest cells first. Pausing the bleed during the
cell conversion is done by the driver (``discharge_permitted=False`` in ADCV).

Energy: each bleeding cell dissipates V^2 / resistor_ohm until the next cycle; the estimation
stage counts it (a persisted, resettable counter), from the bits this stage published.
"""

from __future__ import annotations

from collections.abc import Sequence

from bmsgateway.config.protection import BalancingConfig

__all__ = ["Balancer"]


class Balancer:
    """Keeps the bleeding set between cycles (the stop-delta hysteresis)."""

    def __init__(self, cfg: BalancingConfig, vbalance_v: float, board_ranges: Sequence[tuple[int, int]]) -> None:
        self._members: set[int] = set()
        self.configure(cfg, vbalance_v, board_ranges)

    def configure(self, cfg: BalancingConfig, vbalance_v: float, board_ranges: Sequence[tuple[int, int]]) -> None:
        self.cfg = cfg
        self.vbalance_v = vbalance_v
        self.board_ranges = tuple(board_ranges)
        self.cell_count = board_ranges[-1][1] if board_ranges else 0
        self._off: tuple[bool, ...] = (False,) * self.cell_count
        self.bits = self._off
        self._members.clear()

    def update(
        self, cells: Sequence[float], lo: float, hi: float, fresh: bool, current_a: float,
        hot_boards: Sequence[bool],
    ) -> tuple[bool, ...]:
        """DCC bits for this cycle."""
        c = self.cfg
        members = self._members
        if c.mode == "off" or not fresh or len(cells) != self.cell_count:
            members.clear()
            self.bits = self._off
            return self.bits
        if c.mode == "threshold":
            if hi <= self.vbalance_v:
                members.clear()
                self.bits = self._off
                return self.bits
            vb = self.vbalance_v
            members.clear()
            members.update(i for i, v in enumerate(cells) if v > vb)
        else:
            discharging = current_a == current_a and current_a < -c.rest_current_a
            if discharging or current_a != current_a or (not members and hi - lo <= c.start_delta_v):
                members.clear()
                self.bits = self._off
                return self.bits
            floor = self.vbalance_v - c.below_vbalance_v
            start = max(lo + c.start_delta_v, floor)
            stop = max(lo + c.stop_delta_v, floor)
            keep = {i for i in members if cells[i] > stop}
            keep.update(i for i, v in enumerate(cells) if v > start)
            members.clear()
            members.update(keep)
        if not members:
            self.bits = self._off
            return self.bits
        bits = [False] * self.cell_count
        limit = c.max_cells_per_chip
        for b, (first, end) in enumerate(self.board_ranges):
            if b < len(hot_boards) and hot_boards[b]:
                continue
            mine = [i for i in range(first, end) if i in members]
            if len(mine) > limit:
                mine.sort(key=lambda i: cells[i], reverse=True)
                mine = mine[:limit]
            for i in mine:
                bits[i] = True
        self.bits = tuple(bits) if any(bits) else self._off
        return self.bits
