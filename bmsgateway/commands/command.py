"""``bmsgateway command NAME``: send a command to a running daemon over its Modbus TCP port.

Why: the installer's buttons (the 123\\SmartBMS "reset" and current "calibrate") without a Modbus
tool at hand. It is a plain Modbus client: it unlocks with the PIN and writes the command
register, exactly as a PLC would, so it exercises the same guarded path. A command with an argument
(``calibrate-current-gain --reference-a 50``) writes its own register instead (the gain
calibration's reference current, register ``calibrate_current_gain``).
"""

from __future__ import annotations

import argparse
import sys

from bmsgateway.adapters.modbus.bmsmap import WRITE_BASE
from bmsgateway.commands.common import add_config_arg, load_or_exit
from bmsgateway.requests import COMMANDS, Command

__all__ = ["register", "run"]

#: command-line names of the command codes
NAMES: dict[str, int] = {c.cli_name: c.code for c in COMMANDS.values()}
PIN_REGISTER = WRITE_BASE
COMMAND_REGISTER = WRITE_BASE + 2
GAIN_REGISTER = WRITE_BASE + 5  #: calibrate_current_gain: s32, 0.001 A
GAIN_NAME = COMMANDS[Command.CALIBRATE_CURRENT_GAIN].cli_name
EXCEPTIONS = {
    1: "writes are locked (wrong or expired PIN)",
    2: "illegal data address",
    3: "value refused (wrong PIN or unknown command)",
    4: "the daemon did not confirm in time",
}


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    p = sub.add_parser("command", help="send reset-faults, reset-counters, calibrate-current or "
                       "calibrate-current-gain to a running daemon")
    p.add_argument("name", choices=sorted(NAMES))
    p.add_argument("--reference-a", type=float, default=None,
                   help=f"{GAIN_NAME}: the known current (A, positive = charging) flowing through the sensor now")
    add_config_arg(p)
    p.add_argument("--host", default=None, help="daemon address (default: modbus.tcp.host of the config)")
    p.add_argument("--port", type=int, default=None, help="Modbus TCP port (default: modbus.tcp.port)")
    p.add_argument("--pin", type=int, default=None, help="write PIN (default: modbus.pin of the config)")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    cfg = load_or_exit(args.config)
    if cfg is None:
        return 2
    writes: list[tuple[int, list[int]]] = [(PIN_REGISTER, [args.pin if args.pin is not None else cfg.modbus.pin])]
    if args.name == GAIN_NAME:
        if args.reference_a is None or not -20000.0 <= args.reference_a <= 20000.0:
            print(f"bmsgateway: {GAIN_NAME} needs --reference-a A (-20000..20000), the known current through "
                  "the sensor", file=sys.stderr)
            return 2
        raw = round(args.reference_a * 1000.0) & 0xFFFFFFFF
        writes.append((GAIN_REGISTER, [raw >> 16, raw & 0xFFFF]))
    else:
        writes.append((COMMAND_REGISTER, [NAMES[args.name]]))
    import logging

    from pymodbus.client import ModbusTcpClient

    # pymodbus logs its own "Connection refused" line first: one line of ours says it all.
    logging.getLogger("pymodbus").setLevel(logging.CRITICAL)

    host = args.host or ("127.0.0.1" if cfg.modbus.tcp.host == "0.0.0.0" else cfg.modbus.tcp.host)
    port = args.port or cfg.modbus.tcp.port
    client = ModbusTcpClient(host, port=port, timeout=5, retries=1)
    if not client.connect():  # type: ignore[no-untyped-call]
        print(f"bmsgateway: cannot reach the daemon's Modbus TCP port at {host}:{port} (is the daemon running?)",
              file=sys.stderr)
        return 1
    try:
        for address, values in writes:
            reply = client.write_registers(address, values, device_id=cfg.modbus.unit_id)
            if reply.isError():
                code = getattr(reply, "exception_code", 0)
                why = EXCEPTIONS.get(code, "unknown")
                if code == 3 and args.name == "calibrate-current" and address == COMMAND_REGISTER:
                    why = ("refused: current is flowing or the cells are not at rest; stop chargers and loads, "
                           "wait for hardware.current_sensor.zero_rest_s and try again (the daemon's log says why)")
                elif code == 3 and address == GAIN_REGISTER:
                    why = ("refused: the reading is not steady, the reference is too small or the correction too "
                           "large (hardware.current_sensor.gain_*; the daemon's log says why)")
                print(f"bmsgateway: {args.name} refused: exception {code:02d} ({why})", file=sys.stderr)
                return 1
    finally:
        client.close()  # type: ignore[no-untyped-call]
    print(f"{args.name}: accepted")
    return 0
