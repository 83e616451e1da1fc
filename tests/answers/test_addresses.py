"""Addresses and host:port values: the message says what was wrong, at the right line.

An IPv4 ``address:port`` used to come back as "not a valid IPv6 address"
because of its colon; each mistake now gets its own words.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from digit_tui.answers.loader import AnswersError, parse_answers

HEAD = """\
environment: dev
target:
  provider: sandbox
digit:
  domain: digit.local
"""


def host_entry(address: str) -> str:
    return f"""\
hosts:
  - name: vm-1
    address: '{address}'
    user: ubuntu
    ssh_key: files/id_test
    roles: [master]
"""


# (yaml after HEAD, line of the error, text the message holds, text the expected part holds)
CASES = {
    "ipv4 with port as address": (host_entry("10.0.0.5:22"), 8,
                                  "hosts[0].address: 10.0.0.5:22 is host:port; this key takes an address only",
                                  "the address alone, such as 10.0.0.5, and port: 22"),
    "name with port as address": (host_entry("vm-1.example.gov.in:2222"), 8,
                                  "vm-1.example.gov.in:2222 is host:port", "port: 2222"),
    "bracketed v6 with port as address": (host_entry("[fd00::5]:22"), 8, "[fd00::5]:22 is host:port",
                                          "such as fd00::5"),
    "url as address": (host_entry("ssh://10.0.0.5"), 8, "ssh://10.0.0.5 is a URL; this key takes an address only",
                       "without scheme or path"),
    "name with a colon": (host_entry("vm-1:ssh"), 8, "vm-1:ssh is not an address: only IPv6 addresses contain ':'",
                          "DNS host name"),
    "two ports": (host_entry("10.0.0.5:22:23"), 8, "10.0.0.5:22:23 is not an address", "IP address"),
    "bad ipv6 stays an ipv6 error": (host_entry("fd00::zz"), 8, "fd00::zz is not a valid IPv6 address",
                                     "such as fd00::10"),
    "database host with port": ("database:\n  mode: external\n  host: db.example.gov.in:5432\n", 8,
                                "database.host: db.example.gov.in:5432 is host:port", "port: 5432"),
    "probe without port": ("network:\n  probes: [10.0.0.5]\n", 7,
                                  "network.probes[0]: 10.0.0.5 has no port", "10.0.0.5:PORT"),
    "probe v6 without port": ("network:\n  probes: ['fd00::5']\n", 7, "fd00::5 has no port",
                                     "[fd00::5]:PORT"),
    "probe port out of range": ("network:\n  probes: [10.0.0.5:70000]\n", 7,
                                       "10.0.0.5:70000: port 70000 is out of range", "a port 1-65535"),
    "probe as url": ("network:\n  probes: ['https://10.0.0.5:6443']\n", 7,
                            "https://10.0.0.5:6443 is a URL; write host:port without the scheme", "host:port"),
    "probe empty port": ("network:\n  probes: ['api.example.gov.in:']\n", 7, "has an empty port",
                                "host:port"),
    "probe with a word for a port": ("network:\n  probes: ['proxy.example.gov.in:http']\n", 7,
                                     "network.probes[0]: proxy.example.gov.in:http is not host:port: the part after "
                                     "the last ':' is not a port number", "host:port"),
    "probe v6 without brackets": ("network:\n  probes: ['fd00::5:3128']\n", 7, "fd00::5:3128 has no port",
                                  "[fd00::5:3128]:PORT"),
}


@pytest.mark.parametrize("name", sorted(CASES))
def test_address_mistakes_are_named_at_their_line(name: str, tmp_path: Path) -> None:
    body, line, message, expected = CASES[name]
    path = tmp_path / "answers.yaml"
    with pytest.raises(AnswersError) as info:
        parse_answers(HEAD + body, path, check_files=False)
    text = str(info.value)
    assert text.startswith(f"{path}:{line}: "), text
    assert message in info.value.message, text
    assert expected in (info.value.expected or ""), text
    if "v6" not in name and "ipv6" not in name:
        assert "IPv6 address" not in info.value.message.replace("only IPv6 addresses", ""), text


@pytest.mark.parametrize(("body", "read", "value"), [
    (host_entry("[fd00::5]"), lambda a: a.hosts[0].address, "fd00::5"),
    (host_entry("FD00:0::5"), lambda a: a.hosts[0].address, "fd00::5"),
    (host_entry("Vm-1.Example.gov.in"), lambda a: a.hosts[0].address, "vm-1.example.gov.in"),
    ("network:\n  probes: ['[FD00::5]:6443']\n", lambda a: a.network.probes[0], "[fd00::5]:6443"),
    ("network:\n  probes: ['[10.0.0.5]:6443']\n", lambda a: a.network.probes[0], "10.0.0.5:6443"),
    ("network:\n  vpn_gateway: 'fd00::9'\n", lambda a: a.network.vpn_gateway, "fd00::9"),
    ("network:\n  vpn_gateway: vpn.example.gov.in:443\n", lambda a: a.network.vpn_gateway, "vpn.example.gov.in:443"),
])
def test_good_addresses_are_normalised(body: str, read, value: str, tmp_path: Path) -> None:
    answers = parse_answers(HEAD + body, tmp_path / "answers.yaml", check_files=False)
    assert read(answers) == value
