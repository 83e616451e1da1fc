"""Sandbox API benchmark: prints figures, asserts nothing.

    .venv/bin/python bench/sandbox.py [--pods 5000] [--nodes 50] [--workers 8] [--watchers 10]
                                      [--controller-pods 5000]

First the controllers alone, in this process (no HTTP), as tests/sandbox/test_ctrl_scale.py runs
them: --controller-pods pods in Deployments of 100 on --nodes nodes, the time until all are
available and the event loop's worst stall meanwhile (the API shares that loop, so the stall is
how long a request can wait behind a reconcile burst; Python's GC takes ~0.2 s of it with this
many objects). 0 skips it.

Then the sandbox as its own process (as `digit-tui sandbox up` does), so the RSS
printed is the server's alone.  Figures: time to create the pods through the
API (and until all are Running), time to list them with the Python client and
with `kubectl get pods -A`, watch events per second fanned out to N watchers.
"""

from __future__ import annotations

import argparse
import asyncio
import concurrent.futures
import json
import ssl
import subprocess
import tempfile
import threading
import time
import urllib.request
from pathlib import Path

from _measure import rss_mib  # bench/ is sys.path[0] when a bench runs


async def controllers(pods: int, nodes: int, speed: float) -> None:
    from digit_tui.sandbox import resources as R
    from digit_tui.sandbox.manager import ControllerManager
    from digit_tui.sandbox.simconfig import SimConfig
    from digit_tui.sandbox.store import Store

    store = Store()
    mgr = ControllerManager(store, SimConfig(speed=speed, nodes=nodes))
    await mgr.start()
    try:
        store.create(R.NAMESPACES, {"metadata": {"name": "egov"}})
        apps = [f"svc-{i}" for i in range((pods + 99) // 100)]
        for i, app in enumerate(apps):
            store.create(R.DEPLOYMENTS, {"metadata": {"name": app, "namespace": "egov"}, "spec": {
                "replicas": min(100, pods - 100 * i), "selector": {"matchLabels": {"app": app}},
                "template": {"metadata": {"labels": {"app": app}}, "spec": {"containers": [{
                    "name": "app", "image": f"egovio/{app}:v1",
                    "resources": {"requests": {"cpu": "10m", "memory": "64Mi"}}}]}}}})
            store.create(R.SERVICES, {"metadata": {"name": app, "namespace": "egov"}, "spec": {
                "selector": {"app": app}, "ports": [{"port": 8080}]}})
        t0 = time.monotonic()
        worst = 0.0
        avail = 0
        while time.monotonic() < t0 + 300:
            t = time.monotonic()
            await asyncio.sleep(0.05)
            worst = max(worst, time.monotonic() - t - 0.05)
            avail = sum((store.get_ref(R.DEPLOYMENTS, "egov", app).get("status") or {}).get(
                "availableReplicas", 0) for app in apps)
            if avail >= pods:
                break
        print(f"controllers in-process: {avail}/{pods} pods available on {nodes} nodes after "
              f"{time.monotonic() - t0:.2f}s; worst event-loop stall {worst:.2f}s")
    finally:
        await mgr.stop()


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--pods", type=int, default=5000)
    ap.add_argument("--nodes", type=int, default=50)
    ap.add_argument("--workers", type=int, default=8)
    ap.add_argument("--watchers", type=int, default=10)
    ap.add_argument("--watch-events", type=int, default=2000)
    ap.add_argument("--speed", type=float, default=100.0)
    ap.add_argument("--controller-pods", type=int, default=5000)
    a = ap.parse_args()

    if a.controller_pods:
        asyncio.run(controllers(a.controller_pods, a.nodes, speed=50.0))    # the test's speed

    from kubernetes import client, config

    from digit_tui.sandbox.runtime import start_sandbox_subprocess

    tmp = Path(tempfile.mkdtemp(prefix="sandbox-bench-"))
    h = start_sandbox_subprocess(tmp / "state", nodes=a.nodes, speed=a.speed)
    assert h.pid is not None
    try:
        print(f"sandbox pid {h.pid} at {h.url}; {a.nodes} nodes; RSS idle {rss_mib(h.pid):.0f} MiB")
        local = threading.local()

        def core() -> client.CoreV1Api:
            if not hasattr(local, "api"):
                local.api = client.CoreV1Api(config.new_client_from_config(str(h.kubeconfig_path)))
            return local.api

        v1 = core()
        v1.create_namespace({"metadata": {"name": "bench"}})
        deadline = time.monotonic() + 60
        while sum(1 for n in v1.list_node().items for c in n.status.conditions or []
                  if c.type == "Ready" and c.status == "True") < a.nodes and time.monotonic() < deadline:
            time.sleep(0.2)

        def make(i: int) -> None:
            core().create_namespaced_pod("bench", {
                "metadata": {"name": f"p-{i:05d}", "labels": {"app": f"a{i % 20}"}},
                "spec": {"containers": [{"name": "c", "image": "nginx:1.25",
                                         "resources": {"requests": {"cpu": "10m", "memory": "16Mi"}}}]}},
                _request_timeout=60)

        t0 = time.monotonic()
        with concurrent.futures.ThreadPoolExecutor(a.workers) as pool:
            list(pool.map(make, range(a.pods)))
        created = time.monotonic() - t0
        print(f"create {a.pods} pods ({a.workers} client threads): {created:.2f}s "
              f"({a.pods / created:.0f} pods/s)")

        def running() -> int:
            return len(v1.list_namespaced_pod("bench", field_selector="status.phase=Running",
                                              _request_timeout=60).items)

        deadline = time.monotonic() + 300
        n = 0
        while time.monotonic() < deadline:
            n = running()
            if n >= a.pods:
                break
            time.sleep(0.5)
        print(f"all {n} pods Running after: {time.monotonic() - t0:.2f}s from the first create")

        t0 = time.monotonic()
        items = v1.list_pod_for_all_namespaces(_request_timeout=120).items
        print(f"list {len(items)} pods, Python client (typed models): {time.monotonic() - t0:.2f}s")
        t0 = time.monotonic()
        resp = v1.list_pod_for_all_namespaces(_request_timeout=120, _preload_content=False)
        raw = json.loads(resp.data)
        print(f"list {len(raw['items'])} pods, Python client (raw JSON): {time.monotonic() - t0:.2f}s "
              f"({len(resp.data) / 2**20:.1f} MiB)")
        t0 = time.monotonic()
        out = subprocess.run(["/usr/bin/kubectl", "--kubeconfig", str(h.kubeconfig_path), "--cache-dir",
                              str(tmp / "kcache"), "get", "pods", "-A", "--no-headers"],
                             capture_output=True, text=True, timeout=300)
        print(f"kubectl get pods -A: {time.monotonic() - t0:.2f}s ({len(out.stdout.splitlines())} rows, "
              f"rc {out.returncode})")
        print(f"server RSS with {a.pods} pods: {rss_mib(h.pid):.0f} MiB")

        # Watch fan-out: N raw streaming watchers on configmaps, counting events.
        ctx = ssl.create_default_context(cafile=str(h.ca_path))
        rv = v1.list_namespaced_config_map("bench").metadata.resource_version
        counts = [0] * a.watchers
        done = threading.Barrier(a.watchers + 1)
        ready = threading.Barrier(a.watchers + 1)

        def watcher(i: int) -> None:
            req = urllib.request.Request(
                f"{h.url}/api/v1/namespaces/bench/configmaps?watch=1&resourceVersion={rv}&timeoutSeconds=120",
                headers={"Authorization": f"Bearer {h.token}"})
            with urllib.request.urlopen(req, timeout=120, context=ctx) as resp:
                ready.wait()
                for line in resp:
                    if line.strip():
                        counts[i] += 1
                        if counts[i] >= a.watch_events:
                            break
            done.wait()

        threads = [threading.Thread(target=watcher, args=(i,), daemon=True) for i in range(a.watchers)]
        for t in threads:
            t.start()
        ready.wait()

        def cm(i: int) -> None:
            core().create_namespaced_config_map("bench", {"metadata": {"name": f"cm-{i:05d}"}, "data": {"k": "v"}},
                                                _request_timeout=60)

        t0 = time.monotonic()
        with concurrent.futures.ThreadPoolExecutor(a.workers) as pool:
            list(pool.map(cm, range(a.watch_events)))
        done.wait()
        took = time.monotonic() - t0
        total = sum(counts)
        print(f"watch: {a.watch_events} changes x {a.watchers} watchers = {total} events in {took:.2f}s "
              f"({total / took:.0f} events/s delivered)")
        print(f"server RSS at the end: {rss_mib(h.pid):.0f} MiB")
    finally:
        h.stop()


if __name__ == "__main__":
    main()
