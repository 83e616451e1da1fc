"""The banner every live view shows while the cluster does not answer: how long, the data's age, retrying."""

from __future__ import annotations

import time

from rich.text import Text


def stale_banner(since: float | None, data_time: float | None, error: str | None, now: float) -> Text:
    """ "⏸ cluster unreachable for 42 s — data from 10:41:07 — retrying (connection refused)" """
    text = Text("⏸ ", style="bold yellow")
    text.append(f"cluster unreachable for {int(max(0, now - (since or now)))} s")
    if data_time:
        text.append(" — data from " + time.strftime("%H:%M:%S", time.localtime(data_time)))
    else:
        text.append(" — no data yet")
    text.append(" — retrying")
    if error:
        text.append(f" ({error})", style="dim")
    return text
