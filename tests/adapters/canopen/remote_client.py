"""The other process of the CANopen test: a canopen RemoteNode (our node's EDS) on udp_multicast.

Run inside the test's network namespace; prints one JSON object with what it saw.
Usage: remote_client.py EDS NODE_ID PIN
"""

from __future__ import annotations

import json
import sys
import time
from typing import Any

import canopen


def main() -> None:
    eds, node_id, pin = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
    net = canopen.Network()
    net.connect(interface="udp_multicast", channel="239.74.163.2")
    out: dict[str, Any] = {"heartbeats": [], "tpdo": {}, "aborts": {}, "reads": {}}
    t0 = time.monotonic()
    seen: dict[int, list[tuple[float, str]]] = {}

    def keep(cob: int) -> Any:
        def cb(can_id: int, data: bytearray, ts: float) -> None:
            seen.setdefault(cob, []).append((time.monotonic() - t0, bytes(data).hex()))
        return cb

    for cob in (0x700 + node_id, 0x180 + node_id, 0x280 + node_id, 0x380 + node_id):
        net.subscribe(cob, keep(cob))
    node = canopen.RemoteNode(node_id, eds)
    net.add_node(node)
    # Wait for the node's heartbeat (the daemon may still be starting).
    deadline = time.monotonic() + 30
    while not seen.get(0x700 + node_id) and time.monotonic() < deadline:
        time.sleep(0.05)
    time.sleep(1.0)
    out["tpdo_before_start"] = sum(len(seen.get(c, [])) for c in (0x180 + node_id, 0x280 + node_id))
    r = out["reads"]
    r["device_type"] = node.sdo[0x1000].raw
    r["identity_product"] = node.sdo[0x1018][2].raw
    r["cells"] = node.sdo[0x6020][4].raw
    r["cell_mv"] = [node.sdo[0x2000][i + 1].raw for i in range(r["cells"])]
    r["pack_mv"] = node.sdo[0x2011].raw
    r["soc_pct"] = node.sdo[0x6081].raw
    r["battery_v_1024"] = node.sdo[0x6060].raw
    r["vmax_mv"] = node.sdo[0x3002].raw
    r["fresh"] = node.sdo[0x2024].raw
    r["heartbeat_ms"] = node.sdo[0x1017].raw

    def abort(name: str, index: int, value: int, sub: int | None = None) -> None:
        try:
            if sub is None:
                node.sdo[index].raw = value
            else:
                node.sdo[index][sub].raw = value
            out["aborts"][name] = 0
        except canopen.SdoAbortedError as exc:
            out["aborts"][name] = exc.code

    abort("locked", 0x3002, 3650)
    abort("read_only", 0x2011, 1)
    abort("read_only_cell", 0x2000, 1, 1)
    abort("wrong_pin", 0x3100, pin + 1)
    abort("pin", 0x3100, pin)
    abort("out_of_range", 0x3002, 5500)  # 5.5 V: above the config's bound
    abort("invalid", 0x3000, 3700)  # Vmin 3.7 V >= Vmax: the config validation refuses it
    abort("accepted", 0x3002, 3650)
    abort("bad_command", 0x3101, 99)
    r["vmax_after_mv"] = node.sdo[0x3002].raw
    out["events_heartbeat_before"] = [d for _, d in seen.get(0x700 + node_id, [])][-2:]
    node.nmt.state = "OPERATIONAL"
    t_start = time.monotonic() - t0
    time.sleep(2.0)
    node.nmt.state = "STOPPED"
    t_stop = time.monotonic() - t0
    time.sleep(1.5)
    for cob in (0x180 + node_id, 0x280 + node_id, 0x380 + node_id):
        out["tpdo"][hex(cob)] = seen.get(cob, [])
    out["heartbeats"] = seen.get(0x700 + node_id, [])
    out["t_start"], out["t_stop"] = t_start, t_stop
    net.disconnect()
    print(json.dumps(out))


if __name__ == "__main__":
    main()
