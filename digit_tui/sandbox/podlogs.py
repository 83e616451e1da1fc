"""Plausible container logs for simulated containers, chosen by image name.

A log is a function of the container instance (start, end, exit code, crash line) and the
clock: lines carry timestamps spread over the start-up, and only lines whose time has come
are shown, so a starting service's log grows while it starts, as a real one does.
"""

from __future__ import annotations

import datetime as _dt
import hashlib
from dataclasses import dataclass


@dataclass(frozen=True)
class LogContext:
    namespace: str
    pod: str
    container: str
    image: str
    init: bool
    started: float  # wall-clock seconds
    finished: float | None
    exit_code: int | None
    crash_log: str | None
    ready_after: float  # real seconds from start to "started" lines
    now: float
    seed: int = 0


def _service_name(image: str) -> str:
    name = image.split("@", 1)[0].rsplit("/", 1)[-1]
    return name.split(":", 1)[0]


def _tag(image: str) -> str:
    last = image.split("@", 1)[0].rsplit("/", 1)[-1]
    return last.split(":", 1)[1] if ":" in last else "latest"


def _iso(ts: float, millis: bool = True) -> str:
    d = _dt.datetime.fromtimestamp(ts, _dt.timezone.utc)
    return d.strftime("%Y-%m-%d %H:%M:%S.") + f"{d.microsecond // 1000:03d}" if millis else d.isoformat()


def _pid(ctx: LogContext) -> int:
    return 1 + int(hashlib.sha256(f"{ctx.pod}/{ctx.container}".encode()).hexdigest()[:4], 16) % 200


def _flyway(ctx: LogContext) -> list[str]:
    svc = _service_name(ctx.image).removesuffix("-db")
    table = svc.replace("-", "_") + "_schema"
    n = 3 + int(hashlib.sha256(svc.encode()).hexdigest()[:2], 16) % 9
    lines = [
        "Flyway Community Edition 9.22.3 by Redgate",
        "See release notes here: https://rd.gt/416ObMi",
        "",
        "Database: jdbc:postgresql://db-service.egov:5432/egov (PostgreSQL 15.6)",
        f'Successfully validated {n} migrations (execution time 00:00.041s)',
        f'Creating Schema History table "public"."{table}" ...',
        'Current version of schema "public": << Empty Schema >>',
    ]
    for i in range(1, n + 1):
        lines.append(f'Migrating schema "public" to version "{20230101000000 + i * 1013} - '
                     f'{svc.replace("-", "_")}_ddl_v{i}"')
    lines.append(f'Successfully applied {n} migrations to schema "public", now at version '
                 f'v{20230101000000 + n * 1013} (execution time 00:00.{200 + n * 37:03d}s)')
    return lines


def _spring(ctx: LogContext) -> list[str]:
    svc = _service_name(ctx.image)
    pid = _pid(ctx)
    main_class = "".join(p.capitalize() for p in svc.replace("egov-", "").split("-")) + "Application"
    head = f"INFO {pid} --- [           main] "
    return [
        "",
        "  .   ____          _            __ _ _",
        " /\\\\ / ___'_ __ _ _(_)_ __  __ _ \\ \\ \\ \\",
        "( ( )\\___ | '_ | '_| | '_ \\/ _` | \\ \\ \\ \\",
        " \\\\/  ___)| |_)| | | | | || (_| |  ) ) ) )",
        "  '  |____| .__|_| |_|_| |_\\__, | / / / /",
        " =========|_|==============|___/=/_/_/_/",
        " :: Spring Boot ::        (v2.2.13.RELEASE)",
        "",
        f"{head}org.egov.{main_class}   : Starting {main_class} v{_tag(ctx.image).split('-')[0].lstrip('v')} "
        f"on {ctx.pod} with PID {pid} (/opt/egov/{svc}.jar started by root in /opt/egov)",
        f"{head}org.egov.{main_class}   : No active profile set, falling back to default profiles: default",
        f"{head}o.s.b.w.embedded.tomcat.TomcatWebServer  : Tomcat initialized with port(s): 8080 (http)",
        f"{head}o.apache.catalina.core.StandardService   : Starting service [Tomcat]",
        f"{head}org.apache.catalina.core.StandardEngine  : Starting Servlet engine: [Apache Tomcat/9.0.41]",
        f"{head}o.a.c.c.C.[.[localhost].[/{svc}]        : Initializing Spring embedded WebApplicationContext",
        f"{head}com.zaxxer.hikari.HikariDataSource       : HikariPool-1 - Starting...",
        f"{head}com.zaxxer.hikari.HikariDataSource       : HikariPool-1 - Start completed.",
        f"{head}o.a.k.clients.consumer.ConsumerConfig    : ConsumerConfig values: "
        f"bootstrap.servers = [kafka-v2.kafka-cluster:9092] group.id = {svc}",
        f"{head}o.a.kafka.common.utils.AppInfoParser     : Kafka version: 2.3.1",
        f"{head}o.s.s.concurrent.ThreadPoolTaskExecutor  : Initializing ExecutorService 'applicationTaskExecutor'",
        f"{head}o.s.b.a.e.web.EndpointLinksResolver      : Exposing 2 endpoint(s) beneath base path '/actuator'",
        f"{head}o.s.b.w.embedded.tomcat.TomcatWebServer  : Tomcat started on port(s): 8080 (http) "
        f"with context path '/{svc}'",
        f"{head}org.egov.{main_class}   : Started {main_class} in 41.873 seconds (JVM running for 44.02)",
    ]


def _kafka(ctx: LogContext) -> list[str]:
    broker = ctx.pod.rsplit("-", 1)[-1] if ctx.pod[-1:].isdigit() else "0"
    return [
        "===> User", "uid=0(root) gid=0(root) groups=0(root)", "===> Configuring ...", "===> Running preflight checks ... ",
        "===> Check if Zookeeper is healthy ...", "===> Launching ... ", "===> Launching kafka ... ",
        f"[KafkaServer id={broker}] starting (kafka.server.KafkaServer)",
        "Connecting to zookeeper on zookeeper-v2.zookeeper-cluster:2181 (kafka.server.KafkaServer)",
        "[ZooKeeperClient Kafka server] Connected. (kafka.zookeeper.ZooKeeperClient)",
        "Cluster ID = kpDVbUkvQLqTkmqX0e5i3g (kafka.server.KafkaServer)",
        "Loading logs. (kafka.log.LogManager)",
        f"[SocketServer brokerId={broker}] Started 1 acceptor threads for data-plane (kafka.network.SocketServer)",
        f"[KafkaServer id={broker}] started (kafka.server.KafkaServer)",
    ]


def _zookeeper(ctx: LogContext) -> list[str]:
    return [
        "===> User", "uid=0(root) gid=0(root) groups=0(root)", "===> Configuring ...", "===> Launching zookeeper ... ",
        "Reading configuration from: /etc/kafka/zookeeper.properties (org.apache.zookeeper.server.quorum.QuorumPeerConfig)",
        "Server environment:zookeeper.version=3.4.14 (org.apache.zookeeper.server.ZooKeeperServer)",
        "binding to port 0.0.0.0/0.0.0.0:2181 (org.apache.zookeeper.server.NIOServerCnxnFactory)",
        "LEADING - LEADER ELECTION TOOK - 212 (org.apache.zookeeper.server.quorum.Leader)",
    ]


def _elasticsearch(ctx: LogContext) -> list[str]:
    node = ctx.pod
    return [
        f"[o.e.e.NodeEnvironment    ] [{node}] using [1] data paths, mounts [[/usr/share/elasticsearch/data]]",
        f"[o.e.e.NodeEnvironment    ] [{node}] heap size [1gb], compressed ordinary object pointers [true]",
        f"[o.e.n.Node               ] [{node}] version[6.6.2], pid[1], build[oss/tar/3bd3e59/2019-03-06T15:16:26Z]",
        f"[o.e.p.PluginsService     ] [{node}] loaded module [analysis-common]",
        f"[o.e.d.DiscoveryModule    ] [{node}] using discovery type [zen] and host providers [settings]",
        f"[o.e.n.Node               ] [{node}] initialized",
        f"[o.e.n.Node               ] [{node}] starting ...",
        f"[o.e.t.TransportService   ] [{node}] publish_address {{10.244.0.1:9300}}, bound_addresses {{0.0.0.0:9300}}",
        f"[o.e.c.s.ClusterApplierService] [{node}] detected_master {{elasticsearch-master-v1-0}}",
        f"[o.e.h.n.Netty4HttpServerTransport] [{node}] publish_address {{10.244.0.1:9200}}",
        f"[o.e.n.Node               ] [{node}] started",
    ]


def _generic(ctx: LogContext) -> list[str]:
    svc = _service_name(ctx.image)
    if ctx.init:
        return [f"{svc}: running init step", f"{svc}: done"]
    return [f"{svc}: starting", f"{svc}: listening", f"{svc}: ready"]


def _body(ctx: LogContext) -> tuple[list[str], str]:
    """Lines and their style: "java" lines get a Spring-style prefix, "plain" lines a bracketed time."""
    svc = _service_name(ctx.image)
    if svc.endswith("-db") or "flyway" in svc:
        return _flyway(ctx), "plain"
    if "zookeeper" in svc:
        return _zookeeper(ctx), "bracket"
    if "kafka" in svc:
        return _kafka(ctx), "bracket"
    if "elasticsearch" in svc:
        return _elasticsearch(ctx), "es"
    if ctx.image.startswith("egovio/") or "egov" in svc or svc in ("zuul", "gateway", "pdf-service",
                                                                    "billing-service", "collection-services",
                                                                    "pgr-services", "user-otp", "audit-service"):
        return _spring(ctx), "java"
    return _generic(ctx), "plain"


def render(ctx: LogContext) -> str:
    lines, style = _body(ctx)
    end = ctx.finished if ctx.finished is not None else ctx.now
    span = max(0.05, ctx.ready_after if ctx.finished is None else min(ctx.ready_after, end - ctx.started))
    out: list[str] = []
    n = len(lines)
    for i, line in enumerate(lines):
        ts = ctx.started + span * (i / max(1, n - 1))
        if ctx.finished is None and ts > end:
            break  # still starting: later lines have not been written yet
        ts = min(ts, end)
        out.append(_styled(line, ts, style))
    if ctx.finished is not None and ctx.exit_code not in (None, 0):
        msg = ctx.crash_log or f"process exited with code {ctx.exit_code}"
        for extra in msg.splitlines() or [msg]:
            out.append(_styled(extra, ctx.finished, "java" if style == "java" else "plain", level="ERROR"))
    return "".join(line + "\n" for line in out)


def _styled(line: str, ts: float, style: str, level: str = "INFO") -> str:
    if style == "java":
        if line.startswith("INFO ") and level != "INFO":
            line = level + line[4:]
        if not line or not line.startswith(("INFO ", "ERROR ", "WARN ")):
            return line if level == "INFO" else f"{_iso(ts)}  {level} 1 --- [           main] {line}"
        return f"{_iso(ts)}  {line}"
    if style == "bracket":
        if line.startswith("===>") or line.startswith("uid="):
            return line
        return f"[{_iso(ts).replace('.', ',')}] {level} {line}"
    if style == "es":
        return f"[{_iso(ts).replace(' ', 'T').replace('.', ',')}][{level} ]{line}"
    return line if level == "INFO" else f"{level}: {line}"
