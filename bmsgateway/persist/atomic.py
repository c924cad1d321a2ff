"""Atomic file replacement: temp file + fsync + rename + directory fsync.

Why: a ``kill -9`` or power cut at any moment must leave either the old or the new file, never a
torn one. The previous good copy is kept as ``<name>.bak`` so a file corrupted by something other
than us (a failing SD card) still has a fallback.
"""

from __future__ import annotations

import contextlib
import os
from pathlib import Path

__all__ = ["atomic_write_bytes"]


def atomic_write_bytes(path: str | Path, data: bytes, keep_backup: bool = True) -> None:
    """Replace ``path`` with ``data`` atomically; keep the previous version as ``path.bak``."""
    p = Path(path)
    p.parent.mkdir(parents=True, exist_ok=True)
    tmp = p.with_name(f".{p.name}.{os.getpid()}.tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o644)
    try:
        os.write(fd, data)
        os.fsync(fd)
    finally:
        os.close(fd)
    if keep_backup and p.exists():
        # Hard-link the current file as the backup first: ``path`` itself exists at every moment.
        bak = p.with_name(p.name + ".bak")
        bak_tmp = p.with_name(f".{p.name}.{os.getpid()}.bak.tmp")
        with contextlib.suppress(OSError):
            bak_tmp.unlink(missing_ok=True)
            os.link(p, bak_tmp)
            os.replace(bak_tmp, bak)
    os.replace(tmp, p)
    dfd = os.open(p.parent, os.O_RDONLY)
    try:
        os.fsync(dfd)
    finally:
        os.close(dfd)
