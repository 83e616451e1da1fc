"""The install rides out the cluster API going away (a VPN drop) with no operator action."""

from __future__ import annotations

import socket
import subprocess
import sys
from pathlib import Path
from typing import Any

import yaml
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from tests.support import wait_until

from .conftest import REPO, Install


def closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def test_install_waits_out_an_api_partition_and_finishes(cluster: Any, tmp_path: Path) -> None:
    inst = Install(tmp_path, cluster.kubeconfig_path)
    inst.write_answers(modules=[])
    # A VM of the install that does not answer (a closed SSH port) must not keep the release waiting.
    key = tmp_path / "id_ed25519"
    key.write_bytes(Ed25519PrivateKey.generate().private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.OpenSSH, serialization.NoEncryption()))
    key.chmod(0o600)
    doc = yaml.safe_load(inst.answers.read_text())
    doc["hosts"] = [{"name": "worker-1", "address": "127.0.0.1", "port": closed_port(), "user": "ubuntu",
                     "ssh_key": str(key), "roles": ["worker"]}]
    inst.answers.write_text(yaml.safe_dump(doc))
    # The release graph alone: the prerequisites would (rightly) stop at the dead VM before the release.
    proc = subprocess.Popen([sys.executable, "-m", "digit_tui.cli", "install", "--answers", str(inst.answers),
                             "--headless", "--state-dir", str(inst.state),
                             "--graph", "digit_tui.tasks.graph:release_tasks"],
                            env=inst.environ, cwd=REPO, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        # Cut the API once the release is under way: every connection is reset, open watches break.
        def deployed() -> bool:
            assert proc.poll() is None, proc.communicate()[1][-2000:]
            return ((inst.state / "journal.db").exists() and inst.status()["run"] is not None
                    and inst.tasks().get("cluster-configs", {}).get("state") == "done")

        wait_until(deployed, timeout=120, what="cluster-configs deployed")
        cluster.fault({"kind": "partition", "seconds": 300, "mode": "refuse"})
        parked = wait_until(lambda: [t for t in inst.tasks().values() if t["state"] == "waiting-for-network"],
                            timeout=60, what="a task parked in waiting-for-network")
        assert all(t["message"].endswith("waiting for cluster API") for t in parked), parked
        # The operator's retry of a waiting task is taken (it tries again at once, and parks again).
        retried = inst.cli("retry", parked[0]["id"], "--state-dir", str(inst.state))
        assert retried.returncode == 0 and "retry: ok" in retried.stdout, retried.stderr
        wait_until(lambda: {"retry requested by operator: trying again now", "running: retrying now, as the "
                            "operator asked"} <= {m for t, m in inst.events() if t == parked[0]["id"]},
                   timeout=10, what="the retry in the journal")
        cluster.clear_faults()
        out, err = proc.communicate(timeout=240)
    except BaseException:
        proc.kill()
        inst.kill_engine()
        raise
    assert proc.returncode == 0, err[-2000:]
    st = inst.status()
    assert st["complete"] and all(t["state"] == "done" for t in st["tasks"])
    # The journal shows the outage being handled, not ignored: transient failures were retried.
    messages = [m for _, m in inst.events()]
    assert any("transient" in m and "retrying in" in m for m in messages), \
        "no task saw the partition:\n" + "\n".join(messages[-40:])
    assert not any("ssh worker-1" in m for m in messages if "waiting" in m)
