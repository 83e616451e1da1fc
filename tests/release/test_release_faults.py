"""The install rides out the cluster API going away (a VPN drop) with no operator action."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path
from typing import Any

from tests.support import wait_until

from .conftest import REPO, Install


def test_install_waits_out_an_api_partition_and_finishes(cluster: Any, tmp_path: Path) -> None:
    inst = Install(tmp_path, cluster.kubeconfig_path)
    inst.write_answers(modules=[])
    proc = subprocess.Popen([sys.executable, "-m", "digit_tui.cli", "install", "--answers", str(inst.answers),
                             "--headless", "--state-dir", str(inst.state)],
                            env=inst.environ, cwd=REPO, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        # Cut the API once the release is under way: every connection is reset, open watches break.
        wait_until(lambda: (inst.state / "journal.db").exists() and inst.status()["run"] is not None
                   and inst.tasks().get("cluster-configs", {}).get("state") == "done",
                   timeout=120, what="cluster-configs deployed")
        cluster.fault({"kind": "partition", "seconds": 8, "mode": "refuse"})
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
