"""The sample release on the sandbox through the real CLI: after an install the engine checks every
task once more, and the next rerun is recorded in one pass from what those checks read
(engine/unchanged.py); an object deleted with the real kubectl sends the rerun back to the full
checks, which put it back."""

from __future__ import annotations

import json
import sqlite3

from digit_tui.engine import unchanged

from .conftest import Install
from .test_release_sandbox import ALL_TASKS, kget, kubectl

ONE_PASS = "checked the finished install in one pass"


def _check_events(inst: Install) -> int:
    db = sqlite3.connect(f"file:{inst.state / 'journal.db'}?mode=ro", uri=True)
    try:
        run = db.execute("SELECT id FROM runs ORDER BY created DESC, rowid DESC LIMIT 1").fetchone()[0]
        return int(db.execute("SELECT count(*) FROM events WHERE run_id=? AND kind='check'", (run,)).fetchone()[0])
    finally:
        db.close()


def test_a_converged_sample_install_reruns_in_one_pass_until_kubectl_deletes_an_object(install: Install) -> None:
    first, _ = install.install()
    assert first.returncode == 0, first.stderr + first.stdout[-3000:]

    # The engine checked every task once more after the install (its own checks saw the cluster
    # before it applied) and recorded what they read: the next rerun decides from that.
    quick, _ = install.install()
    assert quick.returncode == 0, quick.stderr
    assert ONE_PASS in quick.stderr and "install complete" in quick.stderr
    assert _check_events(install) == 0
    assert {t: s["state"] for t, s in install.tasks().items()} == {t: "done" for t in ALL_TASKS}
    record = json.loads((install.state / unchanged.RECORD).read_text())
    reads = [json.loads(key) for c in record["clusters"] for key in c["answers"]]
    assert ["get", "/api/v1/namespaces/egov/configmaps/digit-tui-release", []] in reads
    assert any(path.endswith("/rendered/egov-user.yaml") for path in record["files"])

    gone = kubectl(install, "delete", "configmap", "digit-tui-release", "-n", "egov")
    assert gone.returncode == 0, gone.stderr
    repaired, _ = install.install()
    assert repaired.returncode == 0, repaired.stderr
    assert ONE_PASS not in repaired.stderr
    assert install.applied() == {"release-record"}
    assert kget(install, "configmap", "digit-tui-release", "-n", "egov")["data"]["release"]
    after, _ = install.install()                # the checks after that repair were recorded too
    assert after.returncode == 0 and ONE_PASS in after.stderr, after.stderr
