"""``--trust-host-key NAME=SHA256:...``: the headless way to trust a host key explicitly.

The fingerprint is the one preflight showed (or the host's console). Trusting
connects to the host and writes its key to the state directory's known_hosts
only if the host presents exactly that key; a changed key is replaced, since the
operator named the new one.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from pathlib import Path

from digit_tui.errors import InputError
from digit_tui.infra import ssh
from digit_tui.infra.knownhosts import normalize_fingerprint
from digit_tui.infra.ssh import SshError, SshOptions
from digit_tui.preflight import checks
from digit_tui.preflight.model import CheckResult, PreflightPlan

OPTION = "--trust-host-key"
_FINGERPRINT = re.compile(r"SHA256:[A-Za-z0-9+/]{43}")


def parse_trust_options(values: Sequence[str], host_names: Sequence[str]) -> dict[str, str]:
    """NAME -> normalised fingerprint; InputError (exit 2) on a malformed value or an unknown host."""
    names = ", ".join(host_names) or "(the answers list no hosts)"
    expected = f"NAME=SHA256:... with NAME one of {names}"
    out: dict[str, str] = {}
    for value in values:
        name, sep, fingerprint = value.partition("=")
        name, fingerprint = name.strip(), normalize_fingerprint(fingerprint)
        if not sep or not name:
            raise InputError(f"{OPTION} {value!r} is not NAME=SHA256:...", expected=expected)
        if name not in host_names:
            raise InputError(f"{OPTION}: no host named {name!r} in the answers", expected=expected)
        if not _FINGERPRINT.fullmatch(fingerprint):
            raise InputError(f"{OPTION} {name}=...: {fingerprint[:60]!r} is not a SHA256 fingerprint",
                             expected="SHA256: and 43 base64 characters, as `ssh-keygen -lf` prints it")
        if out.get(name, fingerprint) != fingerprint:
            raise InputError(f"{OPTION}: two different keys for {name}", expected="one key per host")
        out[name] = fingerprint
    return out


def trust_hosts(plan: PreflightPlan, trusts: Mapping[str, str], known_hosts: Path,
                options: SshOptions = SshOptions()) -> list[CheckResult]:
    """Trust each named key (blocking); one result per host: trusted, or why not (nothing written)."""
    out = []
    for name, fingerprint in trusts.items():
        host = plan.host(name)
        try:
            key = ssh.trust_host_key(known_hosts, host.address, host.port, fingerprint, options)
        except SshError as e:
            out.append(checks.ssh_error_result(host, e))
        else:
            out.append(checks.trusted_result(host, key.key_type, key.fingerprint))
    return out
