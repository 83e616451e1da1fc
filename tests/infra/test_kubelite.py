"""infra/kubelite.py against the sandbox's real HTTPS API: the kubeconfig shapes it reads itself
(CA and token inline or in files beside the kubeconfig), the ones it leaves to the kubernetes
library (an exec plugin, which `health --once` then runs through the library), and the errors it
raises classified as the library's are."""

from __future__ import annotations

import base64
import json
import stat
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml

from digit_tui.health.watcher import TYPES
from digit_tui.infra.failures import FailureKind, failure_of
from digit_tui.infra.kubelite import lite_config, lite_kube
from tests.support import REPO


@pytest.fixture(scope="module")
def cluster(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Any]:
    from digit_tui.sandbox.runtime import start_sandbox

    with start_sandbox(tmp_path_factory.mktemp("kubelite") / "sandbox", nodes=2, speed=50.0) as handle:
        yield handle


def rewrite(cluster: Any, dest: Path, edit: Any) -> Path:
    doc = yaml.safe_load(cluster.kubeconfig_path.read_text())
    edit(doc["clusters"][0]["cluster"], doc["users"][0]["user"], dest.parent)
    dest.write_text(yaml.safe_dump(doc))
    dest.chmod(0o600)
    return dest


def test_inline_ca_and_token_read_the_cluster(cluster: Any) -> None:
    kube = lite_kube(cluster.kubeconfig_path)
    assert kube is not None
    with kube:
        nodes = kube.list_pipelined(TYPES["nodes"], limit=1)     # two pages, one connection kept alive
        assert sorted(n["metadata"]["name"] for n in nodes) == ["node-1", "node-2"]
        assert nodes[0]["kind"] == "Node"
        assert kube.request("GET", "/version")["gitVersion"].startswith("v1.")


def test_a_watch_streams_the_changes_since_the_lists_version(cluster: Any) -> None:
    """What the pod dashboard's watcher reads through it: each change once, in order, on a
    connection of its own (the list's stays usable), until the server ends the stream."""
    from digit_tui.infra.kube import Kube

    writer = Kube(cluster.kubeconfig_path, timeout=10)
    kube = lite_kube(cluster.kubeconfig_path)
    assert kube is not None
    with kube:
        writer.request("POST", "/api/v1/namespaces", body={"metadata": {"name": "lite-watch"}})
        listed = kube.request("GET", "/api/v1/namespaces/lite-watch/configmaps")
        rv = listed["metadata"]["resourceVersion"]
        for name in ("a", "b"):
            writer.request("POST", "/api/v1/namespaces/lite-watch/configmaps",
                           body={"metadata": {"name": name}, "data": {"k": name}})
        writer.request("DELETE", "/api/v1/namespaces/lite-watch/configmaps/a")
        cm = writer.resource("v1", "ConfigMap")
        seen = []
        for etype, obj in kube.watch(cm, "lite-watch", resource_version=rv, timeout_seconds=2):
            if etype != "BOOKMARK":
                seen.append((etype, obj["metadata"]["name"], obj["kind"]))
        assert seen == [("ADDED", "a", "ConfigMap"), ("ADDED", "b", "ConfigMap"), ("DELETED", "a", "ConfigMap")]
        assert kube.request("GET", "/version", timeout=1.0)["gitVersion"]      # the kept-alive list connection
    writer.close()


def test_ca_and_token_in_files_beside_the_kubeconfig(cluster: Any, tmp_path: Path) -> None:
    def to_files(server: dict[str, Any], user: dict[str, Any], base: Path) -> None:
        (base / "ca.pem").write_bytes(base64.b64decode(server.pop("certificate-authority-data")))
        (base / "token").write_text(user.pop("token") + "\n")
        server["certificate-authority"] = "ca.pem"
        user["tokenFile"] = "token"

    kubeconfig = rewrite(cluster, tmp_path / "kubeconfig", to_files)
    kube = lite_kube(kubeconfig)
    assert kube is not None
    with kube:
        assert len(kube.list_pipelined(TYPES["nodes"])) == 2


def test_a_refused_token_and_an_unknown_path_are_api_errors(cluster: Any, tmp_path: Path) -> None:
    bad = rewrite(cluster, tmp_path / "kubeconfig", lambda s, u, b: u.__setitem__("token", "not-the-token"))
    kube = lite_kube(bad)
    assert kube is not None
    with kube, pytest.raises(Exception) as info:
        kube.request("GET", "/api/v1/nodes")
    failure = failure_of(info.value)
    assert failure is not None and failure.kind is FailureKind.UNAUTHORIZED
    with lite_kube(cluster.kubeconfig_path) as good, pytest.raises(Exception) as missing:  # type: ignore[union-attr]
        good.request("GET", "/api/v1/namespaces/egov/configmaps/no-such")
    assert getattr(missing.value, "status", None) == 404 and failure_of(missing.value) is None


def test_an_exec_plugin_is_left_to_the_library(cluster: Any, tmp_path: Path) -> None:
    """The plugin prints the sandbox's token as an ExecCredential, as a cloud's CLI would."""
    token = yaml.safe_load(cluster.kubeconfig_path.read_text())["users"][0]["user"]["token"]
    plugin = tmp_path / "plugin"
    credential = {"apiVersion": "client.authentication.k8s.io/v1", "kind": "ExecCredential",
                  "status": {"token": token}}
    plugin.write_text(f"#!/bin/sh\necho '{json.dumps(credential)}'\n")
    plugin.chmod(plugin.stat().st_mode | stat.S_IXUSR)

    def use_exec(server: dict[str, Any], user: dict[str, Any], base: Path) -> None:
        user.pop("token")
        user["exec"] = {"apiVersion": "client.authentication.k8s.io/v1", "command": str(plugin),
                        "interactiveMode": "Never"}

    kubeconfig = rewrite(cluster, tmp_path / "kubeconfig", use_exec)
    assert lite_config(kubeconfig) is None
    probe = ("import json, sys\nfrom digit_tui import cli\ncode = cli.main(sys.argv[1:])\n"
             "print(json.dumps({'code': code, 'library': 'kubernetes.config' in sys.modules}), file=sys.stderr)")
    for path, library in ((kubeconfig, True), (cluster.kubeconfig_path, False)):
        r = subprocess.run([sys.executable, "-c", probe, "health", "--kubeconfig", str(path), "--once", "--json"],
                           capture_output=True, text=True, timeout=60, cwd=REPO)
        result = json.loads(r.stderr.strip().splitlines()[-1])
        assert result == {"code": 0, "library": library}, r.stderr
        assert json.loads(r.stdout)["summary"]["nodes"] == {"ready": 2, "total": 2}


class CountingProxy:
    """A TCP relay in front of the sandbox that counts the connections it accepts (each one a TLS
    handshake with the API server) and can cut every open one, as a server's idle timeout does."""

    def __init__(self, port: int) -> None:
        import socket
        import threading

        self.accepts = 0
        self._open: list[Any] = []
        self._lock = threading.Lock()
        self._listener = socket.create_server(("127.0.0.1", 0))
        self.port = self._listener.getsockname()[1]
        self._target = port
        threading.Thread(target=self._serve, daemon=True).start()

    def _serve(self) -> None:
        import socket
        import threading

        while True:
            try:
                client, _ = self._listener.accept()
            except OSError:
                return
            upstream = socket.create_connection(("127.0.0.1", self._target))
            with self._lock:
                self.accepts += 1
                self._open += [client, upstream]
            for a, b in ((client, upstream), (upstream, client)):
                threading.Thread(target=self._pipe, args=(a, b), daemon=True).start()

    @staticmethod
    def _pipe(src: Any, dst: Any) -> None:
        import socket

        try:
            while data := src.recv(65536):
                dst.sendall(data)
        except OSError:
            pass
        for sock in (src, dst):
            try:
                sock.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass

    def cut(self) -> None:
        import socket

        with self._lock:
            socks, self._open = self._open, []
        for sock in socks:
            try:
                sock.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass
            sock.close()

    def close(self) -> None:
        self._listener.close()
        self.cut()


@pytest.fixture
def proxied(cluster: Any, tmp_path: Path) -> Iterator[tuple[CountingProxy, Path]]:
    from urllib.parse import urlsplit

    url = urlsplit(yaml.safe_load(cluster.kubeconfig_path.read_text())["clusters"][0]["cluster"]["server"])
    proxy = CountingProxy(url.port or 443)
    path = rewrite(cluster, tmp_path / "kubeconfig", lambda c, u, _: c.__setitem__(
        "server", f"https://{url.hostname}:{proxy.port}"))
    yield proxy, path
    proxy.close()


def test_reads_from_many_short_lived_threads_share_a_few_connections(proxied: tuple[CountingProxy, Path]) -> None:
    from concurrent.futures import ThreadPoolExecutor

    proxy, path = proxied
    kube = lite_kube(path)
    assert kube is not None
    with kube:
        for _ in range(10):     # the engine's pattern: a pool per batch of reads, its threads gone after
            with ThreadPoolExecutor(4) as pool:
                versions = list(pool.map(lambda _: kube.request("GET", "/version")["gitVersion"], range(8)))
            assert all(v.startswith("v1.") for v in versions)
    assert proxy.accepts <= 8, f"80 reads from 40 threads took {proxy.accepts} TLS connections"


def test_a_connection_the_server_closed_is_replaced_for_a_get(proxied: tuple[CountingProxy, Path]) -> None:
    proxy, path = proxied
    kube = lite_kube(path)
    assert kube is not None
    with kube:
        assert kube.request("GET", "/version")["gitVersion"].startswith("v1.")
        proxy.cut()
        assert kube.request("GET", "/version")["gitVersion"].startswith("v1.")
    assert proxy.accepts == 2


def test_a_watch_keeps_its_connection_while_streaming(proxied: tuple[CountingProxy, Path]) -> None:
    proxy, path = proxied
    kube = lite_kube(path)
    assert kube is not None
    with kube:
        listed = kube.request("GET", "/api/v1/nodes")
        stream = kube.watch(TYPES["nodes"], resource_version="0", timeout_seconds=5)
        first = next(stream)      # streaming now: its connection is its own
        assert first[0] in ("ADDED", "MODIFIED", "BOOKMARK")
        # A read meanwhile takes the pooled connection, never the watch's.
        assert kube.request("GET", "/api/v1/nodes")["kind"] == listed["kind"]
        assert proxy.accepts == 2
        assert next(stream)[0] in ("ADDED", "MODIFIED", "BOOKMARK")
        stream.close()
        assert kube.request("GET", "/version")["gitVersion"].startswith("v1.")
        assert proxy.accepts == 2, "the watch's connection went back to the pool"
