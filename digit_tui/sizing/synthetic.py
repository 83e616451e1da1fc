"""DIGIT-shaped workloads without rendering anything: for tests, the bench and
the sizing screen before a release is chosen.

Shapes follow digit-facts (backbone memory, Java services with 192-256 MB
heaps, zuul with 3 replicas); CPU requests are stated estimates.
"""

from __future__ import annotations

from digit_tui.sizing.model import ClaimSize, Workload
from digit_tui.sizing.quantity import GI, MI

CORE = (
    "audit-service", "egov-accesscontrol", "egov-enc-service", "egov-filestore", "egov-idgen", "egov-indexer",
    "egov-localization", "egov-location", "egov-mdms-service", "egov-notification-mail", "egov-notification-sms",
    "egov-otp", "egov-persister", "egov-pg-service", "egov-url-shortening", "egov-user", "egov-workflow-v2",
    "pdf-service", "user-otp",
)
BUSINESS = ("billing-service", "collection-services", "egov-hrms", "egov-apportion-service")
FRONTEND = ("citizen", "employee", "digit-ui")


def _sts(service: str, ns: str, replicas: int, cpu: int, mem: int, disk_gi: int) -> Workload:
    return Workload(service, "backbone", "StatefulSet", ns, service, replicas, cpu, mem,
                    claims=(ClaimSize("data", disk_gi * GI),), one_per_node=True)


def _dep(service: str, module: str, cpu: int = 100, mem: int = 512 * MI, replicas: int = 1,
         ns: str = "egov") -> Workload:
    return Workload(service, module, "Deployment", ns, service, replicas, cpu, mem)


def digit_like(modules: int = 3) -> list[Workload]:
    """A release like DIGIT's classic one with ``modules`` m_* modules of 4 services each."""
    out = [
        _sts("zookeeper-v2", "zookeeper-cluster", 3, 100, 384 * MI, 5),
        _sts("kafka-v2", "kafka-cluster", 3, 250, 1408 * MI, 50),
        _sts("elasticsearch-data-v1", "es-cluster", 3, 500, 2 * GI, 50),
        _sts("elasticsearch-master-v1", "es-cluster", 3, 250, 896 * MI, 5),
        _dep("kafka-connect", "backbone", 250, 1 * GI, ns="kafka-cluster"),
        _dep("kibana-v1", "backbone", 100, 512 * MI, ns="es-cluster"),
        _dep("redis", "authn-authz", 50, 128 * MI, ns="backbone"),
        _dep("nginx-ingress", "authn-authz", 100, 256 * MI, 2, ns="backbone"),
        _dep("cert-manager", "authn-authz", 50, 128 * MI, ns="cert-manager"),
        _dep("zuul", "authn-authz", 200, 512 * MI, 3),
        Workload("fluent-bit", "backbone", "DaemonSet", "logging", "fluent-bit", 1, 50, 64 * MI, daemonset=True),
    ]
    out += [_dep(s, "core") for s in CORE]
    out += [_dep(s, "business") for s in BUSINESS]
    out += [_dep(s, "frontend", 50, 64 * MI) for s in FRONTEND]
    for m in range(modules):
        out += [_dep(f"m{m}-service-{i}", f"m_mod{m}", 100, (384 + 64 * i) * MI) for i in range(4)]
    return out


def many(services: int) -> list[Workload]:
    """``services`` workloads of varied size (the bench's 500-service release)."""
    base = digit_like(0)
    extra = services - len(base)
    sizes = [(100, 256), (100, 384), (200, 512), (250, 768), (500, 1024), (50, 128), (100, 640)]
    for i in range(max(extra, 0)):
        cpu, mem = sizes[i % len(sizes)]
        base.append(_dep(f"svc-{i:03d}", f"m_mod{i % 25}", cpu, mem * MI, 1 + i % 3))
    return base
