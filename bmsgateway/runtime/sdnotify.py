"""The systemd notify protocol (READY, WATCHDOG, STATUS, STOPPING) without a dependency.

Why the watchdog is pinged from the pack cycle only: if the protection loop stalls, systemd kills
and restarts the daemon, and the contactor drivers (wired to open when not refreshed) drop the pack.
"""

from __future__ import annotations

import contextlib
import os
import socket

__all__ = ["SystemdNotifier"]


class SystemdNotifier:
    """Sends datagrams to ``$NOTIFY_SOCKET`` when run under systemd; does nothing otherwise."""

    def __init__(self, enabled: bool = True) -> None:
        addr = os.environ.get("NOTIFY_SOCKET") if enabled else None
        self._addr: str | None = None
        self._sock: socket.socket | None = None
        if addr:
            self._addr = "\0" + addr[1:] if addr.startswith("@") else addr
            self._sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
            # Called from the pack cycle: a full socket buffer drops a ping, it never blocks the cycle.
            self._sock.setblocking(False)
        usec = os.environ.get("WATCHDOG_USEC")
        self.watchdog_interval_s: float | None = int(usec) / 2e6 if (usec and self._sock) else None

    @property
    def active(self) -> bool:
        return self._sock is not None

    def notify(self, message: str) -> None:
        if self._sock is None or self._addr is None:
            return
        with contextlib.suppress(OSError):  # systemd gone: nothing useful to do from here
            self._sock.sendto(message.encode(), self._addr)

    def ready(self, status: str = "") -> None:
        self.notify("READY=1" + (f"\nSTATUS={status}" if status else ""))

    def watchdog(self, status: str = "") -> None:
        self.notify("WATCHDOG=1" + (f"\nSTATUS={status}" if status else ""))

    def stopping(self) -> None:
        self.notify("STOPPING=1")
