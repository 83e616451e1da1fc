"""Pod dashboard at DIGIT scale: prints figures, asserts nothing.

    .venv/bin/python bench/dashboard.py [--pods 5000] [--nodes 50] [--rate 100] [--minutes 1]

The issue's figure for memory is after 10 minutes of churn: ``--minutes 10``.

How it measures (honestly, in a real terminal):

* The sandbox API runs as its own process with ``--nodes`` nodes and
  ``--pods`` pods in namespace ``bench`` (all Running before anything is timed).
* The dashboard runs in tmux (private socket, 120x40), and "on screen" means
  what ``tmux capture-pane`` shows: the frame was drawn to the terminal.
  Polling capture-pane costs a few ms per look; those looks are part of each
  latency.
* ``kubectl get pods -A`` (discovery cache warmed once) and the launch of
  ``digit-tui health`` are timed in the same run, 3 times each, medians
  printed. Launch-to-full-list ends when the title reads "<pods> pods" and
  "● live": the title counts the rows the table holds.
* Churn: ``--rate`` pod changes a second from 4 client threads (9 in 10 a
  status patch of a random pod's restart count, 1 in 10 a delete or a create
  of a pod; the kubelet's own status writes for those come on top), never
  touching the first 100 pods, which are the rows on screen.
* Change-to-screen: every probe patches the restart count of one visible pod
  to a new number and waits until its row shows it. Key-press-to-screen:
  ``send-keys f`` until the title says "faults only", ``f`` again until it
  says "all". Probes alternate during the whole churn window and are repeated
  with nothing changing (idle).
* ``--view workloads|nodes|events``: the idle and churn figures are taken with
  that view on screen (its key pressed after the full list; the launch is still
  timed on pods, and the churn is the same pod churn). A change there is the
  probe deployment's desired count in its READY x/y (scaled 1 <-> 2), the first
  node cordoned / uncordoned, a new Warning event's row; the key is ``f`` and
  back on that view.
* CPU % is the dashboard process's utime+stime over the window (idle: 10 s,
  starting 5 s after the full list).
  RSS is read from /proc at the full list and at the end of the churn.
* Frozen UI: for the churn window the dashboard runs in a wrapper process
  (``--tui-child``, the same app as ``digit-tui health``) with a 20 ms timer on
  its event loop; the longest late wake-up is the longest freeze. The stalls
  until the first frame is on screen (building it: nothing shown yet to freeze)
  are printed apart; "idle" is from the first frame to 5 s after the full list.
  Idle CPU is measured on the plain command, without that timer.
"""

from __future__ import annotations

import argparse
import concurrent.futures
import json
import os
import random
import re
import shlex
import signal
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from pathlib import Path
from typing import Any, Callable

from _measure import compiled_env, rss_mib  # bench/ is sys.path[0] when a bench runs

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

WIDTH, HEIGHT = 120, 40
VISIBLE = 25            # probes patch pods p-00000 .. p-00024, always on screen at 120x40
UNTOUCHED = 100         # churn never touches the first 100 pods
CLK = os.sysconf("SC_CLK_TCK")


# -- measuring a process ----------------------------------------------------------------------
def cpu_seconds(pid: int) -> float:
    with open(f"/proc/{pid}/stat") as fh:
        fields = fh.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / CLK


class CpuWindow:
    def __init__(self, pid: int) -> None:
        self.pid, self.t0, self.c0 = pid, time.monotonic(), cpu_seconds(pid)

    def percent(self) -> float:
        return 100.0 * (cpu_seconds(self.pid) - self.c0) / (time.monotonic() - self.t0)


def pct(values: list[float], q: float) -> float:
    s = sorted(values)
    return s[min(len(s) - 1, int(round(q * (len(s) - 1))))] if s else float("nan")


def ms(v: float) -> str:
    return f"{v * 1000:.0f} ms"


# -- tmux ------------------------------------------------------------------------------------
class Tmux:
    def __init__(self, tmp: Path) -> None:
        self.sock = f"bench-{uuid.uuid4().hex[:8]}"
        self.conf = tmp / "tmux.conf"
        self.conf.write_text("set -g remain-on-exit on\nset -g status off\n")

    def __call__(self, *args: str) -> str:
        return subprocess.run(["tmux", "-L", self.sock, "-f", str(self.conf), *args], capture_output=True,
                              text=True, timeout=10, check=True).stdout

    def start(self, command: str) -> int:
        """Run ``command`` in a fresh pane; the pid of its process."""
        self.kill()
        self("new-session", "-d", "-x", str(WIDTH), "-y", str(HEIGHT), f"exec {command}")
        return int(self("display-message", "-p", "#{pane_pid}").strip())

    def screen(self) -> str:
        return self("capture-pane", "-p")

    def keys(self, *keys: str) -> None:
        self("send-keys", *keys)

    def wait(self, cond: Callable[[str], bool], timeout: float, what: str) -> float:
        """Poll the screen until ``cond``; the monotonic time it was first seen."""
        deadline = time.monotonic() + timeout
        text = ""
        while time.monotonic() < deadline:
            text = self.screen()
            if cond(text):
                return time.monotonic()
            time.sleep(0.005)
        raise TimeoutError(f"timed out waiting for {what}; screen was:\n{text}")

    def kill(self) -> None:
        subprocess.run(["tmux", "-L", self.sock, "kill-server"], capture_output=True, timeout=10)


def title(screen: str) -> str:
    return screen.splitlines()[0] if screen else ""


# -- the cluster -----------------------------------------------------------------------------
def pod_body(name: str) -> dict[str, Any]:
    return {"metadata": {"name": name, "labels": {"app": "bench"}},
            "spec": {"containers": [{"name": "c", "image": "nginx:1.25",
                                     "resources": {"requests": {"cpu": "10m", "memory": "16Mi"}}}]}}


def populate(kube: Any, pods: int, nodes: int, workers: int = 8) -> float:
    kube.request("POST", "/api/v1/namespaces", body={"metadata": {"name": "bench"}})
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        items = (kube.request("GET", "/api/v1/nodes") or {}).get("items") or []
        ready = sum(1 for n in items for c in (n.get("status") or {}).get("conditions") or []
                    if c.get("type") == "Ready" and c.get("status") == "True")
        if ready >= nodes:
            break
        time.sleep(0.2)
    t0 = time.monotonic()
    with concurrent.futures.ThreadPoolExecutor(workers) as pool:
        list(pool.map(lambda i: kube.request("POST", "/api/v1/namespaces/bench/pods", body=pod_body(f"p-{i:05d}"),
                                             timeout=60), range(pods)))
    deadline = time.monotonic() + 600
    while time.monotonic() < deadline:
        doc = kube.request("GET", "/api/v1/namespaces/bench/pods",
                           query={"fieldSelector": "status.phase=Running", "limit": 1}, timeout=60) or {}
        running = len(doc.get("items") or []) + int((doc.get("metadata") or {}).get("remainingItemCount") or 0)
        if running >= pods:
            return time.monotonic() - t0
        time.sleep(0.5)
    raise TimeoutError("pods did not all run")


class Churn:
    """``rate`` pod changes a second, spread over 4 threads, away from the visible rows."""

    def __init__(self, kube: Any, pods: int, rate: float, statuses: dict[str, list[dict[str, Any]]]) -> None:
        self.kube, self.pods, self.rate = kube, pods, rate
        self.statuses = statuses
        self.done = 0
        self.errors = 0
        self.late = 0.0
        self._stop = threading.Event()
        self._lock = threading.Lock()
        self._threads = [threading.Thread(target=self._run, args=(i,), daemon=True) for i in range(4)]
        self._absent: set[str] = set()

    def start(self) -> None:
        self.t0 = time.monotonic()
        for t in self._threads:
            t.start()

    def stop(self) -> float:
        self._stop.set()
        for t in self._threads:
            t.join(30)
        return self.done / (time.monotonic() - self.t0)

    def _change(self, rnd: random.Random) -> None:
        name = f"p-{rnd.randrange(UNTOUCHED, self.pods):05d}"
        path = f"/api/v1/namespaces/bench/pods/{name}"
        with self._lock:
            absent = name in self._absent
            self._absent.discard(name)
        if absent:
            self.kube.request("POST", "/api/v1/namespaces/bench/pods", body=pod_body(name), timeout=30)
        elif rnd.random() < 0.05:
            with self._lock:
                self._absent.add(name)
            self.kube.request("DELETE", path, timeout=30)
        else:
            cs = self.statuses.get(name)
            if not cs:
                return
            cs = [dict(c, restartCount=int(c.get("restartCount") or 0) + 1) for c in cs]
            self.statuses[name] = cs
            self.kube.request("PATCH", path + "/status", body={"status": {"containerStatuses": cs}},
                              content_type="application/merge-patch+json", timeout=30)

    def _run(self, index: int) -> None:
        rnd = random.Random(index)
        interval = 4 / self.rate
        due = time.monotonic() + index * interval / 4
        while not self._stop.is_set():
            wait = due - time.monotonic()
            if wait > 0:
                self._stop.wait(wait)
            else:
                self.late = max(self.late, -wait)
            due += interval
            try:
                self._change(rnd)
            except Exception:
                self.errors += 1
            self.done += 1


def container_statuses(kube: Any) -> dict[str, list[dict[str, Any]]]:
    out: dict[str, list[dict[str, Any]]] = {}
    token = None
    while True:
        doc = kube.request("GET", "/api/v1/namespaces/bench/pods", query={"limit": 500, "continue": token},
                           timeout=60) or {}
        for p in doc.get("items") or []:
            out[p["metadata"]["name"]] = (p.get("status") or {}).get("containerStatuses") or []
        token = (doc.get("metadata") or {}).get("continue")
        if not token:
            return out


# -- probes ----------------------------------------------------------------------------------
VIEWS = ("pods", "workloads", "nodes", "events")
VIEW_KEY = {"pods": "p", "workloads": "w", "nodes": "n", "events": "e"}
VIEW_TITLE = {"pods": "Pods", "workloads": "Workloads", "nodes": "Nodes", "events": "Events"}
ONLY = {"pods": "faults only [f]", "workloads": "not ready only [f]", "nodes": "not ready only [f]",
        "events": "warnings only [f]"}
PROBE_NS = "aaa-bench"          # sorts before every other namespace: its workload is the first row
PROBE_DEPLOY = "aa-probe"


def prepare_view(kube: Any, view: str) -> None:
    """What a view's change probe needs in the cluster, made before anything is timed."""
    if view == "workloads":
        kube.request("POST", "/api/v1/namespaces", body={"metadata": {"name": PROBE_NS}})
        kube.request("POST", f"/apis/apps/v1/namespaces/{PROBE_NS}/deployments", body={
            "metadata": {"name": PROBE_DEPLOY},
            "spec": {"replicas": 1, "selector": {"matchLabels": {"app": PROBE_DEPLOY}},
                     "template": {"metadata": {"labels": {"app": PROBE_DEPLOY}},
                                  "spec": {"containers": [{"name": "c", "image": "nginx:1.25"}]}}}}, timeout=30)


class Probes:
    """Change-to-screen on the view shown: pods, a visible pod's restart count; workloads, the probe
    deployment's desired count (scaled 1 <-> 2, its READY x/y shows the new y); nodes, the first node
    cordoned / uncordoned (its state); events, a new Warning event's row (warnings first, newest first:
    the top row). Key-to-screen: ``f`` and back on that view."""

    def __init__(self, tmux: Tmux, kube: Any, statuses: dict[str, list[dict[str, Any]]], view: str = "pods") -> None:
        self.tmux, self.kube, self.statuses, self.view = tmux, kube, statuses, view
        self.value = 100
        self.change: list[float] = []
        self.keys: list[float] = []
        self.node = ""
        self.tag = uuid.uuid4().hex[:4]     # each run's events their own reasons: the idle run's stay listed
        if view == "nodes":
            items = (kube.request("GET", "/api/v1/nodes", timeout=30) or {}).get("items") or []
            self.node = min(n["metadata"]["name"] for n in items)

    def change_once(self, index: int) -> None:
        self.value = self.value + 1 if self.value < 999 else 100
        value = self.value
        if self.view == "pods":
            name = f"p-{index:05d}"
            cs = [dict(c, restartCount=value) for c in self.statuses[name]]
            needle = re.compile(rf"{name}\b.*\s{value}\s")
            what = f"{name} with {value} restarts"
            t0 = time.monotonic()
            self.kube.request("PATCH", f"/api/v1/namespaces/bench/pods/{name}/status",
                              body={"status": {"containerStatuses": cs}}, content_type="application/merge-patch+json")
        elif self.view == "workloads":
            replicas = 1 + value % 2
            needle = re.compile(rf"{PROBE_DEPLOY}\b.*\s\d+/{replicas}\s")
            what = f"{PROBE_DEPLOY} wanting {replicas}"
            t0 = time.monotonic()
            self.kube.request("PATCH", f"/apis/apps/v1/namespaces/{PROBE_NS}/deployments/{PROBE_DEPLOY}",
                              body={"spec": {"replicas": replicas}}, content_type="application/merge-patch+json")
        elif self.view == "nodes":
            cordon = value % 2 == 0
            needle = re.compile(rf"{self.node}\b.*{'Cordoned' if cordon else 'Ready'}")
            what = f"{self.node} {'cordoned' if cordon else 'ready'}"
            t0 = time.monotonic()
            self.kube.request("PATCH", f"/api/v1/nodes/{self.node}", body={"spec": {"unschedulable": cordon}},
                              content_type="application/merge-patch+json")
        else:
            reason = f"Probe{self.tag}{value}x{index}"
            needle = re.compile(rf"\b{reason}\b")
            what = f"the event {reason}"
            stamp = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())
            t0 = time.monotonic()
            self.kube.request("POST", "/api/v1/namespaces/bench/events", body={
                "metadata": {"name": f"probe-{uuid.uuid4().hex[:10]}"}, "type": "Warning", "reason": reason,
                "message": "bench probe", "count": 1, "firstTimestamp": stamp, "lastTimestamp": stamp,
                "involvedObject": {"kind": "Pod", "namespace": "bench", "name": "p-00000"}})
        seen = self.tmux.wait(lambda s: bool(needle.search(s)), 30, what)
        self.change.append(seen - t0)

    def key_once(self) -> None:
        for expect in (ONLY[self.view], "all [f]"):
            t0 = time.monotonic()
            self.tmux.keys("f")
            seen = self.tmux.wait(lambda s: expect in title(s), 30, f"the title to say {expect!r}")
            self.keys.append(seen - t0)
        # Back on all rows: wait for them, so the next change probe finds its row on screen.
        row = {"pods": "p-00000", "workloads": PROBE_DEPLOY, "nodes": self.node, "events": "Probe"}[self.view]
        if self.view != "events" or self.change:
            self.tmux.wait(lambda s: row in s, 30, "the rows again")

    def run(self, seconds: float) -> None:
        deadline = time.monotonic() + seconds
        i = 0
        while time.monotonic() < deadline:
            self.change_once(i % VISIBLE)
            if i % 2 == 0:
                self.key_once()
            i += 1
            time.sleep(random.uniform(0.05, 0.25))


def show_view(tmux: Tmux, view: str) -> float | None:
    """Put ``view`` on screen (its key) and wait for its title; seconds from the key to the title."""
    if view == "pods":
        return None
    start = time.monotonic()
    tmux.keys(VIEW_KEY[view])
    return tmux.wait(lambda s: title(s).startswith(VIEW_TITLE[view]), 60, f"the {view} view") - start


# -- the dashboard with a freeze meter (--tui-child) ------------------------------------------
class StallTracer:
    """Where the event loop is while it is late (``--trace-stalls``): a thread looks at the loop's
    thread every 2 ms; while the 20 ms timer is overdue by more than ``threshold`` it records that
    thread's stack. The longest stalls are kept with their stacks; full garbage collections are
    counted and timed (``gc.callbacks``)."""

    def __init__(self, threshold: float, keep: int = 5) -> None:
        import gc

        self.threshold, self.keep = threshold, keep
        self.loop_thread = threading.get_ident()
        self.woke = time.monotonic()
        self.samples: list[list[str]] = []
        self.stalls: list[dict[str, Any]] = []
        self.gc: dict[str, list[float]] = {"0": [], "1": [], "2": []}
        self._gc_t0 = 0.0
        gc.callbacks.append(self._on_gc)
        threading.Thread(target=self._run, name="stall-tracer", daemon=True).start()

    def _on_gc(self, phase: str, info: dict[str, Any]) -> None:
        # Thread CPU, not wall time: on a busy machine a pass's wall time includes waiting for a core.
        if phase == "start":
            self._gc_t0 = time.thread_time()
        else:
            self.gc[str(info["generation"])].append(time.thread_time() - self._gc_t0)

    def _run(self) -> None:
        import traceback

        while True:
            time.sleep(0.002)
            if time.monotonic() - self.woke > 0.02 + self.threshold:
                frame = sys._current_frames().get(self.loop_thread)
                if frame is not None:
                    self.samples.append([f"{Path(f.filename).name}:{f.lineno} {f.name}"
                                         for f in traceback.extract_stack(frame)][-14:])

    def woke_up(self, late: float) -> None:
        """The timer fired ``late`` seconds after it was due: close the stall it ends, if any."""
        self.woke = time.monotonic()
        samples, self.samples = self.samples, []
        if late > self.threshold:
            self.stalls.append({"late_ms": round(late * 1000), "stacks": samples})
            self.stalls.sort(key=lambda s: -s["late_ms"])
            del self.stalls[self.keep:]

    def take(self) -> dict[str, Any]:
        import gc
        from collections import Counter

        old = gc.get_objects(2)
        kinds = Counter(type(o).__qualname__ for o in old).most_common(8)
        out = {"stalls": self.stalls, "gc": {g: [len(t), round(1000 * max(t, default=0))] for g, t in self.gc.items()},
               "gen2": [len(old), gc.get_freeze_count(), kinds]}
        del old
        self.stalls, self.gc = [], {g: [] for g in self.gc}
        return out


class CpuSampler:
    """Where the dashboard's CPU goes (``--profile-cpu``): every 5 ms each thread's own CPU clock is
    read and what it used since the last look is charged to the stack it is in now (innermost frame:
    self; every frame: inclusive). A thread's stack can only be read while this one holds the GIL, so
    long C calls show at the Python line that made them."""

    def __init__(self, interval: float = 0.005) -> None:
        from collections import defaultdict

        self.interval = interval
        self.self_cpu: defaultdict[str, float] = defaultdict(float)
        self.incl_cpu: defaultdict[str, float] = defaultdict(float)
        self.threads: defaultdict[str, float] = defaultdict(float)
        self._last: dict[int, float] = {}
        self._lock = threading.Lock()       # take() reads the counters from the event loop's thread
        threading.Thread(target=self._run, name="cpu-sampler", daemon=True).start()

    def _run(self) -> None:
        me = threading.get_ident()
        while True:
            time.sleep(self.interval)
            names = {t.ident: t.name for t in threading.enumerate()}
            for ident, frame in sys._current_frames().items():
                if ident == me:
                    continue
                try:
                    now = time.clock_gettime(time.pthread_getcpuclockid(ident))
                except OSError:         # the thread ended meanwhile
                    continue
                used, self._last[ident] = now - self._last.get(ident, now), now
                if used <= 0:
                    continue
                thread = names.get(ident, str(ident)).split("(")[0][:24]
                stack: list[str] = []
                f: Any = frame
                while f is not None:
                    stack.append(f"{thread}: {Path(f.f_code.co_filename).name}:{f.f_code.co_name}")
                    f = f.f_back
                with self._lock:
                    self.threads[thread] += used
                    if stack:
                        self.self_cpu[stack[0]] += used
                    for where in set(stack):
                        self.incl_cpu[where] += used

    def take(self) -> dict[str, Any]:
        with self._lock:
            out = {"threads": _top(self.threads, 8), "self": _top(self.self_cpu, 25), "incl": _top(self.incl_cpu, 40)}
            self.self_cpu.clear()
            self.incl_cpu.clear()
            self.threads.clear()
        return out


def _top(counts: dict[str, float], n: int) -> list[tuple[str, float]]:
    return sorted(counts.items(), key=lambda kv: -kv[1])[:n]


def print_profile(record: dict[str, Any]) -> None:
    prof = record.get("profile")
    if not prof:
        return
    print("profile: CPU seconds by thread: " + ", ".join(f"{t} {s:.2f}" for t, s in prof["threads"]))
    print("profile: inclusive (the function or what it calls):")
    for where, sec in prof["incl"]:
        print(f"    {sec:7.2f}s {where}")
    print("profile: self (the innermost Python frame):")
    for where, sec in prof["self"]:
        print(f"    {sec:7.2f}s {where}")


def tui_child(kubeconfig: str, stall_file: str, trace: float | None = None, profile: bool = False) -> int:
    """The dashboard exactly as `digit-tui health` runs it, plus a 20 ms timer whose late wake-ups
    are freezes of the event loop. SIGUSR1 writes the record to ``stall_file`` and starts a new one."""
    import asyncio

    from digit_tui.app import DigitApp

    period = 0.02
    record: dict[str, Any] = {"max": 0.0, "max_cpu": 0.0, "over_100ms": 0, "samples": 0, "since": time.time()}
    tracer: StallTracer | None = None
    sampler = None
    if profile:
        # A thread's stack is read when the sampler gets the GIL; at the default 5 ms switch interval the
        # event loop's short frames mostly ran to its next select() first, and were charged to it.
        sys.setswitchinterval(0.0005)
        sampler = CpuSampler()

    class BenchApp(DigitApp):
        def on_mount(self) -> None:   # Textual runs DigitApp.on_mount as well
            self.run_worker(meter(), exclusive=False, exit_on_error=False)

    async def meter() -> None:
        nonlocal tracer
        loop = asyncio.get_running_loop()
        if trace is not None:
            tracer = StallTracer(trace)

        def dump() -> None:
            extra = {**(tracer.take() if tracer else {}), **({"profile": sampler.take()} if sampler else {})}
            Path(stall_file + ".tmp").write_text(json.dumps({**record, **extra}))
            os.replace(stall_file + ".tmp", stall_file)
            record.update(max=0.0, max_cpu=0.0, over_100ms=0, samples=0, since=time.time())

        loop.add_signal_handler(signal.SIGUSR1, dump)
        while True:
            t0, c0 = time.monotonic(), time.thread_time()
            await asyncio.sleep(period)
            late = time.monotonic() - t0 - period
            if tracer is not None:
                tracer.woke_up(late)
            record["samples"] += 1
            if late > record["max"]:
                # The loop's own CPU in that stall: near the stall, the app computed; near 0, it waited
                # (for the GIL, or for a core on a busy machine).
                record["max"], record["max_cpu"] = late, time.thread_time() - c0
                record["max_at"] = time.time() - late      # when it began (wall clock: the bench compares)
            record["over_100ms"] += late > 0.1

    BenchApp(start="dashboard", kubeconfig=kubeconfig).run()
    return 0


def read_stalls(pid: int, path: Path) -> dict[str, Any]:
    path.unlink(missing_ok=True)
    os.kill(pid, signal.SIGUSR1)
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline and not path.exists():
        time.sleep(0.01)
    return json.loads(path.read_text())


def print_trace(record: dict[str, Any]) -> None:
    """The longest stalls: for each, the stacks seen in it, most frequent first (innermost frame last)."""
    from collections import Counter

    gc_passes = ", ".join(f"gen {g}: {n} (longest {t} ms)" for g, (n, t) in record.get("gc", {}).items())
    print(f"trace: garbage collections (thread CPU): {gc_passes}")
    if "gen2" in record:
        size, frozen, kinds = record["gen2"]
        print(f"trace: oldest generation at the end: {size} objects ({frozen} frozen apart); most: "
              + ", ".join(f"{k} {n}" for k, n in kinds))
    for stall in record.get("stalls", []):
        stacks = Counter(" > ".join(s[-6:]) for s in stall["stacks"])
        print(f"trace: stall of {stall['late_ms']} ms, {len(stall['stacks'])} samples")
        for stack, n in stacks.most_common(4):
            print(f"    {n:3d}x {stack}")


# -- main ------------------------------------------------------------------------------------
def kubectl_get(kubeconfig: Path, cache: Path) -> float:
    t0 = time.monotonic()
    out = subprocess.run(["/usr/bin/kubectl", "--kubeconfig", str(kubeconfig), "--cache-dir", str(cache),
                          "get", "pods", "-A", "--no-headers"], capture_output=True, text=True, timeout=300)
    took = time.monotonic() - t0
    if out.returncode != 0:
        raise RuntimeError(out.stderr)
    return took


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--pods", type=int, default=5000)
    ap.add_argument("--nodes", type=int, default=50)
    ap.add_argument("--rate", type=float, default=100.0, help="pod changes a second during churn")
    ap.add_argument("--minutes", type=float, default=1.0,
                    help="churn duration; RSS is read at its end (the issue's figure is 10)")
    ap.add_argument("--launches", type=int, default=3)
    ap.add_argument("--tree", metavar="DIR", default=str(REPO),
                    help="the digit-tui checkout to run (another one: `git worktree add --detach /tmp/before "
                         "<commit>`, for before/after figures from the same bench)")
    ap.add_argument("--view", choices=VIEWS, default="pods",
                    help="the view on screen for the idle and churn figures (the launch is timed on pods)")
    ap.add_argument("--trace-stalls", type=float, metavar="MS",
                    help="record where the event loop is during stalls longer than MS under churn, and the "
                         "garbage collector's passes; prints the longest stalls' stacks (slows the loop a little)")
    ap.add_argument("--profile-cpu", action="store_true",
                    help="sample where the dashboard's CPU goes under churn (every thread, every 5 ms) and print "
                         "the functions that used most of it (costs a few per cent of CPU)")
    ap.add_argument("--tui-child", nargs=2, metavar=("KUBECONFIG", "STALL_FILE"), help=argparse.SUPPRESS)
    ap.add_argument("--tui-trace", type=float, help=argparse.SUPPRESS)
    ap.add_argument("--tui-profile", action="store_true", help=argparse.SUPPRESS)
    a = ap.parse_args()
    if a.tui_child:
        sys.path.insert(0, os.getcwd())     # the checkout it was started in (--tree)
        sys.exit(tui_child(a.tui_child[0], a.tui_child[1], trace=a.tui_trace, profile=a.tui_profile))

    from digit_tui.infra.kube import Kube
    from digit_tui.sandbox.runtime import start_sandbox_subprocess

    tmp = Path(tempfile.mkdtemp(prefix="dash-bench-"))
    h = start_sandbox_subprocess(tmp / "sandbox", nodes=a.nodes, speed=100.0)
    tmux = Tmux(tmp)
    try:
        kube = Kube(h.kubeconfig_path, timeout=60)
        took = populate(kube, a.pods, a.nodes)
        print(f"sandbox: {a.pods} pods on {a.nodes} nodes, all Running after {took:.1f}s")
        statuses = container_statuses(kube)
        prepare_view(kube, a.view)
        kubeconfig = str(h.kubeconfig_path)

        # kubectl and the launch, side by side, in rounds (a round's load falls on both). Byte-compiled
        # modules, as an installed digit-tui has them (the bench's own pycache, warmed by a first launch).
        env = compiled_env(tmp)
        tree = Path(a.tree).resolve()
        kcache = tmp / "kcache"
        kubectl_get(h.kubeconfig_path, kcache)                     # discovery cache
        want = f"{a.pods + (1 if a.view == 'workloads' else 0)} pods"   # the probe deployment's pod
        cmd = (f"env -u PYTHONDONTWRITEBYTECODE TERM=xterm-256color "
               f"PYTHONPYCACHEPREFIX={shlex.quote(env['PYTHONPYCACHEPREFIX'])} "
               f"sh -c 'cd {shlex.quote(str(tree))} && exec {shlex.quote(sys.executable)} -m digit_tui.cli health "
               f"--kubeconfig {shlex.quote(kubeconfig)}'")
        kubectls, firsts, fulls = [], [], []
        pid = 0
        for n in range(a.launches + 1):
            if n:
                kubectls.append(kubectl_get(h.kubeconfig_path, kcache))
            t0 = time.monotonic()
            pid = tmux.start(cmd)
            first = tmux.wait(lambda s: s.startswith("Pods ·"), 60, "the first frame") - t0
            full = tmux.wait(lambda s: want in title(s) and "● live" in title(s), 120, "the full list") - t0
            if n:                       # the first launch only compiles the bytecode
                firsts.append(first)
                fulls.append(full)
            if n < a.launches:
                tmux.kill()
        kubectl, launch = statistics.median(kubectls), statistics.median(fulls)
        ratio = statistics.median(f / k for f, k in zip(fulls, kubectls))
        print(f"kubectl get pods -A: {kubectl:.2f}s (median of {a.launches})")
        print(f"dashboard launch{'' if tree == REPO else f' [{tree}]'}: first frame {statistics.median(firsts):.2f}s, "
              f"all {a.pods} pods shown {launch:.2f}s (median of {a.launches}; "
              f"{', '.join(f'{f:.2f}' for f in fulls)}) = {ratio:.2f}x kubectl (median of the rounds' ratios)"
              f"   [goal <= 2x]")

        # idle, on the plain command, once the last page's work has settled
        first_showing = show_view(tmux, a.view)
        rss_start = rss_mib(pid)
        time.sleep(5)
        cpu = CpuWindow(pid)
        time.sleep(10)
        idle_cpu = cpu.percent()
        probes = Probes(tmux, kube, statuses, a.view)
        for i in range(10):
            probes.change_once(i % VISIBLE)
            probes.key_once()
        idle_change, idle_keys = probes.change, probes.keys
        print(f"view on screen for the figures below: {a.view}"
              + (f" (its first showing: {ms(first_showing)} from its key to its title)"
                 if first_showing is not None else ""))
        print(f"idle: CPU {idle_cpu:.1f}% over 10 s   [goal <= 2%]; RSS {rss_start:.0f} MiB")
        print(f"idle: change-to-screen p50 {ms(pct(idle_change, .5))} p95 {ms(pct(idle_change, .95))}; "
              f"key-to-screen p50 {ms(pct(idle_keys, .5))} p95 {ms(pct(idle_keys, .95))}")
        tmux.kill()

        # churn, on the same app with the freeze meter
        stall_file = tmp / "stalls.json"
        pid = tmux.start(f"env -u PYTHONDONTWRITEBYTECODE TERM=xterm-256color "
                         f"PYTHONPYCACHEPREFIX={shlex.quote(env['PYTHONPYCACHEPREFIX'])} "
                         f"sh -c 'cd {shlex.quote(str(tree))} && exec {shlex.quote(sys.executable)} "
                         f"{shlex.quote(__file__)} --tui-child {shlex.quote(kubeconfig)} {shlex.quote(str(stall_file))}"
                         f"{f' --tui-trace {a.trace_stalls / 1000}' if a.trace_stalls else ''}"
                         f"{' --tui-profile' if a.profile_cpu else ''}'")
        tmux.wait(lambda s: s.startswith("Pods ·"), 60, "the first frame")
        # Building the first frame is a stall of the loop, with nothing on screen yet to freeze: said
        # apart; the idle record starts at the first frame seen.
        start_stalls = read_stalls(pid, stall_file)
        tmux.wait(lambda s: want in title(s) and "● live" in title(s), 120, "the full list")
        full_at = time.time()
        show_view(tmux, a.view)
        rss0 = rss_mib(pid)
        time.sleep(5)
        idle_stalls = read_stalls(pid, stall_file)
        churn = Churn(kube, a.pods, a.rate, statuses)
        probes = Probes(tmux, kube, statuses, a.view)
        cpu = CpuWindow(pid)
        churn.start()
        rss_series = [rss0]
        seconds = a.minutes * 60
        end = time.monotonic() + seconds
        while time.monotonic() < end:
            probes.run(min(30.0, end - time.monotonic()))
            rss_series.append(rss_mib(pid))
        busy_cpu = cpu.percent()
        busy_stalls = read_stalls(pid, stall_file)
        achieved = churn.stop()
        rss_end = rss_mib(pid)
        print(f"churn: {achieved:.0f} changes/s for {seconds:.0f}s ({churn.errors} failed), "
              f"{len(probes.change)} change probes, {len(probes.keys)} key probes")
        print(f"churn: change-to-screen p50 {ms(pct(probes.change, .5))} p95 {ms(pct(probes.change, .95))} "
              f"max {ms(max(probes.change))}   [goal p95 <= 250 ms]")
        print(f"churn: key-to-screen p50 {ms(pct(probes.keys, .5))} p95 {ms(pct(probes.keys, .95))} "
              f"max {ms(max(probes.keys))}")
        print(f"churn: CPU {busy_cpu:.1f}% (dashboard process, freeze meter included)")
        when = idle_stalls.get("max_at")
        print(f"frozen UI: until the first frame (nothing on screen yet), longest event-loop stall "
              f"{ms(start_stalls['max'])} (the loop computing {ms(start_stalls['max_cpu'])} of it)")
        print(f"frozen UI: longest event-loop stall idle, from the first frame to 5 s after the full list, "
              f"{ms(idle_stalls['max'])} (the loop computing {ms(idle_stalls['max_cpu'])} of it"
              + (f"; it began {when - full_at:+.2f} s from the full list seen" if when else "") + "), under churn "
              f"{ms(busy_stalls['max'])} (the loop computing {ms(busy_stalls['max_cpu'])} of it; "
              f"{busy_stalls['over_100ms']} stalls > 100 ms in {busy_stalls['samples']} ticks of 20 ms)"
              f"   [goal never > 100 ms]")
        if a.trace_stalls:
            print("trace: until the first frame")
            print_trace(start_stalls)
            print("trace: idle, from the first frame to 5 s after the full list")
            print_trace(idle_stalls)
            print("trace: under churn")
            print_trace(busy_stalls)
        if a.profile_cpu:
            print("profile: under churn")
            print_profile(busy_stalls)
        print(f"RSS: {rss0:.0f} MiB at the full list, {rss_end:.0f} MiB after {a.minutes:g} min of churn "
              f"(samples: {', '.join(f'{r:.0f}' for r in rss_series)})   [goal <= 300 MiB, flat]")
    finally:
        tmux.kill()
        h.stop()


if __name__ == "__main__":
    main()
