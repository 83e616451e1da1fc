"""DIGIT's database as the cluster sees it: where the services' environment file says it is, and
a Job that checks it from inside the cluster.

Pure functions: they return Kubernetes objects as mappings (to apply with server-side apply);
nothing here talks to a cluster or a database.

An external database by IP is reached through ``db-service`` in namespace egov, a Service without
a selector plus manual Endpoints. DIGIT's cluster-configs chart renders both (``templates/services/
db-service.yaml`` and ``db-endpoints.yaml``, the bundled sample's ``db-service.yaml``) from the
environment file's ``cluster-configs.db`` block, which ``envfile.db_block`` writes; cluster-configs
is the one thing that creates them, so nothing here builds them a second time. Endpoints take IP
addresses only: a database known by a DNS name is reached by that name.

The verification Job runs ``pg_isready`` and then a login with ``SELECT 1``, as the services do:
the user and password come from the ``db`` Secret (keys ``username``, ``password``) through
``secretKeyRef``, so no value is in the Job's spec, its command or the journal.
"""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

NAMESPACE = "egov"
SERVICE = "db-service"
DB_SECRET = "db"                         # rendered by cluster-configs from the secrets file
MANAGED_BY = {"app.kubernetes.io/managed-by": "digit-tui"}
CHECK_LABEL = "digit.org/check"
JOB_PREFIX = "digit-tui-db-check-"
CHECK_IMAGE = "docker.io/library/postgres:15-alpine"    # pg_isready and psql; any libpq 12+ client works
_IDENT = re.compile(r"[A-Za-z_][A-Za-z0-9_]{0,62}")


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


class NoDatabaseInEnv(ValueError):
    """The environment file does not say where the database is (``egov-config`` ``db-host`` and ``db-url``)."""


def db_check_of(values: Mapping[str, Any], *, image: str = CHECK_IMAGE) -> DbCheck:
    """What the services connect to, as the environment file tells them: ``egov-config``'s
    ``db-host`` and the port and database of its ``db-url`` (``db-name`` when the URL has none).
    The one place the in-cluster checks read the database's address from."""
    from digit_tui.digit.envfile import jdbc_parts

    configs = values.get("cluster-configs") if isinstance(values, Mapping) else None
    maps = configs.get("configmaps") if isinstance(configs, Mapping) else None
    egov = maps.get("egov-config") if isinstance(maps, Mapping) else None
    data = egov.get("data") if isinstance(egov, Mapping) else None
    if not isinstance(data, Mapping):
        raise NoDatabaseInEnv("the environment file has no cluster-configs.configmaps.egov-config.data")
    url = str(data.get("db-url") or "")
    parts = jdbc_parts(url)
    host = str(data.get("db-host") or (parts[0] if parts else ""))
    if not host:
        raise NoDatabaseInEnv("egov-config has neither db-host nor a jdbc:postgresql:// db-url")
    port = (parts[1] if parts else None) or 5432
    name = str((parts[2] if parts else "") or data.get("db-name") or "")
    if not name:
        raise NoDatabaseInEnv("egov-config names no database (db-name, or the database of db-url)")
    return DbCheck(host, port, name, image=image)


def verification_job(check: DbCheck, run: str = "", *, labels: Mapping[str, str] | None = None,
                     annotations: Mapping[str, str] | None = None, ttl: int = 3600) -> dict[str, Any]:
    """A Job that succeeds once the database answers and the ``db`` Secret's user can log in.

    Its name carries a digest of what it checks and ``run`` (a token per attempt), so an attempt
    never waits for the deletion of an earlier one's Job of the same name. ``labels`` and
    ``annotations`` are added to the Job's own; ``ttl``: seconds the finished Job stays."""
    if run and not re.fullmatch(r"[a-z0-9]{1,10}", run):
        raise ValueError(f"run token {run!r}: lowercase letters and digits, at most 10")
    digest = hashlib.sha256(json.dumps([check.host, check.port, check.database, check.image]).encode()).hexdigest()[:8]
    name = f"{JOB_PREFIX}{digest}" + (f"-{run}" if run else "")
    conninfo = (f"host={check.host} port={check.port} dbname={check.database} "
                f"connect_timeout={check.connect_timeout} sslmode=prefer")
    # The values are validated above (no quote, space or $ can reach the shell); the password is
    # PGPASSWORD from the Secret, read by libpq, never on a command line.
    script = (f"pg_isready -h {check.host} -p {check.port} -d {check.database} -t {check.connect_timeout} && "
              f"psql '{conninfo}' -X -A -t -v ON_ERROR_STOP=1 -c 'SELECT 1'")
    own = {**MANAGED_BY, CHECK_LABEL: "database"}
    metadata: dict[str, Any] = {"name": name, "namespace": check.namespace, "labels": {**(labels or {}), **own}}
    if annotations:
        metadata["annotations"] = dict(annotations)
    return {
        "apiVersion": "batch/v1", "kind": "Job",
        "metadata": metadata,
        "spec": {
            "backoffLimit": 3,
            "activeDeadlineSeconds": check.timeout_seconds,
            "ttlSecondsAfterFinished": ttl,
            "template": {
                "metadata": {"labels": own},
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
