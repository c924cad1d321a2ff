"""The inverter adapter: sends the dialect's frame set, watches the inverter's 0x305 keep-alive.

Timing: the frame set goes out every period (the dialect's, protocols.md §1.4) and at once when
an enable bit, the force-charge request or an alarm changes. The adapter wakes on each published
snapshot and times the set by the snapshot's clock time, so it follows the simulator's virtual
clock as well as real time; when no snapshot comes (the cycle stalled) it wakes after one period
of real time and sends the stale set (zero limits, alarm bits).

Keep-alive: any 0x305 counts (Pylontech-dialect inverters send zeros, SMA and Victron send data).
No 0x305 for ``keepalive_timeout_s`` is logged, appended to the event log (kind ``adapter``,
condition ``inverter_keepalive``) and shown in ``CanStatus.keepalive_ok``; with
``stop_charge_without_keepalive`` the frames then forbid charging until it is back.
"""

from __future__ import annotations

import asyncio
import contextlib
import math

import structlog

from bmsgateway.adapters.base import AdapterPorts
from bmsgateway.adapters.can.bus import BusLink, FrameLog
from bmsgateway.adapters.can.encoder import InverterEncoder
from bmsgateway.adapters.can.frames import INVERTER_ALIVE_ID
from bmsgateway.adapters.can.status import CanStatus
from bmsgateway.config.can import dialect_period_s
from bmsgateway.config.model import Config
from bmsgateway.state import PackState

__all__ = ["InverterAdapter"]

log = structlog.get_logger("can.inverter")


class InverterAdapter:
    """Battery limits to a hybrid inverter over the LV CAN protocol."""

    name = "can-inverter"

    def __init__(self, config: Config, status: CanStatus | None = None) -> None:
        self.config = config
        self.status = status or CanStatus()

    async def run(self, ports: AdapterPorts) -> None:
        cfg = self.config
        seen_config = ports.config
        frame_log = FrameLog(cfg.can.log_path) if cfg.can.log_path else None
        link = BusLink(cfg.can, self.name, frame_log)
        self.status.inverter_counters = link.counters
        encoder = InverterEncoder(cfg)
        clock = ports.clock
        started_s = clock.now()
        last_alive_s = -math.inf
        next_due_s = -math.inf
        last_flags: tuple[object, ...] | None = None
        seq = -1
        ports.mark_started()
        status = self.status
        ports.publish_stats(lambda: {"requests": status.inverter_counters.frames_sent,
                                     "errors": status.inverter_counters.send_errors + status.inverter_counters.bus_off,
                                     "events_dropped": 0})
        log.info("can_inverter_started", dialect=cfg.can.inverter.dialect, interface=cfg.can.interface,
                 channel=cfg.can.channel)
        try:
            while True:
                inv = encoder.config.can.inverter
                period_s = dialect_period_s(inv.dialect, inv.period_s)
                try:
                    # asyncio.timeout, not wait_for: no extra task, so the adapter wakes in the very
                    # loop iteration after a publish (the simulator's virtual clock relies on it).
                    async with asyncio.timeout(max(period_s, 0.05)):
                        got = await ports.store.wait_next(seq)
                    seq = got.seq
                except TimeoutError:
                    pass
                if ports.config is not seen_config:
                    # A settings change (Modbus, SDO, ...): follow it.
                    seen_config = ports.config
                    self.config = seen_config
                    link = self._reconfigure(seen_config, link, encoder, frame_log)
                if not link.ensure_open():
                    continue
                now_s = clock.now()
                for msg in link.drain():
                    if msg.arbitration_id == INVERTER_ALIVE_ID and not msg.is_extended_id:
                        last_alive_s = now_s
                        self.status.alive_frames += 1
                self._keepalive(ports, now_s, max(last_alive_s, started_s), inv.keepalive_timeout_s,
                                saw_any=last_alive_s > -math.inf)
                fresh: PackState | None = ports.fresh()
                t_s = fresh.time_s if fresh is not None else now_s
                block = inv.stop_charge_without_keepalive and self.status.keepalive_ok is False
                fs = encoder.encode(fresh, t_s, block_charge=block)
                due = t_s + 0.25 * period_s >= next_due_s
                if due or fs.flags != last_flags:
                    for can_id, data in fs.frames:
                        link.send(can_id, data)
                    self.status.groups_sent += 1
                    self.status.last_values = fs.values
                    last_flags = fs.flags
                    if due:
                        next_due_s = max(next_due_s + period_s, t_s + 0.5 * period_s)
        finally:
            link.close()
            if frame_log is not None:
                frame_log.close()

    def _reconfigure(self, config: Config, link: BusLink, encoder: InverterEncoder,
                     frame_log: FrameLog | None) -> BusLink:
        old = encoder.config.can
        encoder.configure(config)
        new = config.can
        if (old.interface, old.channel, old.bitrate) != (new.interface, new.channel, new.bitrate):
            link.close()
            link = BusLink(new, self.name, frame_log)
            self.status.inverter_counters = link.counters
        return link

    def _keepalive(self, ports: AdapterPorts, now_s: float, since_s: float, timeout_s: float,
                   saw_any: bool) -> None:
        """Update ``status.keepalive_ok``: None (unknown, first timeout not over), True, False."""
        st = self.status
        if timeout_s <= 0:
            st.keepalive_ok = None
            return
        ok = now_s - since_s < timeout_s
        if ok and not saw_any:
            return  # within the first timeout after start: unknown yet
        was = st.keepalive_ok
        if ok == was:
            return
        st.keepalive_ok = ok
        if ok and was is None:
            log.info("inverter_keepalive_seen")
            return
        message = "inverter keep-alive (0x305) back" if ok else f"no inverter keep-alive (0x305) for {timeout_s:g} s"
        (log.info if ok else log.warning)("inverter_keepalive", ok=ok, timeout_s=timeout_s)
        with contextlib.suppress(Exception):  # the event log is a convenience here, never a reason to stop
            ports.emit_event("adapter", "inverter_keepalive", severity="info" if ok else "warning",
                             value=timeout_s, message=message)
