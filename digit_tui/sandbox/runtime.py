"""Start and stop the whole sandbox: store + controllers + HTTPS API, in-process or as a background process.

Three ways to run it:
- ``Sandbox`` inside a running event loop (the `sandbox up` child process uses it);
- ``start_sandbox(tmp_path)`` for tests: a background thread with its own loop;
- ``start_sandbox_subprocess(state_dir)`` / ``launch_background`` for a separate process
  (its own session, logs and pid file in the state directory).
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import json
import logging
import os
import signal
import ssl
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from digit_tui.procs import pid_alive

log = logging.getLogger(__name__)

PID_FILE = "sandbox.pid"
INFO_FILE = "sandbox.json"
LOG_FILE = "sandbox.log"
_SYSTEM_NAMESPACES = ("default", "kube-system", "kube-public", "kube-node-lease")


@dataclass
class SandboxOptions:
    state_dir: Path
    nodes: int = 3
    node_cpu: str = "8"
    node_memory: str = "16Gi"
    speed: float = 1.0
    port: int = 0
    host: str = "127.0.0.1"
    history: int = 5_000
    sim: dict[str, Any] = field(default_factory=dict)  # extra SimConfig fields (pull_delay, crash_rules...)
    server_version: str = "v1.30.14"                   # what GET /version answers (an older cluster's, in tests)


@dataclass
class SandboxHandle:
    """What a test or a caller needs to reach a running sandbox."""

    kubeconfig_path: Path
    url: str
    token: str
    ca_path: Path
    state_dir: Path
    _stop: Callable[[], object]     # what it returns is not used
    sandbox: Sandbox | None = None  # the in-process object (None for a subprocess)
    loop: asyncio.AbstractEventLoop | None = None
    pid: int | None = None

    def stop(self) -> None:
        self._stop()

    def __enter__(self) -> "SandboxHandle":
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def call(self, fn: Callable[[], Any], timeout: float = 10.0) -> Any:
        """Run ``fn`` on the sandbox's loop thread (store access from tests) and return its result."""
        if self.loop is None:
            raise RuntimeError("call() needs an in-process sandbox")

        async def run() -> Any:
            return fn()

        return asyncio.run_coroutine_threadsafe(run(), self.loop).result(timeout)

    def fault(self, body: dict[str, Any], timeout: float = 10.0) -> dict[str, Any]:
        return control_request(self.url, self.token, self.ca_path, "POST", body, timeout=timeout)

    def clear_faults(self, timeout: float = 10.0) -> dict[str, Any]:
        return control_request(self.url, self.token, self.ca_path, "DELETE", None, timeout=timeout)


class Sandbox:
    """Store, controllers and API server on the current event loop."""

    def __init__(self, options: SandboxOptions) -> None:
        self.options = options
        self.store: Any = None
        self.manager: Any = None
        self.server: Any = None
        self.kubeconfig_path: Path | None = None
        self.token = ""
        self.ca_path: Path | None = None
        self.url = ""

    async def start(self) -> str:
        from digit_tui.sandbox import pki
        from digit_tui.sandbox.server import ApiServer, server_ssl_context
        from digit_tui.sandbox.store import Store

        opts = self.options
        opts.state_dir.mkdir(parents=True, exist_ok=True, mode=0o700)
        keys = pki.ensure_pki(opts.state_dir)
        self.token = keys.token
        self.ca_path = keys.ca_cert
        self.store = Store(history=opts.history)
        self.manager = self._make_manager()
        if self.manager is not None:
            await self.manager.start()
        else:
            self._bootstrap_without_manager()
        self.server = ApiServer(self.store, token=keys.token,
                                log_provider=self.manager.pod_log if self.manager is not None else None,
                                version=opts.server_version)
        ctx = server_ssl_context(str(keys.server_cert), str(keys.server_key))
        self.url = await self.server.start(ctx, opts.host, opts.port)
        self.kubeconfig_path = pki.write_kubeconfig(keys, self.url)
        return self.url

    def _make_manager(self) -> Any:
        try:
            from digit_tui.sandbox.manager import ControllerManager
            from digit_tui.sandbox.simconfig import SimConfig
        except ImportError as exc:
            log.warning("controllers unavailable (%s): serving the API only", exc)
            return None
        opts = self.options
        try:
            config = SimConfig(nodes=opts.nodes, node_cpu=opts.node_cpu, node_memory=opts.node_memory,
                               speed=opts.speed, **opts.sim)
            return ControllerManager(self.store, config)
        except ImportError as exc:
            log.warning("controllers unavailable (%s): serving the API only", exc)
            return None

    def _bootstrap_without_manager(self) -> None:
        from digit_tui.sandbox import resources

        for ns in _SYSTEM_NAMESPACES:
            if self.store.get_ref(resources.NAMESPACES, None, ns) is None:
                self.store.create(resources.NAMESPACES, {"metadata": {"name": ns}})

    async def stop(self) -> None:
        if self.server is not None:
            await self.server.stop()
        if self.manager is not None:
            await self.manager.stop()


# ---------------------------------------------------------------------------- in-process (thread)


def start_sandbox(state_dir: Path, *, nodes: int = 3, speed: float = 50.0, node_cpu: str = "8",
                  node_memory: str = "16Gi", port: int = 0, timeout: float = 30.0,
                  server_version: str = SandboxOptions.server_version, **sim: Any) -> SandboxHandle:
    """Run a sandbox on a background thread with its own event loop; returns when it serves."""
    opts = SandboxOptions(state_dir=Path(state_dir), nodes=nodes, speed=speed, node_cpu=node_cpu,
                          node_memory=node_memory, port=port, sim=sim, server_version=server_version)
    sb = Sandbox(opts)
    loop = asyncio.new_event_loop()
    started = threading.Event()
    failure: list[BaseException] = []

    def run() -> None:
        asyncio.set_event_loop(loop)
        try:
            loop.run_until_complete(sb.start())
        except BaseException as exc:  # reported to the caller below
            failure.append(exc)
            started.set()
            return
        started.set()
        loop.run_forever()
        loop.run_until_complete(sb.stop())
        loop.close()

    thread = threading.Thread(target=run, name="digit-sandbox", daemon=True)
    thread.start()
    if not started.wait(timeout):
        raise TimeoutError("sandbox did not start in time")
    if failure:
        raise failure[0]

    def stop() -> None:
        if loop.is_running():
            loop.call_soon_threadsafe(loop.stop)
        thread.join(timeout=15)

    assert sb.kubeconfig_path is not None and sb.ca_path is not None
    return SandboxHandle(sb.kubeconfig_path, sb.url, sb.token, sb.ca_path, opts.state_dir, stop, sandbox=sb,
                         loop=loop)


# ---------------------------------------------------------------------------- background process


def _child_argv(opts: SandboxOptions) -> list[str]:
    return [sys.executable, "-m", "digit_tui.sandbox.runtime", "--state-dir", str(opts.state_dir),
            "--nodes", str(opts.nodes), "--node-cpu", opts.node_cpu, "--node-memory", opts.node_memory,
            "--speed", str(opts.speed), "--port", str(opts.port), "--sim-json", json.dumps(opts.sim)]


def read_info(state_dir: Path) -> dict[str, Any] | None:
    try:
        info = json.loads((state_dir / INFO_FILE).read_text())
    except (OSError, ValueError):
        return None
    return info if isinstance(info, dict) else None


def running_info(state_dir: Path) -> dict[str, Any] | None:
    """The info of the sandbox running for this state dir, or None."""
    info = read_info(state_dir)
    if not info:
        return None
    pid = int(info.get("pid", 0))
    if pid <= 0 or not pid_alive(pid):
        return None
    return info


def launch_background(opts: SandboxOptions, *, timeout: float = 60.0) -> dict[str, Any]:
    """Start the sandbox as a detached process (own session) and wait until /readyz answers."""
    opts.state_dir.mkdir(parents=True, exist_ok=True, mode=0o700)
    (opts.state_dir / INFO_FILE).unlink(missing_ok=True)
    logf = open(opts.state_dir / LOG_FILE, "ab")
    try:
        proc = subprocess.Popen(_child_argv(opts), stdin=subprocess.DEVNULL, stdout=logf, stderr=logf,
                                start_new_session=True, close_fds=True)
    finally:
        logf.close()
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"sandbox exited with code {proc.returncode}; see {opts.state_dir / LOG_FILE}")
        info = read_info(opts.state_dir)
        if info and info.get("pid") == proc.pid and ready(info["url"], Path(info["ca"])):
            return info
        time.sleep(0.05)
    proc.terminate()
    raise TimeoutError(f"sandbox not ready after {timeout:.0f}s; see {opts.state_dir / LOG_FILE}")


def stop_background(state_dir: Path, *, timeout: float = 15.0) -> bool:
    """Stop the sandbox of this state dir; False if none was running."""
    info = running_info(state_dir)
    if info is None:
        (state_dir / PID_FILE).unlink(missing_ok=True)
        return False
    pid = int(info["pid"])
    os.kill(pid, signal.SIGTERM)
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline and pid_alive(pid):
        time.sleep(0.05)
    if pid_alive(pid):
        os.kill(pid, signal.SIGKILL)
    (state_dir / PID_FILE).unlink(missing_ok=True)
    (state_dir / INFO_FILE).unlink(missing_ok=True)
    return True


def start_sandbox_subprocess(state_dir: Path, *, nodes: int = 3, speed: float = 50.0, node_cpu: str = "8",
                             node_memory: str = "16Gi", timeout: float = 60.0, **sim: Any) -> SandboxHandle:
    opts = SandboxOptions(state_dir=Path(state_dir), nodes=nodes, speed=speed, node_cpu=node_cpu,
                          node_memory=node_memory, sim=sim)
    info = launch_background(opts, timeout=timeout)
    return SandboxHandle(Path(info["kubeconfig"]), info["url"], (opts.state_dir / "token").read_text().strip(),
                         Path(info["ca"]), opts.state_dir, lambda: stop_background(opts.state_dir),
                         pid=int(info["pid"]))


def _ssl_client(ca: Path) -> ssl.SSLContext:
    return ssl.create_default_context(cafile=str(ca))


def ready(url: str, ca: Path, timeout: float = 2.0) -> bool:
    try:
        with urllib.request.urlopen(url + "/readyz", timeout=timeout, context=_ssl_client(ca)) as resp:
            return resp.status == 200
    except (OSError, urllib.error.URLError):
        return False


def control_request(url: str, token: str, ca: Path, method: str, body: dict[str, Any] | None,
                    *, timeout: float = 10.0) -> dict[str, Any]:
    """Call the authenticated fault-control endpoint of a sandbox."""
    data = json.dumps(body).encode() if body is not None else None
    req = urllib.request.Request(url + "/sandbox/v1/faults", data=data, method=method, headers={
        "Authorization": f"Bearer {token}", "Content-Type": "application/json"})
    try:
        with urllib.request.urlopen(req, timeout=timeout, context=_ssl_client(ca)) as resp:
            return json.loads(resp.read() or b"{}")
    except urllib.error.HTTPError as exc:
        try:
            msg = json.loads(exc.read()).get("message", str(exc))
        except ValueError:
            msg = str(exc)
        raise RuntimeError(msg) from None


async def _serve(opts: SandboxOptions) -> None:
    sb = Sandbox(opts)
    await sb.start()
    loop = asyncio.get_running_loop()
    done = asyncio.Event()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, done.set)
    (opts.state_dir / PID_FILE).write_text(f"{os.getpid()}\n")
    info = {"pid": os.getpid(), "url": sb.url, "kubeconfig": str(sb.kubeconfig_path), "ca": str(sb.ca_path),
            "nodes": opts.nodes, "speed": opts.speed, "started": time.time(),
            "options": {k: (str(v) if isinstance(v, Path) else v) for k, v in asdict(opts).items()}}
    tmp = opts.state_dir / (INFO_FILE + ".tmp")
    tmp.write_text(json.dumps(info))
    tmp.replace(opts.state_dir / INFO_FILE)
    log.info("sandbox serving on %s (kubeconfig %s)", sb.url, sb.kubeconfig_path)
    await done.wait()
    await sb.stop()
    (opts.state_dir / INFO_FILE).unlink(missing_ok=True)
    (opts.state_dir / PID_FILE).unlink(missing_ok=True)


def main(argv: list[str] | None = None) -> int:
    """Foreground entry of the background process (``python -m digit_tui.sandbox.runtime``)."""
    p = argparse.ArgumentParser(prog="digit-sandbox")
    p.add_argument("--state-dir", required=True)
    p.add_argument("--nodes", type=int, default=3)
    p.add_argument("--node-cpu", default="8")
    p.add_argument("--node-memory", default="16Gi")
    p.add_argument("--speed", type=float, default=1.0)
    p.add_argument("--port", type=int, default=0)
    p.add_argument("--sim-json", default="{}")
    a = p.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    # This process owns its interpreter: with thousands of long-lived objects, the default
    # generation-2 collections pause the event loop for a quarter of a second at 5,000 pods.
    gc.set_threshold(50_000, 50, 100)
    opts = SandboxOptions(state_dir=Path(a.state_dir), nodes=a.nodes, node_cpu=a.node_cpu,
                          node_memory=a.node_memory, speed=a.speed, port=a.port, sim=json.loads(a.sim_json))
    asyncio.run(_serve(opts))
    return 0


if __name__ == "__main__":
    sys.exit(main())
