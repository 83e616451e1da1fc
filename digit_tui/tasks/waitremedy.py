"""What the operator does about a workload that did not become ready, in digit-tui's terms.

``infra.kubewait`` says which category a wait stopped on (an image that cannot be pulled, a
missing Secret, too little capacity...) and knows nothing of DIGIT or of digit-tui's commands; the
release task words the next step from here.
"""

from __future__ import annotations

from digit_tui.infra.kubewait import CONFIG, CRASH, IMAGE, JOB_FAILED, PROGRESSING, UNSCHEDULABLE, Diagnosis

REMEDIES: dict[str, str] = {
    IMAGE: "check the image name and tag in the release manifest and that the registry is reachable "
           "from the nodes (and its pull secret), then run `digit-tui install` again",
    CONFIG: "cluster-configs must create it: check the environment and secrets files under the state "
            "directory's helm/ folder, then run `digit-tui install` again",
    UNSCHEDULABLE: "add nodes or memory/CPU (see `digit-tui size`), or lower the replicas or requests "
                   "in the environment file, then run `digit-tui install` again",
    CRASH: "read the container log (kubectl logs --previous) and fix the configuration it complains "
           "about, then run `digit-tui install` again",
    JOB_FAILED: "read the job's pod log (kubectl logs job/NAME), fix the cause, then run `digit-tui install` again",
    PROGRESSING: "the pods are still starting: check the nodes and pods (kubectl get pods -A), then run "
                 "`digit-tui install` again to keep waiting",
}


def remedy_for(diagnosis: Diagnosis) -> str:
    return REMEDIES[diagnosis.kind]
