"""ViewWatchers: a view's own watchers are parked when unwanted, taken back when wanted again, and
stopped once unwanted for the linger. Fake watchers (records of start and stop): what is tested is
the bookkeeping; tests/tui/test_dashboard_views.py drives it with real watchers on the sandbox."""

from __future__ import annotations

import threading
from dataclasses import dataclass, field

from digit_tui.health.viewwatchers import ViewWatchers
from tests.support import wait_until


@dataclass(eq=False)
class Fake:
    kind: str
    stopped: bool = False


@dataclass
class Record:
    started: list[str] = field(default_factory=list)
    stopped: list[str] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def start(self, kind: str) -> Fake | None:
        if kind == "broken":
            return None
        with self.lock:
            self.started.append(kind)
        return Fake(kind)

    def stop(self, w: Fake) -> None:
        w.stopped = True
        with self.lock:
            self.stopped.append(w.kind)


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def test_toggling_a_view_takes_its_watcher_back_without_starting_another() -> None:
    rec, clock = Record(), Clock()
    vw = ViewWatchers(rec.start, rec.stop, linger=60, clock=clock)
    vw.want({"normal-events"})
    first = vw.active["normal-events"]
    for _ in range(5):                       # `f`, `f`, ... within the linger
        clock.now += 5
        vw.want(())
        assert vw.parked == {"normal-events": first} and not vw.active
        clock.now += 5
        vw.want({"normal-events"})
        assert vw.active == {"normal-events": first}
    assert rec.started == ["normal-events"] and rec.stopped == []
    vw.close()


def test_a_watcher_unwanted_for_the_linger_is_stopped_and_a_later_want_starts_a_new_one() -> None:
    rec, clock = Record(), Clock()
    vw = ViewWatchers(rec.start, rec.stop, linger=60, clock=clock)
    vw.want({"daemonsets"})
    old = vw.active["daemonsets"]
    vw.want({"normal-events"})               # another view: the DaemonSets parked, the events started
    clock.now += 59
    vw.want({"normal-events"})
    assert vw.parked == {"daemonsets": old} and not old.stopped
    clock.now += 1
    vw.want({"normal-events"})
    assert not vw.parked and old.stopped and rec.stopped == ["daemonsets"]
    vw.want({"daemonsets"})
    assert vw.active["daemonsets"] is not old and rec.started == ["daemonsets", "normal-events", "daemonsets"]
    vw.close()


def test_a_watcher_that_cannot_start_is_not_kept_and_close_hands_back_every_watcher() -> None:
    rec, clock = Record(), Clock()
    vw = ViewWatchers(rec.start, rec.stop, linger=60, clock=clock)
    vw.want({"broken", "daemonsets"})
    assert set(vw.active) == {"daemonsets"}
    vw.want({"normal-events"})
    left = vw.close()
    assert sorted(w.kind for w in left) == ["daemonsets", "normal-events"] and rec.stopped == []
    assert not vw.active and not vw.parked
    vw.want({"daemonsets"})                  # closed: nothing more is started
    assert rec.started == ["daemonsets", "normal-events"] and not vw.active


def test_the_timer_stops_a_parked_watcher_with_no_further_call() -> None:
    rec = Record()
    vw = ViewWatchers(rec.start, rec.stop, linger=0.2)
    vw.want({"normal-events"})
    w = vw.active["normal-events"]
    vw.want(())                              # parked; nothing calls want again
    wait_until(lambda: w.stopped, timeout=10, what="the linger's timer to stop it")
    assert not vw.parked and rec.stopped == ["normal-events"]
    vw.close()
