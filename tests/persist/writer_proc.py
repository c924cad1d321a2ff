"""Writer process for the kill -9 test: saves ever-increasing sequence numbers as fast as it can."""

from __future__ import annotations

import sys
from pathlib import Path

from bmsgateway.clock import RealClock
from bmsgateway.persist.saver import StateSaver
from bmsgateway.persist.state import SavedState


def main() -> None:
    path = Path(sys.argv[1])
    seq = int(sys.argv[2])
    saver = StateSaver(path, 1.0, RealClock())
    print("ready", flush=True)
    while True:
        seq += 1
        state = SavedState(
            cell_soc_pct=[float(seq % 100)] * 255,
            counters={"seq": seq},
            events=[{"time_s": float(i), "kind": "raised", "condition": "x"} for i in range(500)],
        )
        saver.maybe_save(state, force=True)
        saver.flush()


if __name__ == "__main__":
    main()
