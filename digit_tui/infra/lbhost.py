"""HAProxy on the load-balancer VM, converged from its facts: installed, this configuration, running.

The facts (one round trip): is haproxy installed, the sha256 of
``/etc/haproxy/haproxy.cfg``, is the service active and enabled, a step still
running from an earlier attempt. ``actions`` decides from them; the step that
carries them out checks the new configuration with ``haproxy -c -f`` before it
replaces the old one (a configuration HAProxy refuses never goes live) and
reloads the service (existing connections are not cut). A rerun with the same
configuration finds nothing to do.
"""

from __future__ import annotations

import base64
import hashlib
from dataclasses import dataclass

from digit_tui.errors import PermanentError
from digit_tui.infra import hoststeps, markedoutput
from digit_tui.infra.hoststeps import StepState
from digit_tui.infra.ssh import SshConnection

SLOT = "haproxy"
CONFIG = "/etc/haproxy/haproxy.cfg"
_MARK = "@@dt-lb:"
_APT = ("DEBIAN_FRONTEND=noninteractive apt-get -q -y -o DPkg::Lock::Timeout=300 "
        "-o Dpkg::Options::=--force-confdef -o Dpkg::Options::=--force-confold")
CONFIG_INVALID = 3      # the step's exit code when haproxy -c refuses the configuration


@dataclass(frozen=True)
class LbFacts:
    apt: bool
    haproxy: str | None         # "HAProxy version 2.6.12-1+deb12u4 ..." or None
    config_sha256: str | None
    active: bool
    enabled: bool
    step: StepState


def facts_script() -> str:
    m = _MARK
    return f"""LC_ALL=C; export LC_ALL
echo {m}apt; command -v apt-get >/dev/null 2>&1 && echo yes
echo {m}haproxy; command -v haproxy >/dev/null 2>&1 && haproxy -v 2>/dev/null | head -n 1
echo {m}config; [ -f {CONFIG} ] && sha256sum < {CONFIG} | cut -d' ' -f1
echo {m}service; echo "$(systemctl is-active haproxy 2>/dev/null | head -n 1) $(systemctl is-enabled haproxy 2>/dev/null | head -n 1)"
echo {m}step; {hoststeps.state_script(SLOT)}
echo {m}end
"""


def read_facts(conn: SshConnection, timeout: float = 30.0) -> LbFacts:
    return parse_facts(markedoutput.run_as_root(conn, facts_script(), _MARK, "the load balancer's facts", timeout))


def parse_facts(text: str) -> LbFacts:
    sections = markedoutput.sections(text, _MARK, skip_blank=True)
    service = (sections.get("service") or [""])[0].split()
    step = sections.get("step") or [""]
    def first(name: str) -> str | None:
        values = sections.get(name)
        return values[0] if values else None

    return LbFacts(apt=sections.get("apt") == ["yes"], haproxy=first("haproxy"), config_sha256=first("config"),
                   active=service[:1] == ["active"], enabled=service[1:2] == ["enabled"],
                   step=hoststeps.parse_state(step[-1]))


def sha256(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()


def actions(facts: LbFacts, config: str) -> list[str]:
    """What the host still needs, in words (empty: converged)."""
    out = []
    if facts.haproxy is None:
        if not facts.apt:
            raise PermanentError("the load balancer has neither haproxy nor apt-get",
                                 "install haproxy on it yourself, or use a Debian/Ubuntu VM")
        out.append("install haproxy (apt-get)")
    if facts.config_sha256 != sha256(config):
        out.append(f"check the generated configuration with `haproxy -c` and install it as {CONFIG} "
                   f"(the previous one kept as {CONFIG}.digit-tui.bak)")
    if not facts.active or not facts.enabled or facts.config_sha256 != sha256(config):
        out.append("reload haproxy" if facts.active and facts.enabled else "enable and start haproxy")
    return out


def step_script(facts: LbFacts, config: str) -> str:
    data = base64.b64encode(config.encode()).decode()
    new = f"{CONFIG}.digit-tui.new"
    lines = ["set -e", "export DEBIAN_FRONTEND=noninteractive"]
    if facts.haproxy is None:
        lines += ["echo '>>> install haproxy'", f"{_APT} update", f"{_APT} install haproxy"]
    if facts.config_sha256 != sha256(config):
        lines += ["echo '>>> check and install the configuration'", "mkdir -p /etc/haproxy",
                  f"echo {data} | base64 -d > {new}",
                  f"haproxy -c -f {new} || {{ rm -f {new}; exit {CONFIG_INVALID}; }}",
                  f"[ -f {CONFIG} ] && cp -p {CONFIG} {CONFIG}.digit-tui.bak || true",
                  f"chmod 644 {new}", f"mv -f {new} {CONFIG}"]
    if facts.active and facts.enabled:
        if facts.config_sha256 != sha256(config):
            lines += ["echo '>>> reload haproxy'", "systemctl reload haproxy"]
    else:
        # restart, not start: a package just installed may already run its own configuration
        lines += ["echo '>>> enable and start haproxy'", "systemctl enable haproxy", "systemctl restart haproxy"]
    return "\n".join(lines) + "\n"
