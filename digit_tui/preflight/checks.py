"""Pure checks: facts in, pass / warn / fail lines out, each failure with its remedy.

Nothing here reads the network or a file; ``gather`` does, and hands the facts over.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace

from digit_tui.engine.netprobe import ProbeResult
from digit_tui.engine.task import Endpoint
from digit_tui.infra import hostfacts
from digit_tui.infra.hostfacts import HostFacts, Requirements, gib
from digit_tui.infra.ssh import HostKeyChanged, SshError, SshErrorKind, SudoCheck, SudoStatus, UnknownHostKey
from digit_tui.preflight import thresholds as th
from digit_tui.preflight.model import CheckResult, HostSpec, PreflightPlan, Status

GiB = 2**30
CLOUDS = ("aws", "azure", "gcp")


def trust_option(name: str, fingerprint: str) -> str:
    return f"--trust-host-key {name}={fingerprint}"


# ---- the configuration alone ------------------------------------------------------------------


def config_checks(plan: PreflightPlan) -> list[CheckResult]:
    """What ``validate`` leaves to preflight: rules about the plan as a whole, not one key."""
    out: list[CheckResult] = []

    def add(check: str, status: Status, message: str, remedy: str | None = None, subject: str = "") -> None:
        out.append(CheckResult("config", check, status, message, subject, remedy))

    by_address: dict[str, list[HostSpec]] = {}
    for h in plan.hosts:
        by_address.setdefault(h.address, []).append(h)
    for address, hosts in by_address.items():
        if len(hosts) > 1 and not _loopback(address):   # forwarded ports on 127.0.0.1 are separate VMs
            add("addresses", Status.WARN, f"{', '.join(h.name for h in hosts)} share the address {address} "
                f"(ports {', '.join(str(h.port) for h in hosts)}): one machine listed twice?",
                "give each VM its own address, unless these ports really reach different machines", address)
    for h in plan.hosts:
        if h.ssh_key.exists() and h.ssh_key.stat().st_mode & 0o077:
            add("ssh-key", Status.WARN, f"{h.name}: the SSH key {h.ssh_key} is readable by others "
                f"(mode {h.ssh_key.stat().st_mode & 0o777:04o})", f"chmod 600 {h.ssh_key}", h.name)

    masters = [h for h in plan.hosts if "master" in h.roles]
    workers = [h for h in plan.hosts if "worker" in h.roles]
    if plan.kubeadm:
        if not workers:
            add("roles", Status.FAIL, "no host has role worker: DIGIT's pods would have nowhere to run",
                "give at least one host role worker (a master may have both: roles: [master, worker])")
        if len(masters) > 1 and len(masters) % 2 == 0:
            add("roles", Status.WARN, f"{len(masters)} masters: etcd needs a majority, so {len(masters)} tolerate "
                f"no more failures than {len(masters) - 1}", "use an odd number of masters (1 or 3)")
        if len(masters) > 1 and plan.api_endpoint is None and not any("lb" in h.roles for h in plan.hosts):
            add("roles", Status.FAIL, f"{len(masters)} masters and no control-plane endpoint",
                "set cluster.api_endpoint (the load balancer in front of the masters) or give a host role lb")
        if plan.tier == "prod" and len(masters) == 1:
            add("roles", Status.WARN, "one master: the control plane has no redundancy (tier prod)",
                "use 3 masters behind a load balancer")
        sized = plan.sizing
        if workers and sized is not None and len(workers) < sized.workers:
            add("sizing", _plan_status(plan), f"{len(workers)} worker host{'s' if len(workers) != 1 else ''}; the "
                f"sizing plan ({sized.preset}, {sized.ulbs} ULBs) has {sized.workers} × {sized.worker_flavor} workers",
                f"add {sized.workers - len(workers)} worker host(s), or plan for fewer sizing.ulbs or another "
                "sizing.preset")
        services = ipaddress.ip_network(plan.service_cidr)
        for h in plan.hosts:
            ip = _ip(h.address)
            if ip is not None and ip.version == services.version and ip in services:
                add("addresses", Status.FAIL, f"{h.name} ({ip}) lies inside service_cidr {services}",
                    "a service_cidr that contains no host address", h.name)
    elif masters or workers:
        nodes = [h.name for h in plan.hosts if h.is_node]
        add("roles", Status.INFO, f"{', '.join(nodes)}: role master/worker, checked but not changed "
            "(cluster.mode existing)")
    if plan.hosts and plan.provider in ("sandbox", *CLOUDS):
        add("roles", Status.INFO, f"provider {plan.provider} does not use the hosts list: they are checked only")
    dbs = [h for h in plan.hosts if "db" in h.roles]
    primary = [h.name for h in dbs if h.name != plan.database_standby]
    if plan.database_mode == "vm" and len(dbs) > 1 and plan.database_host is None:
        add("roles", Status.INFO, f"{len(dbs)} hosts have role db: {primary[0]} is the database"
            + (f", {plan.database_standby} its streaming standby" if plan.database_standby else ""))
    if plan.tier == "prod" and plan.database_mode == "vm" and plan.database_standby is None:
        spare = primary[1:]
        add("roles", Status.WARN, "the database VM has no standby: losing it loses the data since the last backup "
            "(tier prod)", f"database.standby: {spare[0]}" if spare else
            "a second host with role db, named in database.standby (a streaming standby)")
    if plan.tier == "prod":
        for h in plan.hosts:
            if "db" in h.roles and h.is_node:
                add("roles", Status.WARN, f"{h.name} is both the database and a Kubernetes node (tier prod)",
                    "give the database a VM of its own", h.name)
    clean = not any(r.status in (Status.WARN, Status.FAIL) for r in out)
    out.insert(0, CheckResult("config", "plan", Status.PASS if clean else Status.INFO, _roles_summary(plan)))
    return out


def _roles_summary(plan: PreflightPlan) -> str:
    if not plan.hosts:
        return f"no hosts: provider {plan.provider}, cluster {plan.cluster_mode}, tier {plan.tier}"
    counts: dict[str, int] = {}
    for h in plan.hosts:
        for r in h.roles:
            counts[r] = counts.get(r, 0) + 1
    roles = ", ".join(f"{r} ×{n}" for r, n in counts.items())
    return (f"{len(plan.hosts)} host{'s' if len(plan.hosts) != 1 else ''} ({roles}), provider {plan.provider}, "
            f"cluster {plan.cluster_mode}, tier {plan.tier}")


def _ip(text: str) -> ipaddress.IPv4Address | ipaddress.IPv6Address | None:
    try:
        return ipaddress.ip_address(text.strip("[]"))
    except ValueError:
        return None


def _loopback(text: str) -> bool:
    ip = _ip(text)
    return ip is not None and ip.is_loopback


# ---- network: every endpoint, then the VPN verdict --------------------------------------------

_SHARED = ipaddress.ip_network("100.64.0.0/10")     # carrier-grade NAT: VPNs hand these out too


def private_range(host: str) -> str | None:
    """How an operator names the private range of an address ("10.x"); None when public or a name."""
    ip = _ip(host)
    if ip is None or ip.is_loopback or ip.is_link_local:
        return None
    if ip.version == 4:
        for net, name in (("10.0.0.0/8", "10.x"), ("172.16.0.0/12", "172.16-31.x"), ("192.168.0.0/16", "192.168.x")):
            if ip in ipaddress.ip_network(net):
                return name
        return "100.64.x" if ip in _SHARED else None
    return "fc00::/7" if ip in ipaddress.ip_network("fc00::/7") else None


def _endpoint_remedy(e: Endpoint) -> str:
    label = e.label
    if label.startswith("ssh "):
        return f"check that {label[4:]} is running and its sshd listens on port {e.port}, and the VPN"
    if label.startswith("cluster API"):
        return "check the API server (or the load balancer in front of it) and the VPN"
    if label == "postgres":
        return f"check that the database server listens on {e.address} and its firewall, and the VPN"
    if label == "VPN gateway":
        return "check the VPN client and network.vpn_gateway in the answers"
    return "check the address in the answers, the firewall and the VPN"


def network_checks(plan: PreflightPlan, probes: Sequence[ProbeResult]) -> list[CheckResult]:
    out: list[CheckResult] = []
    gateway = next((p for p in probes if p.endpoint.label == "VPN gateway"), None)
    for p in probes:
        e = p.endpoint
        check = "ssh-port" if e.label.startswith("ssh ") else "reachable"
        if p.ok:
            out.append(CheckResult("network", check, Status.PASS, f"{e.describe()} answers", e.label,
                                   latency_ms=p.millis))
        elif p is not gateway:      # the gateway's silence is the verdict's to judge
            out.append(CheckResult("network", check, Status.FAIL, f"{e.describe()} does not answer: {p.detail}",
                                   e.label, _endpoint_remedy(e), transient=True))
    if plan.vpn_gateway and gateway is None:
        out.append(CheckResult("network", "vpn", Status.INFO, f"VPN gateway {plan.vpn_gateway} has no port: not probed",
                               "VPN gateway", "write it as host:port to have it probed"))
    verdict = _vpn_verdict(probes)
    out += verdict
    if gateway is not None and not gateway.ok and not verdict:
        e = gateway.endpoint
        out.append(CheckResult("network", "vpn", Status.WARN, f"the VPN gateway {e.address} does not answer "
                               f"({gateway.detail})", "VPN gateway", _endpoint_remedy(e)))
    return out


def _vpn_verdict(probes: Sequence[ProbeResult]) -> list[CheckResult]:
    private = [(p, private_range(p.endpoint.host)) for p in probes]
    private = [(p, r) for p, r in private if r is not None]
    if not private:
        return []
    ranges = " and ".join(sorted({r for _, r in private if r}))
    up = [p for p, _ in private if p.ok]
    gateway = next((p for p in probes if p.endpoint.label == "VPN gateway"), None)
    if not up:
        down = "; ".join(f"{p.endpoint.describe()}: {p.detail}" for p, _ in private)
        return [CheckResult("network", "vpn", Status.FAIL,
                            f"VPN appears down: none of the {ranges} endpoints answer ({down})", "VPN",
                            f"connect the VPN to the vLAN (is there a route to {ranges}?), then check again",
                            transient=True)]
    if gateway is not None and not gateway.ok:
        return [CheckResult("network", "vpn", Status.WARN,
                            f"the VPN gateway {gateway.endpoint.address} does not answer ({gateway.detail}), "
                            f"but {len(up)} of {len(private)} {ranges} endpoints do: the VPN itself is up",
                            "VPN", "check network.vpn_gateway (address and port) in the answers")]
    if len(up) < len(private):
        return [CheckResult("network", "vpn", Status.INFO,
                            f"VPN up: {len(up)} of {len(private)} {ranges} endpoints answer", "VPN")]
    return [CheckResult("network", "vpn", Status.PASS, f"VPN / vLAN up: all {len(private)} {ranges} endpoints answer",
                        "VPN")]


# ---- SSH ----------------------------------------------------------------------------------------


def ssh_error_result(host: HostSpec, err: SshError, check: str = "login") -> CheckResult:
    """A failure to reach or log in to the host, with what the operator does about it."""
    remedy = err.remedy
    if isinstance(err, UnknownHostKey):
        check = "host-key"
        remedy = (f"compare {err.fingerprint} with the host's own (`ssh-keygen -lf /etc/ssh/ssh_host_*_key.pub` "
                  f"on its console), then trust it: {trust_option(host.name, err.fingerprint)}")
    elif isinstance(err, HostKeyChanged):
        check = "host-key"
        remedy = f"{err.remedy}: {trust_option(host.name, err.presented.fingerprint)}"
    elif err.kind is SshErrorKind.FINGERPRINT_MISMATCH:
        check = "host-key"
    elif err.transient:
        remedy = f"check that {host.name} is running and reachable on port {host.port} (VPN, firewall)"
    return CheckResult("host", check, Status.FAIL, str(err), host.name, remedy, transient=err.transient)


def with_command(r: CheckResult, command: str) -> CheckResult:
    """A host-key remedy naming the command that takes --trust-host-key ("digit-tui install ...")."""
    option = "--trust-host-key"
    if r.check != "host-key" or not r.remedy or option not in r.remedy:
        return r
    head, _, tail = r.remedy.partition(option)
    return replace(r, remedy=f"{head}`{command} {option}{tail}`")


def unreachable_result(host: HostSpec, detail: str) -> CheckResult:
    return CheckResult("host", "login", Status.FAIL, f"{host.name} ({host.where}): unreachable ({detail}): its SSH "
                       "login, sudo and facts were not checked", host.name,
                       f"check that {host.name} is running and reachable on port {host.port} (VPN, firewall)",
                       transient=True)


def login_result(host: HostSpec, key_type: str, fingerprint: str, via: str, millis: float) -> CheckResult:
    return CheckResult("host", "login", Status.PASS, f"{host.name} ({host.where}): SSH login as {host.user} with "
                       f"{via}; host key {key_type} {fingerprint}", host.name, latency_ms=millis)


def trusted_result(host: HostSpec, key_type: str, fingerprint: str) -> CheckResult:
    return CheckResult("host", "host-key", Status.INFO, f"{host.name}: trusted {key_type} {fingerprint} "
                       "(as asked with --trust-host-key)", host.name)


def sudo_result(host: HostSpec, sudo: SudoCheck) -> CheckResult:
    name = host.name
    if sudo.status is SudoStatus.ROOT:
        return CheckResult("host", "sudo", Status.PASS, f"{name}: logged in as root", name)
    if sudo.status is SudoStatus.PASSWORDLESS:
        return CheckResult("host", "sudo", Status.PASS, f"{name}: passwordless sudo for {host.user}", name)
    if sudo.status is SudoStatus.MISSING:
        return CheckResult("host", "sudo", Status.FAIL, f"{name}: sudo is not installed and {host.user} is not root",
                           name, "install sudo on the host, or log in as root")
    said = f" ({sudo.detail})" if sudo.detail else ""
    return CheckResult("host", "sudo", Status.FAIL, f"{name}: sudo asks {host.user} for a password{said}", name,
                       f"allow it without one: `{host.user} ALL=(ALL) NOPASSWD:ALL` in /etc/sudoers.d/")


# ---- one host's facts ---------------------------------------------------------------------------


def facts_summary(name: str, f: HostFacts) -> str:
    disk = ", ".join(f"{gib(v)} free on {p}" for p, v in f.disk_free.items())
    swap = f"swap on ({gib(f.swap_bytes)})" if f.swap_on else "swap off"
    macs = ", ".join(f.macs) or "no MAC address"
    return (f"{name}: {f.os_name or f.os_id or 'unknown OS'}, kernel {f.kernel}, {f.cpus} CPU{'s' if f.cpus != 1 else ''}, "
            f"{gib(f.memory_bytes)} memory, {disk}, {swap}; hostname {f.hostname}, MAC {macs}")


def host_checks(plan: PreflightPlan, host: HostSpec, f: HostFacts, already_node: bool = False) -> list[CheckResult]:
    name = host.name
    out = [CheckResult("host", "facts", Status.PASS, facts_summary(name, f), name)]
    limits = th.limits_for(plan.tier, host.roles)
    low, rec = limits.minimum, limits.recommended
    need = Requirements(cpus=low.cpus, memory_bytes=int(low.memory_gib * GiB),
                        disk_free={p: int(low.disk_gib * GiB) for p in th.DISK_PATHS})
    failed = set()
    for finding in hostfacts.check_host(name, f, need):
        failed.add(finding.check)
        out.append(CheckResult("host", finding.check, Status.FAIL, finding.message, name,
                               f"give {name} more {_what(finding.check)} (roles {', '.join(host.roles)}, tier {plan.tier})"))
    why = f"tier {plan.tier} recommends"
    if "cpu" not in failed and f.cpus < rec.cpus:
        out.append(CheckResult("host", "cpu", Status.WARN, f"{name} has {f.cpus} CPU{'s' if f.cpus != 1 else ''}; "
                               f"{why} {rec.cpus} ({limits.source})", name, f"give {name} {rec.cpus} CPUs"))
    if "memory" not in failed and f.memory_bytes < rec.memory_gib * GiB * (1 - need.memory_slack):
        out.append(CheckResult("host", "memory", Status.WARN, f"{name} has {gib(f.memory_bytes)} of memory; {why} "
                               f"{gib(int(rec.memory_gib * GiB))} ({limits.source})", name,
                               f"give {name} {gib(int(rec.memory_gib * GiB))} of memory"))
    if "disk" not in failed:
        for path in th.DISK_PATHS:
            have = f.disk_free.get(path)
            if have is not None and have < rec.disk_gib * GiB:
                out.append(CheckResult("host", "disk", Status.WARN, f"{name} has {gib(have)} free on {path}; {why} "
                                       f"{gib(int(rec.disk_gib * GiB))}", name, f"free space on {path} of {name}"))
    out += _plan_checks(plan, host, f, need.memory_slack)
    if f.swap_on:
        text = f"{name} has swap on ({gib(f.swap_bytes)}); the kubelet needs it off"
        remedy = f"`swapoff -a` on {name} and remove the swap line from /etc/fstab"
        if plan.kubeadm and host.is_node:
            # The kubeadm phase's host preparation turns it off and comments out its fstab line:
            # failing here would make the operator do by hand what the install does next.
            out.append(CheckResult("host", "swap", Status.INFO, f"{text}: the kubeadm phase turns it off "
                                   "(swapoff -a, and its /etc/fstab line commented out)", name))
        elif host.is_node:
            status = Status.WARN if plan.tier == "prod" else Status.INFO
            out.append(CheckResult("host", "swap", status, f"{name} has swap on ({gib(f.swap_bytes)})", name, remedy))
    if host.is_node:
        versions = th.SUPPORTED_OS.get(f.os_id)
        if versions is None or (versions and f.os_version not in versions):
            wanted = ", ".join(f"{i} {'/'.join(v)}".strip() for i, v in th.SUPPORTED_OS.items())
            out.append(CheckResult("host", "os", Status.WARN, f"{name} runs {f.os_name or f.os_id or 'an unknown OS'}, "
                                   f"not a distribution kubeadm supports ({wanted})", name,
                                   "use a supported distribution, or acknowledge it"))
        out += _port_checks(plan, host, f, already_node)
    return out


def _plan_status(plan: PreflightPlan) -> Status:
    # The plan estimates from DIGIT-shaped requests: production must acknowledge a shortfall, a dev
    # lab is told of it.
    return Status.WARN if plan.tier == "prod" else Status.INFO


def _plan_checks(plan: PreflightPlan, host: HostSpec, f: HostFacts, memory_slack: float) -> list[CheckResult]:
    """A worker host smaller than the sizing plan's workers."""
    sized = plan.sizing
    if sized is None or "worker" not in host.roles:
        return []
    name = host.name
    out: list[CheckResult] = []
    flavor = f"the sizing plan's workers are {sized.worker_flavor}"
    fix = "or plan for fewer sizing.ulbs or another sizing.preset"
    if f.cpus < sized.worker_cpus:
        out.append(CheckResult("host", "sizing", _plan_status(plan), f"{name} has {f.cpus} CPU{'s' if f.cpus != 1 else ''}; "
                               f"{flavor} ({sized.worker_cpus:g} CPUs)", name, f"give {name} {sized.worker_cpus:g} CPUs, {fix}"))
    want = int(sized.worker_memory_gib * GiB)
    if f.memory_bytes < want * (1 - memory_slack):
        out.append(CheckResult("host", "sizing", _plan_status(plan), f"{name} has {gib(f.memory_bytes)} of memory; "
                               f"{flavor} ({gib(want)})", name, f"give {name} {gib(want)} of memory, {fix}"))
    return out


def _what(check: str) -> str:
    return {"cpu": "CPUs", "memory": "memory", "disk": "disk space"}.get(check, check)


def _port_checks(plan: PreflightPlan, host: HostSpec, f: HostFacts, already_node: bool) -> list[CheckResult]:
    name = host.name
    if already_node:
        return [CheckResult("host", "ports", Status.INFO, f"{name} is already a Kubernetes node "
                            "(/etc/kubernetes/kubelet.conf): its ports are its own", name)]
    wanted = th.ports_for(host.roles)
    busy = [p for p in wanted if p in f.ports_in_use]
    if not busy:
        return [CheckResult("host", "ports", Status.PASS, f"{name}: ports {', '.join(map(str, wanted))} are free", name)]
    finding = hostfacts.check_host(name, f, Requirements(free_ports=wanted))[0]
    status = Status.FAIL if plan.kubeadm else Status.WARN
    return [CheckResult("host", "ports", status, finding.message, name,
                        f"stop what listens on {', '.join(map(str, busy))} on {name} (`ss -ltnp`)")]


# ---- across hosts -------------------------------------------------------------------------------


def fleet_checks(plan: PreflightPlan, facts: Mapping[str, HostFacts]) -> list[CheckResult]:
    if len(facts) < 2:
        return []
    out: list[CheckResult] = []
    nodes = {n: f for n, f in facts.items() if n in {h.name for h in plan.hosts if h.is_node}}
    unique_status = Status.FAIL if plan.kubeadm else Status.WARN
    for finding in hostfacts.check_fleet(nodes, max_clock_skew=float("inf")):
        out.append(CheckResult("fleet", finding.check, unique_status, finding.message, finding.host,
                               "give every node its own (a cloned VM keeps its original's product_uuid and MAC: "
                               "regenerate them)"))
    for limit, status in ((th.SKEW_FAIL, Status.FAIL), (th.SKEW_WARN, Status.FAIL if plan.tier == "prod" else Status.WARN)):
        clock = [x for x in hostfacts.check_fleet(facts, max_clock_skew=limit) if x.check == "clock"]
        if clock:
            out.append(CheckResult("fleet", "clock", status, clock[0].message, clock[0].host,
                                   "run NTP (chrony or systemd-timesyncd) on every host"))
            break
    if not out:
        offsets = [f.clock_offset for f in facts.values()]
        what = "hostnames, MAC addresses and product_uuids are unique across the nodes; " if len(nodes) > 1 else ""
        out.append(CheckResult("fleet", "unique", Status.PASS, f"{what}clocks of {len(facts)} hosts agree within "
                               f"{max(offsets) - min(offsets):.1f} s"))
    return out


# ---- jump-host tools ----------------------------------------------------------------------------


@dataclass(frozen=True)
class ToolVersion:
    name: str
    path: str | None            # None: not found
    version: str = ""           # as the tool prints it ("v1.32.4"), "" when it would not say
    error: str = ""             # why the version could not be read

    @property
    def numbers(self) -> tuple[int, ...]:
        digits = []
        for part in self.version.lstrip("v").split("-")[0].split("."):
            if not part.isdigit():
                break
            digits.append(int(part))
        return tuple(digits)


def needed_tools(plan: PreflightPlan, sops_needed: bool) -> dict[str, Status]:
    """Tool -> what its absence means for this provider."""
    need: dict[str, Status] = {}
    if plan.provider in CLOUDS:
        need["terraform"] = Status.FAIL
    # digit-tui talks to the API itself; kubectl is what the operator inspects the cluster with.
    need["kubectl"] = Status.INFO if plan.provider == "sandbox" else Status.WARN
    if sops_needed:
        need["sops"] = Status.FAIL
    return need


_WHY = {"terraform": "provider {provider} builds the cluster with terraform",
        "kubectl": "to look at the cluster yourself (digit-tui does not need it)",
        "sops": "the environment or secrets file is sops-encrypted"}
_INSTALL = {"terraform": "install terraform (https://developer.hashicorp.com/terraform/install) on this machine",
            "kubectl": "install kubectl on this machine (https://kubernetes.io/docs/tasks/tools/)",
            "sops": "install sops on this machine (https://github.com/getsops/sops/releases)"}


def tool_checks(plan: PreflightPlan, found: Mapping[str, ToolVersion], sops_needed: bool) -> list[CheckResult]:
    out = []
    for name, missing in needed_tools(plan, sops_needed).items():
        tool = found.get(name) or ToolVersion(name, None)
        why = _WHY[name].format(provider=plan.provider)
        if tool.path is None:
            out.append(CheckResult("tools", name, missing, f"{name} not found on PATH ({why})", name, _INSTALL[name]))
            continue
        if tool.error:
            out.append(CheckResult("tools", name, Status.WARN if missing is not Status.INFO else Status.INFO,
                                   f"{name} at {tool.path} did not tell its version: {tool.error}", name,
                                   f"check that `{name}` runs on this machine"))
            continue
        low = th.TOOL_MINIMUM.get(name, ())
        if tool.numbers and low and tool.numbers < low:
            out.append(CheckResult("tools", name, Status.WARN, f"{name} {tool.version} at {tool.path} is older than "
                                   f"{'.'.join(map(str, low))}", name, f"upgrade {name}"))
            continue
        out.append(CheckResult("tools", name, Status.PASS, f"{name} {tool.version} ({tool.path})", name))
    return out
