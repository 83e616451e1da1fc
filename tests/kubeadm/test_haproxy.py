"""The SDC load balancer's generated HAProxy configuration: parsed back (every master a server of
the 6443 backend, every worker of the 80/443 ones with PROXY protocol and health checks) and checked
by the real ``haproxy -c`` (Debian's haproxy; scripts/bootstrap.sh --tests installs it)."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest

from digit_tui.infra.haproxy import HEADER, HaproxyConfig, Server, render

MASTERS = (Server("master-1", "10.10.0.11"), Server("master-2", "10.10.0.12"), Server("master-3", "10.10.0.13"))
WORKERS = tuple(Server(f"worker-{i}", f"10.10.0.{20 + i}") for i in range(1, 5))


def sections(text: str) -> dict[str, list[list[str]]]:
    """``"frontend NAME"``/``"backend NAME"``/``"global"``/``"defaults"`` -> their lines, split into words."""
    out: dict[str, list[list[str]]] = {}
    current: list[list[str]] | None = None
    for line in text.splitlines():
        if not line.strip() or line.lstrip().startswith("#"):
            continue
        if not line.startswith(" "):
            current = out.setdefault(line.strip(), [])
        else:
            assert current is not None, f"a setting outside a section: {line!r}"
            current.append(line.split())
    return out


def servers(section: list[list[str]]) -> dict[str, list[str]]:
    return {words[1]: words[2:] for words in section if words[0] == "server"}


def haproxy_check(tmp_path: Path, text: str) -> subprocess.CompletedProcess[str]:
    binary = shutil.which("haproxy") or "/usr/sbin/haproxy"
    if not Path(binary).exists():
        pytest.fail("haproxy is not installed: run scripts/bootstrap.sh --tests (it installs Debian's haproxy)")
    cfg = tmp_path / "haproxy.cfg"
    cfg.write_text(text)
    return subprocess.run([binary, "-c", "-f", str(cfg)], capture_output=True, text=True, timeout=30)


def test_every_master_serves_6443_and_every_worker_the_ingress_node_ports_with_proxy_protocol() -> None:
    text = render(HaproxyConfig(MASTERS, WORKERS))
    assert text.startswith(HEADER)
    s = sections(text)
    assert ["bind", ":6443"] in s["frontend kube-api"] and ["default_backend", "kube-api"] in s["frontend kube-api"]
    api = s["backend kube-api"]
    assert servers(api) == {m.name: [f"{m.address}:6443", "check", "check-ssl", "verify", "none"] for m in MASTERS}
    assert ["option", "httpchk", "GET", "/readyz"] in api and ["http-check", "expect", "status", "200"] in api
    for port, node_port, name in ((80, 32080, "ingress-http"), (443, 32443, "ingress-https")):
        assert [["bind", f":{port}"], ["default_backend", name]] == s[f"frontend {name}"]
        assert servers(s[f"backend {name}"]) == {w.name: [f"{w.address}:{node_port}", "check", "send-proxy"]
                                                 for w in WORKERS}
    defaults = s["defaults"]
    assert ["mode", "tcp"] in defaults and ["timeout", "client", "1h"] in defaults
    assert ["default-server", "init-addr", "last,libc,none", "inter", "5s", "fall", "3", "rise", "2"] in defaults
    assert not [w for w in s["frontend kube-api"] if w[0] == "tcp-request"]     # no allow-list asked: any source


def test_options_node_ports_allow_list_and_no_proxy_protocol() -> None:
    text = render(HaproxyConfig(MASTERS[:1], WORKERS[:2], http_node_port=30080, https_node_port=30443,
                                api_allow=("10.10.0.0/24", "192.168.5.7/32"), send_proxy=False))
    s = sections(text)
    assert s["frontend kube-api"][:3] == [["bind", ":6443"], ["acl", "allowed", "src", "10.10.0.0/24", "192.168.5.7/32"],
                                          ["tcp-request", "connection", "reject", "if", "!allowed"]]
    assert servers(s["backend ingress-http"]) == {"worker-1": ["10.10.0.21:30080", "check"],
                                                  "worker-2": ["10.10.0.22:30080", "check"]}
    assert "send-proxy" not in text
    six = render(HaproxyConfig((Server("m", "fd00::11"),), (Server("w", "fd00::21"),)))
    assert servers(sections(six)["backend kube-api"])["m"][0] == "[fd00::11]:6443"


def test_bad_input_is_refused_before_anything_is_written() -> None:
    with pytest.raises(ValueError, match="at least one master"):
        HaproxyConfig((), WORKERS)
    with pytest.raises(ValueError, match="at least one worker"):
        HaproxyConfig(MASTERS, ())
    with pytest.raises(ValueError):
        HaproxyConfig(MASTERS, WORKERS, api_allow=("10.0.0.0/33",))
    with pytest.raises(ValueError, match="out of range"):
        HaproxyConfig(MASTERS, WORKERS, http_node_port=70000)


def test_real_haproxy_accepts_what_is_generated(tmp_path: Path) -> None:
    configs = [HaproxyConfig(MASTERS, WORKERS),
               HaproxyConfig((Server("master-1", "api-1.sdc.invalid"), Server("master-2", "fd00::12")),
                             (Server("worker-1", "10.10.0.21"),), api_allow=("10.10.0.0/24", "fd00::/8"),
                             send_proxy=False)]
    for cfg in configs:
        r = haproxy_check(tmp_path, render(cfg))
        assert r.returncode == 0, r.stdout + r.stderr
        assert "Configuration file is valid" in r.stdout + r.stderr
    broken = render(configs[0]).replace("mode tcp", "mode tcpp")
    assert haproxy_check(tmp_path, broken).returncode != 0          # the check can fail
