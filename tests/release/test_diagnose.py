"""readiness() and diagnose_pods() on hand-written objects: the one line an operator reads
when a service does not come up, and whether waiting longer could help."""

from __future__ import annotations

from typing import Any

from digit_tui.infra.kubewait import (
    CONFIG,
    CRASH,
    IMAGE,
    JOB_FAILED,
    PROGRESSING,
    UNSCHEDULABLE,
    diagnose_pods,
    readiness,
)
from digit_tui.tasks.waitremedy import remedy_for

Obj = dict[str, Any]


def deployment(replicas: int = 1, ready: int = 0, generation: int = 1, observed: int = 1) -> Obj:
    return {"apiVersion": "apps/v1", "kind": "Deployment",
            "metadata": {"name": "egov-user", "namespace": "egov", "generation": generation},
            "spec": {"replicas": replicas, "selector": {"matchLabels": {"app": "egov-user"}}},
            "status": {"observedGeneration": observed, "replicas": replicas, "updatedReplicas": replicas,
                       "readyReplicas": ready, "availableReplicas": ready}}


def pod(name: str = "egov-user-7d9f-abcde", *, phase: str = "Pending", containers: list[Obj] | None = None,
        init: list[Obj] | None = None, conditions: list[Obj] | None = None,
        image: str = "egovio/egov-user:v9") -> Obj:
    return {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": name, "namespace": "egov"},
            "spec": {"containers": [{"name": "egov-user", "image": image}],
                     "initContainers": [{"name": "db-migration", "image": "egovio/egov-user-db:v9"}]},
            "status": {"phase": phase, "conditions": conditions or [],
                       "containerStatuses": containers or [], "initContainerStatuses": init or []}}


def waiting(reason: str, message: str = "", name: str = "egov-user", restarts: int = 0,
            last_exit: int | None = None) -> Obj:
    cs: Obj = {"name": name, "ready": False, "restartCount": restarts,
               "state": {"waiting": {"reason": reason, "message": message}}}
    if last_exit is not None:
        cs["lastState"] = {"terminated": {"exitCode": last_exit, "reason": "Error"}}
    return cs


def test_image_that_cannot_be_pulled_is_named_and_permanent() -> None:
    d = diagnose_pods(deployment(), [pod(containers=[waiting("ImagePullBackOff", 'Back-off pulling image "x"')])])
    assert d.message == "image egovio/egov-user:v9 cannot be pulled"
    assert d.kind == IMAGE and d.permanent
    assert "tag" in remedy_for(d)


def test_first_pull_error_is_not_yet_permanent() -> None:
    d = diagnose_pods(deployment(), [pod(containers=[waiting("ErrImagePull")])])
    assert "egovio/egov-user:v9 cannot be pulled" in d.message
    assert not d.permanent


def test_init_container_image_is_the_one_named() -> None:
    d = diagnose_pods(deployment(), [pod(init=[waiting("ImagePullBackOff", name="db-migration")],
                                         containers=[waiting("PodInitializing")])])
    assert d.message == "image egovio/egov-user-db:v9 cannot be pulled"


def test_missing_secret_names_secret_and_namespace() -> None:
    d = diagnose_pods(deployment(), [pod(containers=[waiting("CreateContainerConfigError", 'secret "db" not found')])])
    assert d.message == "secret db missing in namespace egov"
    assert d.kind == CONFIG and d.permanent


def test_missing_configmap_key_is_explained() -> None:
    msg = "couldn't find key db-url in ConfigMap egov/egov-config"
    d = diagnose_pods(deployment(), [pod(containers=[waiting("CreateContainerConfigError", msg)])])
    assert d.message == "key db-url missing in configmap egov-config in namespace egov"


def test_unschedulable_pod_quotes_the_scheduler() -> None:
    cond = {"type": "PodScheduled", "status": "False", "reason": "Unschedulable",
            "message": "0/3 nodes are available: 3 Insufficient memory."}
    d = diagnose_pods(deployment(), [pod(conditions=[cond])])
    assert d.message == "Pending: 0/3 nodes are available: 3 Insufficient memory."
    assert d.kind == UNSCHEDULABLE


def test_unschedulable_without_condition_message_reads_the_events() -> None:
    cond = {"type": "PodScheduled", "status": "False", "reason": "Unschedulable"}
    events = [{"reason": "FailedScheduling", "message": "0/3 nodes are available: 3 Insufficient cpu."}]
    d = diagnose_pods(deployment(), [pod(conditions=[cond])], events=lambda p: events)
    assert d.message == "Pending: 0/3 nodes are available: 3 Insufficient cpu."


def test_crash_loop_shows_the_last_log_lines() -> None:
    cs = waiting("CrashLoopBackOff", "back-off 40s", restarts=4, last_exit=1)
    seen: list[tuple[str, bool]] = []

    def logs(p: Obj, container: str, previous: bool) -> str:
        seen.append((container, previous))
        return "starting\nConnecting to db-service\nFATAL: password authentication failed for user \"egov\"\n"

    d = diagnose_pods(deployment(), [pod(phase="Running", containers=[cs])], logs=logs, crash_restarts=3)
    assert d.message.startswith("CrashLoopBackOff")
    assert "exit code 1" in d.message and "4 restarts" in d.message
    assert d.message.endswith('last log lines: starting | Connecting to db-service | '
                              'FATAL: password authentication failed for user "egov"')
    assert seen == [("egov-user", True)]  # the log of the crashed run, not of the waiting one
    assert d.kind == CRASH and d.permanent


def test_early_crash_is_not_yet_permanent() -> None:
    cs = waiting("CrashLoopBackOff", restarts=1, last_exit=1)
    d = diagnose_pods(deployment(), [pod(phase="Running", containers=[cs])], crash_restarts=3)
    assert d.kind == PROGRESSING


def test_running_but_not_ready_quotes_the_probe() -> None:
    cs = {"name": "egov-user", "ready": False, "restartCount": 0, "state": {"running": {}}}
    events = [{"reason": "Unhealthy", "message": "Readiness probe failed: HTTP probe failed with statuscode: 503"}]
    d = diagnose_pods(deployment(), [pod(phase="Running", containers=[cs])], events=lambda p: events)
    assert d.kind == PROGRESSING
    assert "not ready: Readiness probe failed: HTTP probe failed with statuscode: 503" in d.message


def test_no_pods_yet() -> None:
    d = diagnose_pods(deployment(), [])
    assert d.kind == PROGRESSING and "no pods yet" in d.message


def test_failed_job_is_permanent_with_its_log() -> None:
    job = {"apiVersion": "batch/v1", "kind": "Job", "metadata": {"name": "seed", "namespace": "egov"},
           "spec": {"completions": 1},
           "status": {"failed": 3, "conditions": [{"type": "Failed", "status": "True",
                                                   "reason": "BackoffLimitExceeded",
                                                   "message": "Job has reached the specified backoff limit"}]}}
    failed = pod("seed-x", phase="Failed")
    d = diagnose_pods(job, [failed], logs=lambda p, c, prev: "ERROR: relation eg_user does not exist\n")
    assert d.kind == JOB_FAILED
    assert "BackoffLimitExceeded" in d.message and "relation eg_user does not exist" in d.message


def test_readiness_of_each_workload_kind() -> None:
    assert readiness(deployment(2, 2)).ready
    assert not readiness(deployment(2, 1)).ready
    assert readiness(deployment(2, 1)).detail == "1/2 ready"
    assert not readiness(deployment(1, 1, generation=2, observed=1)).ready  # controller has not seen the change
    sts = {"kind": "StatefulSet", "metadata": {"generation": 1}, "spec": {"replicas": 3},
           "status": {"observedGeneration": 1, "readyReplicas": 3, "updatedReplicas": 3,
                      "currentRevision": "a", "updateRevision": "a"}}
    assert readiness(sts).ready
    sts_rolling = {**sts, "status": {**sts["status"], "updateRevision": "b", "updatedReplicas": 1}}
    assert not readiness(sts_rolling).ready
    ds = {"kind": "DaemonSet", "metadata": {"generation": 1},
          "status": {"observedGeneration": 1, "desiredNumberScheduled": 3, "numberReady": 2,
                     "updatedNumberScheduled": 3}}
    assert not readiness(ds).ready
    job = {"kind": "Job", "spec": {"completions": 2}, "status": {"succeeded": 2}}
    assert readiness(job).ready
