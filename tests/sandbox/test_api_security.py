"""Access to the sandbox API: TLS with its own CA, bearer token, loopback only, private key files (done-when 5)."""

from __future__ import annotations

import json
import os
import socket
import ssl
import stat
import urllib.error
import urllib.request

import pytest
import yaml

from digit_tui.sandbox.runtime import SandboxHandle


def _get(handle: SandboxHandle, path: str, token: str | None) -> tuple[int, dict]:
    headers = {"Authorization": f"Bearer {token}"} if token is not None else {}
    req = urllib.request.Request(handle.url + path, headers=headers)
    ctx = ssl.create_default_context(cafile=str(handle.ca_path))
    try:
        with urllib.request.urlopen(req, timeout=5, context=ctx) as resp:
            return resp.status, json.loads(resp.read())
    except urllib.error.HTTPError as exc:
        return exc.code, json.loads(exc.read())


@pytest.mark.parametrize("token", [None, "", "not-the-token"])
def test_requests_without_the_token_get_401_status(sandbox: SandboxHandle, token: str | None) -> None:
    for path in ("/api", "/api/v1/namespaces/default/secrets", "/apis/apps/v1/deployments"):
        code, body = _get(sandbox, path, token)
        assert code == 401
        assert body["kind"] == "Status" and body["reason"] == "Unauthorized" and body["code"] == 401


def test_the_token_is_accepted(sandbox: SandboxHandle) -> None:
    code, body = _get(sandbox, "/api/v1/namespaces", sandbox.token)
    assert code == 200 and body["kind"] == "NamespaceList"


def test_tls_verifies_with_the_sandbox_ca_only(sandbox: SandboxHandle) -> None:
    default_ctx = ssl.create_default_context()  # the system trust store does not know the sandbox CA
    with pytest.raises(urllib.error.URLError) as exc:
        urllib.request.urlopen(sandbox.url + "/version", timeout=5, context=default_ctx)
    assert isinstance(exc.value.reason, ssl.SSLCertVerificationError)
    # "localhost" is in the certificate as well as 127.0.0.1.
    ctx = ssl.create_default_context(cafile=str(sandbox.ca_path))
    url = sandbox.url.replace("127.0.0.1", "localhost") + "/version"
    with urllib.request.urlopen(url, timeout=5, context=ctx) as resp:
        assert json.loads(resp.read())["gitVersion"].startswith("v1.")


def test_listens_on_loopback_127_0_0_1_only(sandbox: SandboxHandle) -> None:
    port = int(sandbox.url.rsplit(":", 1)[1])
    listening = []
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        with open(table) as fh:
            for line in fh.readlines()[1:]:
                local, state = line.split()[1], line.split()[3]
                addr, hexport = local.split(":")
                if state == "0A" and int(hexport, 16) == port:
                    listening.append(addr)
    assert listening == ["0100007F"]  # 127.0.0.1, IPv4 only
    with pytest.raises(OSError):
        socket.create_connection(("127.0.0.2", port), timeout=2).close()


def test_key_files_and_kubeconfig_are_private(sandbox: SandboxHandle) -> None:
    d = sandbox.state_dir
    for name in ("ca.key", "server.key", "token", "kubeconfig"):
        mode = stat.S_IMODE(os.stat(d / name).st_mode)
        assert mode == 0o600, f"{name} has mode {oct(mode)}"
    kc = yaml.safe_load(sandbox.kubeconfig_path.read_text())
    assert kc["clusters"][0]["cluster"]["server"] == sandbox.url
    assert sandbox.url.startswith("https://127.0.0.1:")
    assert kc["users"][0]["user"]["token"] == sandbox.token
    assert "insecure-skip-tls-verify" not in kc["clusters"][0]["cluster"]


def test_discovery_lists_kinds_verbs_and_short_names(sandbox: SandboxHandle) -> None:
    code, core = _get(sandbox, "/api/v1", sandbox.token)
    assert code == 200
    by_name = {r["name"]: r for r in core["resources"]}
    assert by_name["pods"]["kind"] == "Pod" and by_name["pods"]["namespaced"] is True
    assert "po" in by_name["pods"]["shortNames"] and "watch" in by_name["pods"]["verbs"]
    assert {"pods/log", "pods/status", "namespaces/finalize"} <= set(by_name)
    assert by_name["nodes"]["namespaced"] is False
    _, apps = _get(sandbox, "/apis/apps/v1", sandbox.token)
    scale = {r["name"]: r for r in apps["resources"]}["deployments/scale"]
    assert scale["kind"] == "Scale" and scale["group"] == "autoscaling"
    _, groups = _get(sandbox, "/apis", sandbox.token)
    names = {g["name"] for g in groups["groups"]}
    assert {"apps", "batch", "networking.k8s.io", "storage.k8s.io", "rbac.authorization.k8s.io", "policy",
            "autoscaling", "apiextensions.k8s.io"} <= names
