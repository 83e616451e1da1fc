"""Facts of a Linux host, read over SSH in one round trip, and how they compare with a plan.

``gather`` runs one POSIX ``sh`` script (no bash, no python, no iproute2 needed on
the host) and parses its sections into a ``HostFacts``. ``check_host`` and
``check_fleet`` are pure: facts against requirements ("worker-3 has 8 GiB of
memory, the plan needs 16 GiB"), and what must differ between hosts (hostname,
MAC addresses, product_uuid: kubeadm refuses duplicates) or agree (clocks).
"""

from __future__ import annotations

import time
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field

from digit_tui.infra import markedoutput
from digit_tui.infra.ssh import SshConnection

# Interfaces container networking creates, with the same MAC on every node (Calico's cali* are all
# ee:ee:ee:ee:ee:ee): a rerun on a cluster that is already up must not call them duplicates.
_VIRTUAL_PREFIXES = ("lo", "cali", "cni", "flannel", "docker", "veth", "vxlan", "tunl", "kube-", "cilium",
                     "lxc", "nodelocaldns", "virbr", "br-", "genev", "weave", "vethwe", "datapath")
_MARK = "@@dt-facts:"


class HostFactsError(Exception):
    """The facts script did not run to its end (sudo refused, no /bin/sh): not a network problem."""


@dataclass(frozen=True)
class Interface:
    name: str
    mac: str


@dataclass(frozen=True)
class HostFacts:
    hostname: str
    os_id: str                      # "debian", "ubuntu" (ID= of /etc/os-release)
    os_version: str                 # "12", "22.04" (VERSION_ID=)
    os_name: str                    # PRETTY_NAME=
    kernel: str
    cpus: int
    memory_bytes: int               # MemTotal: a little below the RAM the VM was given
    swap_on: bool
    swap_bytes: int
    disk_free: Mapping[str, int]    # path -> bytes available to non-root users, for each path asked
    interfaces: tuple[Interface, ...]   # physical-looking ones: container networking left out
    product_uuid: str | None        # None when unreadable (not root, no DMI, a container)
    clock_offset: float             # seconds the host's clock is ahead of ours (negative: behind)
    clock_uncertainty: float        # half the round trip: the offset is known to within this
    ports_in_use: tuple[int, ...]   # of the ports asked, those something listens on (TCP)
    ports_checked: tuple[int, ...] = ()

    @property
    def macs(self) -> tuple[str, ...]:
        return tuple(i.mac for i in self.interfaces)


def facts_script(disk_paths: Sequence[str]) -> str:
    paths = " ".join(_sh_quote(p) for p in disk_paths)
    m = _MARK
    # The clock first: the round trip around it is what bounds the offset.
    return f"""LC_ALL=C; export LC_ALL
echo {m}clock; date +%s.%N
echo {m}hostname; hostname 2>/dev/null || cat /proc/sys/kernel/hostname
echo {m}os-release; cat /etc/os-release 2>/dev/null || cat /usr/lib/os-release 2>/dev/null
echo {m}kernel; uname -r
echo {m}cpus; nproc 2>/dev/null || getconf _NPROCESSORS_ONLN
echo {m}meminfo; cat /proc/meminfo
echo {m}swaps; cat /proc/swaps
echo {m}df; for p in {paths}; do echo "$p $(df -Pk "$p" 2>/dev/null | tail -n 1)"; done
echo {m}net; for d in /sys/class/net/*; do echo "${{d##*/}} $(cat $d/address 2>/dev/null)"; done
echo {m}uuid; cat /sys/class/dmi/id/product_uuid 2>/dev/null
echo {m}tcp; cat /proc/net/tcp /proc/net/tcp6 2>/dev/null
echo {m}end
"""


def gather(conn: SshConnection, ports: Iterable[int] = (), disk_paths: Sequence[str] = ("/", "/var"),
           sudo: bool = False, timeout: float = 30.0) -> HostFacts:
    """One round trip. ``sudo`` reads as root (product_uuid is root-only on most distributions)."""
    before = time.time()
    result = conn.run(facts_script(disk_paths), timeout, sudo=sudo)
    after = time.time()
    if not result.ok and _MARK + "end" not in result.stdout:
        raise HostFactsError(f"{conn.target.label}: reading the host's facts failed (exit {result.exit_code}): "
                         f"{result.stderr.strip()[:300]}")
    return parse_facts(result.stdout, tuple(ports), before, after)


def parse_facts(text: str, ports: tuple[int, ...] = (), sent: float = 0.0, received: float = 0.0) -> HostFacts:
    sections = markedoutput.sections(text, _MARK)
    osr = _os_release(sections.get("os-release", []))
    mem = _meminfo(sections.get("meminfo", []))
    swaps = [ln for ln in sections.get("swaps", [])[1:] if ln.strip()]
    remote = _float(" ".join(sections.get("clock", [])))
    mid = (sent + received) / 2
    in_use = _listening(sections.get("tcp", []))
    uuid = " ".join(sections.get("uuid", [])).strip() or None
    return HostFacts(
        hostname=" ".join(sections.get("hostname", [])).strip(),
        os_id=osr.get("ID", ""), os_version=osr.get("VERSION_ID", ""),
        os_name=osr.get("PRETTY_NAME", osr.get("NAME", "")),
        kernel=" ".join(sections.get("kernel", [])).strip(),
        cpus=int(_float(" ".join(sections.get("cpus", []))) or 0),
        memory_bytes=mem.get("MemTotal", 0),
        swap_on=bool(swaps), swap_bytes=mem.get("SwapTotal", 0),
        disk_free=_df(sections.get("df", [])),
        interfaces=_interfaces(sections.get("net", [])),
        product_uuid=uuid.lower() if uuid else None,
        clock_offset=(remote - mid) if remote and sent else 0.0,
        clock_uncertainty=(received - sent) / 2 if sent else 0.0,
        ports_in_use=tuple(sorted(p for p in set(ports) if p in in_use)),
        ports_checked=tuple(sorted(set(ports))),
    )


def _os_release(lines: list[str]) -> dict[str, str]:
    out = {}
    for line in lines:
        key, sep, value = line.partition("=")
        if sep and key.strip() and not key.startswith("#"):
            out[key.strip()] = value.strip().strip('"').strip("'")
    return out


def _meminfo(lines: list[str]) -> dict[str, int]:
    out = {}
    for line in lines:
        key, _, rest = line.partition(":")
        parts = rest.split()
        if parts and parts[0].isdigit():
            out[key.strip()] = int(parts[0]) * (1024 if parts[1:2] == ["kB"] else 1)
    return out


def _df(lines: list[str]) -> dict[str, int]:
    """``PATH FS 1024-blocks Used Available Capacity MOUNT`` (POSIX df -Pk), per path asked."""
    out = {}
    for line in lines:
        fields = line.split()
        if len(fields) >= 5 and fields[4].isdigit():
            out[fields[0]] = int(fields[4]) * 1024
    return out


def _interfaces(lines: list[str]) -> tuple[Interface, ...]:
    out = []
    for line in lines:
        name, _, mac = line.strip().partition(" ")
        mac = mac.strip().lower()
        if not mac or mac == "00:00:00:00:00:00" or name.startswith(_VIRTUAL_PREFIXES):
            continue
        out.append(Interface(name, mac))
    return tuple(sorted(out, key=lambda i: i.name))


def _listening(lines: list[str]) -> set[int]:
    """Local ports of sockets in state 0A (LISTEN) in /proc/net/tcp and tcp6."""
    ports = set()
    for line in lines:
        fields = line.split()
        if len(fields) > 3 and fields[3] == "0A" and ":" in fields[1]:
            try:
                ports.add(int(fields[1].rsplit(":", 1)[1], 16))
            except ValueError:
                pass
    return ports


def _float(text: str) -> float:
    try:
        return float(text.strip())
    except ValueError:      # busybox date prints "%N" literally
        head = text.strip().split(".")[0]
        return float(head) if head.isdigit() else 0.0


def _sh_quote(text: str) -> str:
    return "'" + text.replace("'", "'\\''") + "'"


# ---- comparisons --------------------------------------------------------------------------


@dataclass(frozen=True)
class Requirements:
    cpus: int = 0
    memory_bytes: int = 0
    disk_free: Mapping[str, int] = field(default_factory=dict)   # path -> bytes needed free
    free_ports: tuple[int, ...] = ()
    swap_off: bool = False
    os: Mapping[str, tuple[str, ...]] = field(default_factory=dict)   # os_id -> accepted VERSION_IDs ( () = any)
    # MemTotal leaves out what the kernel reserved: a VM given 16 GiB reports about 15.6.
    memory_slack: float = 0.05


@dataclass(frozen=True)
class Finding:
    host: str           # the name the caller uses ("worker-3"), or several for a fleet finding
    check: str          # "cpu", "memory", "disk", "ports", "swap", "os", "hostname", "mac", "product_uuid", "clock"
    message: str


def gib(nbytes: int) -> str:
    """Sizes as an operator says them: a VM given 16 GiB shows MemTotal of 15.6, and "16 GiB"."""
    value = nbytes / 2**30
    if nbytes == 0:
        return "0 GiB"
    nearest = round(value)
    if nearest and abs(value - nearest) <= 0.04 * nearest:
        return f"{nearest} GiB"
    return f"{value:.1f} GiB"


def check_host(name: str, facts: HostFacts, req: Requirements) -> list[Finding]:
    out = []
    if req.cpus and facts.cpus < req.cpus:
        out.append(Finding(name, "cpu", f"{name} has {facts.cpus} CPU{'s' if facts.cpus != 1 else ''}, "
                           f"the plan needs {req.cpus}"))
    if req.memory_bytes and facts.memory_bytes < req.memory_bytes * (1 - req.memory_slack):
        out.append(Finding(name, "memory", f"{name} has {gib(facts.memory_bytes)} of memory, "
                           f"the plan needs {gib(req.memory_bytes)}"))
    for path, need in req.disk_free.items():
        have = facts.disk_free.get(path)
        if have is None:
            out.append(Finding(name, "disk", f"{name}: free space on {path} unknown (no such path?)"))
        elif have < need:
            out.append(Finding(name, "disk", f"{name} has {gib(have)} free on {path}, the plan needs {gib(need)}"))
    busy = [p for p in req.free_ports if p in facts.ports_in_use]
    if busy:
        out.append(Finding(name, "ports", f"{name}: port{'s' if len(busy) > 1 else ''} "
                           f"{', '.join(map(str, busy))} already in use"))
    if req.swap_off and facts.swap_on:
        out.append(Finding(name, "swap", f"{name} has swap on ({gib(facts.swap_bytes)}); the kubelet needs it off"))
    if req.os:
        versions = req.os.get(facts.os_id)
        wanted = ", ".join(f"{i} {'/'.join(v)}".strip() for i, v in req.os.items())
        if versions is None or (versions and facts.os_version not in versions):
            out.append(Finding(name, "os", f"{name} runs {facts.os_name or facts.os_id or 'an unknown OS'}, "
                               f"supported: {wanted}"))
    return out


def check_fleet(facts: Mapping[str, HostFacts], max_clock_skew: float = 2.0) -> list[Finding]:
    """What kubeadm needs unique across nodes, and clocks that agree (certificates, etcd)."""
    out = []
    out += _duplicates("hostname", {n: [f.hostname.lower()] for n, f in facts.items() if f.hostname},
                       "hostname {value!r} is used by {hosts}: every node needs its own")
    out += _duplicates("mac", {n: list(f.macs) for n, f in facts.items()},
                       "MAC address {value} is on {hosts}: every node needs its own")
    out += _duplicates("product_uuid", {n: [f.product_uuid] for n, f in facts.items() if f.product_uuid},
                       "product_uuid {value} is the same on {hosts} (cloned VMs?): every node needs its own")
    if len(facts) > 1:
        ahead = max(facts, key=lambda n: facts[n].clock_offset)
        behind = min(facts, key=lambda n: facts[n].clock_offset)
        skew = facts[ahead].clock_offset - facts[behind].clock_offset
        # only what is beyond doubt: a slow round trip widens the uncertainty, not the skew
        sure = skew - facts[ahead].clock_uncertainty - facts[behind].clock_uncertainty
        if sure > max_clock_skew:
            out.append(Finding(f"{ahead}, {behind}", "clock",
                               f"clocks differ by {skew:.1f} s: {ahead} is ahead of {behind}; keep them within "
                               f"{max_clock_skew:g} s (NTP / chrony)"))
    return out


def _duplicates(check: str, values: Mapping[str, list[str]], template: str) -> list[Finding]:
    owners: dict[str, list[str]] = {}
    for host, vals in values.items():
        for v in dict.fromkeys(vals):
            owners.setdefault(v, []).append(host)
    return [Finding(", ".join(hosts), check, template.format(value=v, hosts=", ".join(hosts)))
            for v, hosts in owners.items() if len(hosts) > 1]
