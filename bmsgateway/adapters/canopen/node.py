"""The CANopen node: canopen's LocalNode serving ``build_dictionary`` from the latest snapshot.

Threads: canopen runs its SDO server and NMT handling in the python-can Notifier thread of its
``Network``; SDO reads there take the newest fresh snapshot (an immutable object, no lock), SDO
writes go through ``ports.propose_blocking`` (the one validated, persisted settings path) and
commands through ``ports.submit``. TPDO contents are refreshed from the event loop on each
snapshot and sent by python-can's periodic tasks (the kernel's broadcast manager on socketcan):
nothing here runs in, or waits for, the pack cycle.

NMT: the node boots (boot-up message), enters PRE-OPERATIONAL and produces its heartbeat
(0x1017); TPDOs run only in OPERATIONAL (a master's NMT start, or ``can.canopen.self_start``).
"""

from __future__ import annotations

import asyncio
import io
import math
import time
from typing import Any

import canopen
import structlog
from canopen.sdo.exceptions import SdoAbortedError

from bmsgateway.adapters.base import AdapterPorts
from bmsgateway.adapters.can.status import CanStatus
from bmsgateway.adapters.canopen.dictionary import Context, Entry, build_dictionary, tpdo_layout
from bmsgateway.adapters.canopen.eds import render_eds
from bmsgateway.config.model import Config
from bmsgateway.requests import command_by_code

__all__ = ["ABORT_LOCKED", "ABORT_NO_DATA", "ABORT_RANGE", "ABORT_READ_ONLY", "CanopenAdapter", "SdoHandler"]

log = structlog.get_logger("canopen")

ABORT_RANGE = 0x06090030  #: value range of parameter exceeded (also: refused by the config validation)
ABORT_READ_ONLY = 0x06010002  #: attempt to write a read-only object (canopen raises it itself)
ABORT_LOCKED = 0x08000020  #: data cannot be transferred or stored: writes are locked (no PIN)
ABORT_NO_DATA = 0x08000024  #: no data available: the snapshot is stale
_SOURCE = "canopen"
STALE_BIT = 0x20  #: 0x6000 bit5 in the TPDO while no fresh snapshot exists


class SdoHandler:
    """Read and write callbacks of the LocalNode (called in canopen's Notifier thread)."""

    def __init__(self, config: Config, ports: AdapterPorts, status: CanStatus) -> None:
        self.ports = ports
        self.status = status
        self.entries: dict[tuple[int, int], Entry] = {
            (o.index, e.sub): e for o in build_dictionary(config) for e in o.entries
        }
        self._unlocked_until = -math.inf

    def context(self) -> Context:
        st = self.status
        c = st.inverter_counters
        keepalive = 0 if st.keepalive_ok is None else (1 if st.keepalive_ok else 2)
        extra: dict[str, float] = {"frames_sent": c.frames_sent, "send_errors": c.send_errors, "reopens": c.reopens,
                 "keepalive": keepalive}
        return Context(self.ports.fresh(), self.ports.config, extra)

    def value(self, e: Entry, ctx: Context) -> Any:
        """Raw value of ``e`` now; SdoAbortedError(ABORT_NO_DATA) when it has none fresh."""
        if e.live and ctx.state is None:
            raise SdoAbortedError(ABORT_NO_DATA)
        assert e.source is not None
        v = e.source(ctx)
        if v is None:
            raise SdoAbortedError(ABORT_NO_DATA)
        try:
            return e.raw(v)
        except ValueError:  # NaN: not measured this cycle
            raise SdoAbortedError(ABORT_NO_DATA) from None

    def on_read(self, index: int, subindex: int, od: Any) -> Any:
        e = self.entries.get((index, subindex))
        if e is None or e.source is None:
            return None  # EDS default (communication parameters, constants)
        return self.value(e, self.context())

    def on_write(self, index: int, subindex: int, od: Any, data: bytes) -> None:
        e = self.entries.get((index, subindex))
        if e is None:
            return
        raw = od.decode_raw(data)
        cfg = self.ports.config
        if e.command == "pin":
            if raw != cfg.modbus.pin:
                self._unlocked_until = -math.inf
                log.warning("canopen_wrong_pin")
                raise SdoAbortedError(ABORT_RANGE)
            self._unlocked_until = time.monotonic() + cfg.modbus.unlock_timeout_s
            log.info("canopen_unlocked", timeout_s=cfg.modbus.unlock_timeout_s)
            return
        if time.monotonic() >= self._unlocked_until:
            log.warning("canopen_write_locked", index=f"0x{index:04X}", subindex=subindex)
            raise SdoAbortedError(ABORT_LOCKED)
        value = raw * e.scale
        lo = -math.inf if e.minimum is None else e.minimum
        hi = math.inf if e.maximum is None else e.maximum
        if not lo - 1e-9 <= value <= hi + 1e-9:
            log.warning("canopen_write_out_of_range", index=f"0x{index:04X}", value=value, minimum=lo, maximum=hi)
            raise SdoAbortedError(ABORT_RANGE)
        if e.command == "command":
            spec = command_by_code(raw)
            if spec is None or spec.argument:  # a command that needs an argument has no place here
                raise SdoAbortedError(ABORT_RANGE)
            self.ports.submit(spec.make(_SOURCE))
            log.info("canopen_command", command=spec.command.value)
            return
        if e.config_key is None:
            raise SdoAbortedError(ABORT_READ_ONLY)
        digits = max(0, -math.floor(math.log10(e.scale) + 1e-9)) if e.scale < 1 else 0
        new: float | int = round(value, digits) if e.scale != 1 else int(raw)
        problems = self.ports.propose_blocking({e.config_key: new}, _SOURCE)
        if problems:
            log.warning("canopen_write_rejected", key=e.config_key, value=new, problems=problems)
            raise SdoAbortedError(ABORT_RANGE)


class CanopenAdapter:
    """A CANopen slave node on the ``[can]`` bus."""

    name = "canopen"

    def __init__(self, config: Config, status: CanStatus | None = None) -> None:
        self.config = config
        self.status = status or CanStatus()
        self.node: Any = None
        self.network: Any = None

    def _open(self, cfg: Config, sdo: SdoHandler) -> tuple[Any, Any]:
        """Connect the network and create the LocalNode (blocking: run in a thread)."""
        eds = io.StringIO(render_eds(cfg))
        eds.name = "bmsgateway.eds"  # import_od picks the format by the name
        network = canopen.Network()
        kwargs: dict[str, Any] = {"interface": cfg.can.interface, "channel": cfg.can.channel}
        if cfg.can.interface == "socketcan":
            kwargs["bitrate"] = cfg.can.bitrate
        network.connect(**kwargs)
        try:
            node = canopen.LocalNode(cfg.can.canopen.node_id, canopen.import_od(eds, cfg.can.canopen.node_id))
            node.add_read_callback(sdo.on_read)  # type: ignore[no-untyped-call]
            # Ours first: a locked or refused write must abort before canopen's own NMT callback
            # applies a new heartbeat time.
            node._write_callbacks.insert(0, sdo.on_write)
            network.add_node(node)
            node.tpdo.read(from_od=True)  # type: ignore[no-untyped-call]
        except Exception:
            network.disconnect()
            raise
        return network, node

    async def run(self, ports: AdapterPorts) -> None:
        cfg = self.config
        sdo = SdoHandler(cfg, ports, self.status)
        backoff = cfg.can.retry_initial_s
        ports.mark_started()
        while True:
            try:
                network, node = await asyncio.to_thread(self._open, cfg, sdo)
                break
            except Exception as exc:  # interface missing, permission, bad channel: retry
                log.warning("canopen_open_failed", interface=cfg.can.interface, channel=cfg.can.channel,
                            error=str(exc), retry_in_s=round(backoff, 1))
                await asyncio.sleep(backoff)
                backoff = min(backoff * 2.0, cfg.can.retry_max_s)
        self.network, self.node = network, node
        running = False
        try:
            self._boot(node)
            if cfg.can.canopen.self_start:
                node.nmt.state = "OPERATIONAL"
            log.info("canopen_started", node_id=cfg.can.canopen.node_id, channel=cfg.can.channel)
            seq = -1
            period = cfg.can.canopen.tpdo_period_s
            while True:
                try:
                    async with asyncio.timeout(max(period, 0.1)):
                        seq = (await ports.store.wait_next(seq)).seq
                except TimeoutError:
                    pass
                failed = getattr(getattr(network, "notifier", None), "exception", None)
                if failed is not None:
                    # The bus died under the receive thread (interface down, bus-off): give up this
                    # run; the daemon's supervisor logs it and starts the node again after its back-off.
                    raise RuntimeError(f"CAN bus failed: {failed}")
                if node.nmt.state == "INITIALISING":  # a master's reset: boot again
                    self._boot(node)
                self._fill_tpdos(node, sdo)
                operational = node.nmt.state == "OPERATIONAL"
                if operational and not running:
                    for k in range(len(tpdo_layout())):
                        node.tpdo[k + 1].start(period)
                    running = True
                elif running and not operational:
                    self._stop_tpdos(node)
                    running = False
                elif running:
                    for k in range(len(tpdo_layout())):
                        node.tpdo[k + 1].update()
        finally:
            self._stop_tpdos(node)
            node.nmt.stop_heartbeat()
            network.disconnect()

    @staticmethod
    def _boot(node: Any) -> None:
        node.nmt.state = "INITIALISING"  # sends the boot-up message
        node.nmt.state = "PRE-OPERATIONAL"  # starts the heartbeat producer from 0x1017

    @staticmethod
    def _stop_tpdos(node: Any) -> None:
        for k in range(len(tpdo_layout())):
            try:
                node.tpdo[k + 1].stop()
            except Exception as exc:  # never started
                log.debug("tpdo_stop", error=str(exc))

    @staticmethod
    def _fill_tpdos(node: Any, sdo: SdoHandler) -> None:
        ctx = sdo.context()
        for k in range(len(tpdo_layout())):
            for var in node.tpdo[k + 1]:
                e = sdo.entries[(var.index, var.subindex)]
                try:
                    raw = sdo.value(e, ctx)
                except SdoAbortedError:
                    raw = STALE_BIT if (var.index, var.subindex) == (0x6000, 0) else 0
                var.raw = raw
