"""From validated answers to what the engine stores, and answers back to YAML.

``answers_to_settings`` is the run's configuration document: the JSON the engine
stores in its journal and hands to the graph factory, which rebuilds the typed
``InstallConfig`` (answers/config.py) from it. ``network_endpoints`` is what the
network probe watches. Neither contains secrets, only paths to secret files.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import yaml

from digit_tui import yamldump, yamlload

from digit_tui.answers.fields import split_host_port
from digit_tui.answers.model import Answers
from digit_tui.answers.sizingplan import SizingPlan
from digit_tui.engine.task import Endpoint


def kubeconfig_server(path: Path, context: str | None) -> tuple[str, int] | None:
    """(host, port) of the API server the kubeconfig's (current or given) context points at."""
    try:
        data = yamlload.safe_load(path.read_text(encoding="utf-8"))
        name = context or data.get("current-context")
        ctx = next(c["context"] for c in data.get("contexts") or [] if c.get("name") == name)
        cluster = next(c["cluster"] for c in data.get("clusters") or [] if c.get("name") == ctx.get("cluster"))
        url = urlsplit(str(cluster["server"]))
    except (OSError, yaml.YAMLError, StopIteration, KeyError, TypeError, AttributeError):
        return None
    if not url.hostname:
        return None
    return url.hostname, url.port or (443 if url.scheme == "https" else 80)


CLUSTER_API = "cluster API"


def network_endpoints(answers: Answers) -> list[Endpoint]:
    """Everything the install talks to over TCP, for the waiting-for-network probe."""
    out: list[Endpoint] = []
    if answers.target.kubeconfig is not None:
        server = kubeconfig_server(answers.target.kubeconfig, answers.target.context)
        if server is not None:
            out.append(Endpoint(server[0], server[1], CLUSTER_API, scheme="https"))
    if answers.cluster.api_endpoint is not None:
        host, port = split_host_port(answers.cluster.api_endpoint)
        out.append(Endpoint(host, port, "cluster API endpoint", scheme="https"))
    for machine in answers.hosts:
        out.append(Endpoint(machine.address, machine.port, f"ssh {machine.name}"))
    gateway = answers.network.vpn_gateway
    if gateway is not None and (gateway.startswith("[") or gateway.count(":") == 1):
        host, port = split_host_port(gateway)
        out.append(Endpoint(host, port, "VPN gateway"))
    for probe in answers.network.probes:
        host, port = split_host_port(probe)
        out.append(Endpoint(host, port, f"probe {probe}"))
    # Only a database that exists before the install: a database VM's server is what the install
    # sets up (its SSH is probed above, and the Postgres tasks watch :5432 once they need it).
    if answers.database.mode == "external" and answers.database_host is not None:
        out.append(Endpoint(answers.database_host, answers.database.port, "postgres"))
    unique: dict[tuple[str, int], Endpoint] = {}
    for endpoint in out:
        unique.setdefault((endpoint.host, endpoint.port), endpoint)
    return list(unique.values())


def answers_to_settings(answers: Answers, answers_file: str | os.PathLike[str] | None = None, *,
                        sizing: SizingPlan | None = None) -> dict[str, Any]:
    """The run's configuration document (``InstallConfig.to_document``) for these answers, with the
    sizing plan the caller made of them (``digit_tui.sizing.install.install_plan``)."""
    from digit_tui.answers.config import InstallConfig

    return InstallConfig.from_answers(answers, answers_file, sizing=sizing).to_document()


def answers_to_yaml(answers: Answers) -> str:
    """YAML for the answers: what the operator chose (defaults left out), paths absolute.

    The TUI saves choices with this; ``parse_answers`` reads the text back to
    an equal ``Answers``.
    """
    data = answers.model_dump(mode="json", by_alias=True, exclude_defaults=True)
    data = {"version": answers.version, **data}
    return yamldump.safe_dump(data, sort_keys=False, default_flow_style=False, allow_unicode=True)
