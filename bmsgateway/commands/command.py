"""``bmsgateway command NAME``: send a command to a running daemon over its Modbus TCP port.

Why: the installer's buttons (the 123\\SmartBMS "reset" and current "calibrate") without a Modbus
tool at hand. It is a plain Modbus client: it unlocks with the PIN and writes the command
register, exactly as a PLC would, so it exercises the same guarded path.
"""

from __future__ import annotations

import argparse
import sys

from bmsgateway.adapters.modbus.bmsmap import WRITE_BASE
from bmsgateway.commands.common import add_config_arg, load_or_exit
from bmsgateway.requests import COMMANDS

__all__ = ["register", "run"]

#: command-line names of the command codes
NAMES: dict[str, int] = {c.cli_name: c.code for c in COMMANDS.values()}
PIN_REGISTER = WRITE_BASE
COMMAND_REGISTER = WRITE_BASE + 2
EXCEPTIONS = {
    1: "writes are locked (wrong or expired PIN)",
    2: "illegal data address",
    3: "value refused (wrong PIN or unknown command)",
    4: "the daemon did not confirm in time",
}


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    p = sub.add_parser("command", help="send reset-faults, reset-counters or calibrate-current to a running daemon")
    p.add_argument("name", choices=sorted(NAMES))
    add_config_arg(p)
    p.add_argument("--host", default=None, help="daemon address (default: modbus.tcp.host of the config)")
    p.add_argument("--port", type=int, default=None, help="Modbus TCP port (default: modbus.tcp.port)")
    p.add_argument("--pin", type=int, default=None, help="write PIN (default: modbus.pin of the config)")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    cfg = load_or_exit(args.config)
    if cfg is None:
        return 2
    import logging

    from pymodbus.client import ModbusTcpClient

    # pymodbus logs its own "Connection refused" line first: one line of ours says it all.
    logging.getLogger("pymodbus").setLevel(logging.CRITICAL)

    host = args.host or ("127.0.0.1" if cfg.modbus.tcp.host == "0.0.0.0" else cfg.modbus.tcp.host)
    port = args.port or cfg.modbus.tcp.port
    pin = cfg.modbus.pin if args.pin is None else args.pin
    client = ModbusTcpClient(host, port=port, timeout=5, retries=1)
    if not client.connect():  # type: ignore[no-untyped-call]
        print(f"bmsgateway: cannot reach the daemon's Modbus TCP port at {host}:{port} (is the daemon running?)",
              file=sys.stderr)
        return 1
    try:
        for address, value in ((PIN_REGISTER, pin), (COMMAND_REGISTER, NAMES[args.name])):
            reply = client.write_register(address, value, device_id=cfg.modbus.unit_id)
            if reply.isError():
                code = getattr(reply, "exception_code", 0)
                why = EXCEPTIONS.get(code, "unknown")
                if code == 3 and args.name == "calibrate-current" and address == COMMAND_REGISTER:
                    why = ("refused: current is flowing or the cells are not at rest; stop chargers and loads, "
                           "wait for hardware.current_sensor.zero_rest_s and try again (the daemon's log says why)")
                print(f"bmsgateway: {args.name} refused: exception {code:02d} ({why})", file=sys.stderr)
                return 1
    finally:
        client.close()  # type: ignore[no-untyped-call]
    print(f"{args.name}: accepted")
    return 0
