"""The CANopen node in the daemon on a virtual bus: a bus that dies under it is logged and the
node comes back after the supervisor's back-off; the pack cycle keeps running throughout."""

from __future__ import annotations

import asyncio
import io
import time
from pathlib import Path

import canopen
import pytest

from bmsgateway.adapters.canopen.eds import render_eds
from bmsgateway.app import Daemon
from bmsgateway.clock import RealClock
from bmsgateway.config import parse_config


# python-can's receive thread ends by raising the bus error (that is how it reports it; the node
# reads it from ``notifier.exception``): pytest would otherwise warn about the thread's exception.
@pytest.mark.filterwarnings("ignore::pytest.PytestUnhandledThreadExceptionWarning")
async def test_dead_bus_restarts_the_node_and_never_stops_the_cycle(tmp_path: Path) -> None:
    cfg = parse_config({"modbus": {"tcp": {"enabled": False}},
                        "can": {"enabled": True, "interface": "virtual", "channel": "co-restart",
                                "inverter": {"enabled": False}, "canopen": {"enabled": True}}}, "test")
    daemon = Daemon.build(cfg, RealClock(), state_dir=tmp_path, log_events=False)
    await daemon.start()
    net = canopen.Network()
    net.connect(interface="virtual", channel="co-restart")
    eds = io.StringIO(render_eds(cfg))
    eds.name = "n.eds"
    remote = canopen.RemoteNode(5, canopen.import_od(eds, 5))
    net.add_node(remote)
    try:
        adapter = next(a for a in daemon.adapters if a.name == "canopen")
        end = time.monotonic() + 10
        while getattr(adapter, "network", None) is None:
            assert time.monotonic() < end
            await asyncio.sleep(0.05)
        assert await asyncio.to_thread(lambda: remote.sdo[0x1000].raw) == 0x1A2
        seq_before = daemon.store.latest.seq if daemon.store.latest else 0
        adapter.network.bus.shutdown()  # type: ignore[attr-defined]  # the interface goes away
        while daemon.adapter_restarts.get("canopen", 0) < 1:
            assert time.monotonic() < end + 10, "the node was not restarted"
            await asyncio.sleep(0.05)
        end = time.monotonic() + 10
        while True:  # answers again after the back-off
            try:
                assert await asyncio.to_thread(lambda: remote.sdo[0x1000].raw) == 0x1A2
                break
            except canopen.SdoCommunicationError:
                assert time.monotonic() < end
        latest = daemon.store.latest
        assert latest is not None and latest.seq > seq_before + 10  # cycles went on meanwhile
    finally:
        net.disconnect()
        await daemon.stop()
