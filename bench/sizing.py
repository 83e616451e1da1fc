"""Planning time for 500 services and 10,000 ULBs (target: under 100 ms).

Prints the median and worst of several runs for a fixed flavor and for
``--flavor suggest`` (which packs once per candidate flavor).
"""

from __future__ import annotations

import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from digit_tui.sizing import presets, synthetic  # noqa: E402
from digit_tui.sizing.model import SizingInputs  # noqa: E402
from digit_tui.sizing.planner import plan  # noqa: E402

TARGET_MS = 100.0
RUNS = 7


def measure(flavor: str) -> tuple[float, float, object]:
    preset = presets.load("sdc-prod")
    workloads = synthetic.many(500)
    inputs = SizingInputs(ulbs=10_000, flavor=flavor)
    plan(workloads, inputs, preset)                     # warm caches (quantity parsing, preset)
    times = []
    result = None
    for _ in range(RUNS):
        t = time.perf_counter()
        result = plan(workloads, inputs, preset)
        times.append((time.perf_counter() - t) * 1000)
    return statistics.median(times), max(times), result


def main() -> int:
    ok = True
    for flavor in ("8C/16G", "suggest"):
        median, worst, p = measure(flavor)
        ok &= median < TARGET_MS
        print(f"sizing: 500 services, 10,000 ULBs, flavor {flavor:<7}: median {median:6.1f} ms, "
              f"worst {worst:6.1f} ms (target < {TARGET_MS:.0f} ms) -> {p.workers} x {p.flavor.name}, "
              f"{p.pods} pods")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
