"""The watchers only one dashboard view needs, started when it is shown and stopped a while after.

The pods' watcher feeds every view; the DaemonSets (workloads) and the normal events (events) have
watchers of their own. Each start of one lists its kind in full: for the normal events, thousands
of objects. Stopped the moment they were not wanted, an operator pressing `f` twice on the events
view (warnings only, then all again) paid a whole list of the normal events each time; under the
dashboard bench's key probes that relisting was most of the events view's CPU. So a watcher no
longer wanted is *parked*: it goes on running and delivering, and is stopped only once it has been
unwanted for ``linger`` seconds. Wanted again before that, it is taken back as it is, its data
current, with nothing listed again.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterable
from typing import Generic, TypeVar

LINGER = 60.0       # seconds a watcher no view wants keeps running

W = TypeVar("W")


class ViewWatchers(Generic[W]):
    """Thread-safe. ``start(kind)`` makes and starts a watcher (None: it cannot, and has said why);
    ``stop(watcher)`` stops one (it may block: called on the thread of ``want`` or of the timer)."""

    def __init__(self, start: Callable[[str], W | None], stop: Callable[[W], None], *, linger: float = LINGER,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self._start, self._stop = start, stop
        self.linger = linger
        self.clock = clock
        self._lock = threading.Lock()
        self._active: dict[str, W] = {}
        self._parked: dict[str, tuple[W, float]] = {}      # kind -> (watcher, unwanted since)
        self._timer: threading.Timer | None = None
        self._closed = False

    @property
    def active(self) -> dict[str, W]:
        """The watchers the view on screen wants, by kind."""
        with self._lock:
            return dict(self._active)

    @property
    def parked(self) -> dict[str, W]:
        """The watchers still running though no view wants them, by kind."""
        with self._lock:
            return {k: w for k, (w, _) in self._parked.items()}

    def want(self, kinds: Iterable[str]) -> None:
        """Run the watchers of ``kinds`` (a parked one is taken back, the others started); park the
        rest; stop those parked for ``linger`` seconds. Call it from a worker thread: a start reads
        the kubeconfig, a stop joins threads."""
        wanted = set(kinds)
        with self._lock:
            if self._closed:
                return
            now = self.clock()
            for kind in [k for k in self._active if k not in wanted]:
                self._parked[kind] = (self._active.pop(kind), now)
            for kind in sorted(wanted - set(self._active)):
                if kind in self._parked:
                    self._active[kind] = self._parked.pop(kind)[0]
                    continue
                watcher = self._start(kind)
                if watcher is not None:
                    self._active[kind] = watcher
            expired = [k for k, (_, since) in self._parked.items() if now - since >= self.linger]
            gone = [self._parked.pop(k)[0] for k in expired]
            self._arm(now)
        for watcher in gone:
            self._stop(watcher)

    def close(self) -> list[W]:
        """No more starts; every watcher, active or parked, for the caller to stop."""
        with self._lock:
            self._closed = True
            if self._timer is not None:
                self._timer.cancel()
                self._timer = None
            out = [*self._active.values(), *(w for w, _ in self._parked.values())]
            self._active.clear()
            self._parked.clear()
        return out

    def _arm(self, now: float) -> None:
        """Under the lock: a timer for the first parked watcher's end (none when nothing is parked)."""
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
        if not self._parked:
            return
        due = min(since for _, since in self._parked.values()) + self.linger
        self._timer = threading.Timer(max(0.0, due - now) + 0.01, self._expire)
        self._timer.daemon = True
        self._timer.name = "view-watchers-linger"
        self._timer.start()

    def _expire(self) -> None:
        with self._lock:
            keep = list(self._active)
        self.want(keep)
