"""DIGIT's database as the cluster sees it: the ``db-service`` Service and Endpoints for an external
database, and a Job that checks the database from inside the cluster.

Pure functions: they return Kubernetes objects as mappings (to apply with server-side apply) and
the ``cluster-configs.db`` values block; nothing here talks to a cluster or a database.

DIGIT's cluster-configs chart renders ``db-service`` in namespace egov (``templates/services/
db-service.yaml`` and ``db-endpoints.yaml``) from ``cluster-configs.db``: ``name``, ``namespace``,
``port``, ``targetPort`` and ``db-ips``, which it puts under ``subsets[].addresses`` with
``toYaml``, so each entry is an EndpointAddress (``{ip: 10.0.1.20}``), not a bare string. Endpoints
take IP addresses only: a database known by a DNS name (a cloud's managed Postgres) gets an
ExternalName Service instead.

The verification Job runs ``pg_isready`` and then a login with ``SELECT 1``, as the services do:
the user and password come from the ``db`` Secret (keys ``username``, ``password``) through
``secretKeyRef``, so no value is in the Job's spec, its command or the journal.
"""

from __future__ import annotations

import hashlib
import ipaddress
import json
import re
from dataclasses import dataclass
from typing import Any

NAMESPACE = "egov"
SERVICE = "db-service"
DB_SECRET = "db"                         # rendered by cluster-configs from the secrets file
MANAGED_BY = {"app.kubernetes.io/managed-by": "digit-tui"}
CHECK_IMAGE = "docker.io/library/postgres:15-alpine"    # pg_isready and psql; any libpq 12+ client works
_IDENT = re.compile(r"[A-Za-z_][A-Za-z0-9_]{0,62}")


def is_ip(address: str) -> bool:
    try:
        ipaddress.ip_address(address)
        return True
    except ValueError:
        return False


def db_values(address: str, port: int = 5432, *, name: str = SERVICE, namespace: str = NAMESPACE) -> dict[str, Any]:
    """The ``cluster-configs.db`` block in the real chart's shape (``db-ips`` as EndpointAddress
    mappings); empty for a DNS name, which the chart's Endpoints cannot hold."""
    if not is_ip(address):
        return {}
    return {"name": name, "namespace": namespace, "port": port, "targetPort": port, "db-ips": [{"ip": address}]}


def db_service_objects(address: str, port: int = 5432, *, name: str = SERVICE,
                       namespace: str = NAMESPACE) -> list[dict[str, Any]]:
    """The Service (and, for an IP address, its manual Endpoints) that make ``<name>.<namespace>``
    reach the external database from every pod."""
    meta = {"name": name, "namespace": namespace, "labels": {**MANAGED_BY, "app": name}}
    if not is_ip(address):
        return [{"apiVersion": "v1", "kind": "Service", "metadata": meta,
                 "spec": {"type": "ExternalName", "externalName": address.rstrip("."),
                          "ports": [{"name": "postgres", "port": port, "targetPort": port}]}}]
    service = {"apiVersion": "v1", "kind": "Service", "metadata": meta,
               # No selector: the Endpoints below are the backends, and the Service keeps them.
               "spec": {"type": "ClusterIP", "ports": [{"name": "postgres", "port": port, "targetPort": port,
                                                        "protocol": "TCP"}]}}
    endpoints = {"apiVersion": "v1", "kind": "Endpoints", "metadata": meta,
                 "subsets": [{"addresses": [{"ip": address}],
                              "ports": [{"name": "postgres", "port": port, "protocol": "TCP"}]}]}
    return [service, endpoints]


@dataclass(frozen=True)
class DbCheck:
    host: str                        # as the pods reach it: "db-service.egov", an IP, or a DNS name
    port: int
    database: str
    namespace: str = NAMESPACE
    secret: str = DB_SECRET
    image: str = CHECK_IMAGE
    timeout_seconds: int = 120       # the whole Job, retries included
    connect_timeout: int = 5

    def __post_init__(self) -> None:
        if not _IDENT.fullmatch(self.database):
            raise ValueError(f"database name {self.database!r}: letters, digits and underscores only")
        if not re.fullmatch(r"[A-Za-z0-9.:\-\[\]]+", self.host):
            raise ValueError(f"not a host name or address: {self.host!r}")


def verification_job(check: DbCheck) -> dict[str, Any]:
    """A Job that succeeds once the database answers and the ``db`` Secret's user can log in.

    Its name carries a digest of what it checks: a changed host or database gets a new Job, the
    same one is found again on a rerun (and its result read instead of running it twice)."""
    digest = hashlib.sha256(json.dumps([check.host, check.port, check.database, check.image]).encode()).hexdigest()[:8]
    name = f"digit-tui-db-check-{digest}"
    conninfo = (f"host={check.host} port={check.port} dbname={check.database} "
                f"connect_timeout={check.connect_timeout} sslmode=prefer")
    # The values are validated above (no quote, space or $ can reach the shell); the password is
    # PGPASSWORD from the Secret, read by libpq, never on a command line.
    script = (f"pg_isready -h {check.host} -p {check.port} -d {check.database} -t {check.connect_timeout} && "
              f"psql '{conninfo}' -X -A -t -v ON_ERROR_STOP=1 -c 'SELECT 1'")
    labels = {**MANAGED_BY, "digit.org/check": "database"}
    return {
        "apiVersion": "batch/v1", "kind": "Job",
        "metadata": {"name": name, "namespace": check.namespace, "labels": labels},
        "spec": {
            "backoffLimit": 3,
            "activeDeadlineSeconds": check.timeout_seconds,
            "ttlSecondsAfterFinished": 3600,
            "template": {
                "metadata": {"labels": labels},
                "spec": {
                    "restartPolicy": "Never",
                    "automountServiceAccountToken": False,
                    "containers": [{
                        "name": "check",
                        "image": check.image,
                        "command": ["sh", "-c", script],
                        "env": [
                            {"name": "PGUSER", "valueFrom": {"secretKeyRef": {"name": check.secret, "key": "username"}}},
                            {"name": "PGPASSWORD",
                             "valueFrom": {"secretKeyRef": {"name": check.secret, "key": "password"}}},
                            {"name": "PGAPPNAME", "value": "digit-tui-check"},
                        ],
                        "resources": {"requests": {"cpu": "10m", "memory": "16Mi"},
                                      "limits": {"cpu": "200m", "memory": "64Mi"}},
                        "securityContext": {"runAsNonRoot": True, "runAsUser": 70, "allowPrivilegeEscalation": False,
                                            "readOnlyRootFilesystem": True, "capabilities": {"drop": ["ALL"]}},
                    }],
                },
            },
        },
    }


def job_result(status: dict[str, Any] | None) -> str:
    """``succeeded``, ``failed`` or ``running``, from a Job's ``status``."""
    status = status or {}
    for cond in status.get("conditions") or []:
        if cond.get("status") == "True" and cond.get("type") in ("Complete", "SuccessCriteriaMet"):
            return "succeeded"
        if cond.get("status") == "True" and cond.get("type") == "Failed":
            return "failed"
    if status.get("succeeded"):
        return "succeeded"
    return "running"
