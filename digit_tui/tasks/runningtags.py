"""The image tags of the Deployments running in the target cluster, for services the release
manifest leaves untagged (and ``digit.tags`` does not name).

DIGIT's deployer gives such a service the tag of the Deployment labelled
``app=<name>`` that runs in the cluster (``kubectl get deployments -l app=<name> -A``),
so a redeploy keeps the version running. The render task does the same, once per
render, with one list call (``app in (...)``) under a short timeout; a cluster that
is not configured or does not answer gives no running tags, and the task says so.

A Deployment digit-tui applied carries the tag it was rendered with in the
``digit.org/tag`` annotation ("" when the chart's own tag was used): that is its
running tag, so a service installed with its chart's own tag keeps rendering
without one and a rerun renders exactly what it rendered before.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from digit_tui.answers.config import InstallConfig

TAG_ANNOTATION = "digit.org/tag"
LOOKUP_TIMEOUT = 5.0        # seconds: the render must not wait long for a cluster it only asks a favour of


@dataclass(frozen=True)
class RunningTags:
    tags: dict[str, str] = field(default_factory=dict)     # service -> the tag running in the cluster
    note: str = ""                                          # one line for the journal


def image_tag(image: str) -> str | None:
    """``egovio/redis:3.2`` -> ``3.2``; ``host:5000/x`` (no tag) -> None; a digest is ignored."""
    name = image.split("@", 1)[0]
    last = name.rsplit("/", 1)[-1]
    if ":" not in last:
        return None
    return last.rsplit(":", 1)[1] or None


def tag_of(deployment: Mapping[str, Any]) -> str | None:
    """The running tag of one Deployment: digit-tui's own record of it, else its first container's."""
    meta = deployment.get("metadata") or {}
    annotations = meta.get("annotations") or {}
    if TAG_ANNOTATION in annotations:
        return str(annotations[TAG_ANNOTATION]) or None
    containers = (((deployment.get("spec") or {}).get("template") or {}).get("spec") or {}).get("containers") or []
    if not containers:
        return None
    return image_tag(str(containers[0].get("image") or ""))


def pick(deployments: Iterable[Mapping[str, Any]], services: Iterable[str]) -> tuple[dict[str, str], set[str]]:
    """(service -> tag, the services that have a Deployment at all), from Deployments labelled
    ``app=<service>``; with several, the first by namespace and name (the order ``kubectl get -A``
    lists them in, whose first the deployer takes)."""
    wanted = set(services)
    found: dict[str, str] = {}
    seen: set[str] = set()
    ordered = sorted(deployments, key=lambda d: (str((d.get("metadata") or {}).get("namespace") or ""),
                                                 str((d.get("metadata") or {}).get("name") or "")))
    for dep in ordered:
        app = str(((dep.get("metadata") or {}).get("labels") or {}).get("app") or "")
        if app in wanted and app not in seen:
            seen.add(app)
            tag = tag_of(dep)
            if tag:
                found[app] = tag
    return found, seen


def lookup(config: InstallConfig, services: list[str], *, cluster_outputs: Mapping[str, Any] | None = None,
           timeout: float = LOOKUP_TIMEOUT) -> RunningTags:
    """The running tags of ``services`` in the cluster the answers name; never raises."""
    if not services:
        return RunningTags()
    from digit_tui.errors import TaskError
    from digit_tui.infra.kube import Kube, status_message
    from digit_tui.tasks.release import kube_target

    try:
        target = kube_target(config, cluster_outputs)
    except TaskError:
        return RunningTags(note=f"no cluster configured: {len(services)} untagged services take no running tag")
    try:
        with Kube(target.kubeconfig, target.context, timeout=timeout) as kube:
            rtype = kube.resource("apps/v1", "Deployment")
            items, _ = kube.list(rtype, None, label_selector=f"app in ({','.join(sorted(set(services)))})")
    except Exception as exc:  # unreachable, refused, no such type: the render goes on without
        return RunningTags(note=f"the cluster did not answer within {timeout:.0f} s ({status_message(exc)[:200]}): "
                                f"{len(services)} untagged services take no running tag")
    tags, seen = pick(items, services)
    parts = []
    if tags:
        parts.append("take the tag running in the cluster: "
                     + ", ".join(f"{name}:{tag}" for name, tag in sorted(tags.items())))
    if len(seen) > len(tags):
        parts.append(f"{len(seen) - len(tags)} run with their chart's own tag and keep it")
    if len(services) > len(seen):
        parts.append(f"{len(set(services) - seen)} have no Deployment in the cluster and use their chart's own tag")
    return RunningTags(tags, note="untagged services: " + "; ".join(parts))
