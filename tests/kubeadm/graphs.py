"""The kubeadm phase as a graph the real engine loads (``--graph tests.kubeadm.graphs:lab_graph``).

The engine process inherits ``DT_KUBEADM`` (JSON: the lab's hosts, the files
and the test's timings) from the test; the answers file it is given only has
to validate. Retries, SSH keepalives and step polling are shortened through
the phase's own typed settings (RetryPolicy, SshOptions, Timeouts), never by
sleeping in the test.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

from digit_tui.answers.model import Cluster, Host
from digit_tui.engine.rundoc import GraphInput
from digit_tui.engine.task import RetryPolicy, Task
from digit_tui.infra.kubeadm.packages import Packages
from digit_tui.infra.ssh import SshOptions
from digit_tui.tasks.kubeadm import CniSettings, LbSettings, Timeouts, kubeadm_tasks

ENV = "DT_KUBEADM"
# Keepalives find a drop in 3 s. The connect/handshake timeout is not shortened as far: on a loaded
# 2-core machine (xdist workers side by side) a handshake can take over 2 s, which the phase reads as
# the network gone, waiting for it instead of going on.
FAST_SSH = SshOptions(timeout=5.0, keepalive_interval=1.0, keepalive_count=3)
FAST_RETRY = RetryPolicy(attempts=2, base_delay=0.2, max_delay=0.5, jitter=0.0, network_wait=120.0)


def lab_graph(graph: GraphInput) -> list[Task]:
    spec = json.loads(os.environ[ENV])
    hosts = [Host(**h) for h in spec["hosts"]]
    cluster = Cluster(mode="kubeadm", api_endpoint=spec.get("api_endpoint"))
    packages = Packages(kubernetes_version="1.30", key_file=Path(spec["key_file"]))
    return kubeadm_tasks(hosts, cluster, graph.state_dir, environment=spec.get("environment", "kubeadm-lab"),
                         packages=packages, cni=CniSettings(manifest=spec["manifest"]),
                         lb=LbSettings(install=True), ssh_options=FAST_SSH, retry=FAST_RETRY,
                         timeouts=Timeouts(poll=0.1))
