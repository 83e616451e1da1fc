"""The simulated kubelets of every node: container state machines, pod status, kubelet events.

Per scheduled pod: volumes mount (missing Secret/ConfigMap volumes -> FailedMount, the pod
stays ContainerCreating), then init containers run one after another to completion, then
the app containers start: pull (or "already present on machine"), create (missing env
sources -> CreateContainerConfigError), start, ready after ``ready_delay`` when the
container has a probe. Unavailable images go ErrImagePull -> ImagePullBackOff with a
growing back-off; crash rules make containers exit and restart with CrashLoopBackOff.
Everything is driven by due times in the manager's timer heap: a pod is reconciled only
when one of its containers has something to do.
"""

from __future__ import annotations

import hashlib
import logging
import time
from collections.abc import Hashable
from dataclasses import dataclass, field
from typing import Any

from digit_tui.sandbox import podlogs
from digit_tui.sandbox.controllers.base import Controller
from digit_tui.sandbox.controllers.util import clone, is_deleting, meta, name_of, ns_of, spec_of, status_of
from digit_tui.sandbox.resources import CONFIGMAPS, NODES, PODS, SECRETS, ResourceType

log = logging.getLogger("digit_tui.sandbox.kubelet")

Obj = dict[str, Any]
PodKey = tuple[str, str]

_MAX_BACKOFF = 300.0
_FIRST_BACKOFF = 10.0
_RETRY_CONFIG = 10.0  # seconds at speed 1 between retries of a missing Secret/ConfigMap


@dataclass
class Instance:
    """One run of a container, kept for logs (``previous=True`` reads the one before the last)."""

    started: float  # wall clock
    finished: float | None = None
    exit_code: int | None = None
    crash_log: str | None = None


@dataclass
class CSim:
    name: str
    image: str
    init: bool
    spec: Obj
    step: str = "wait"  # wait, pull, pulling, pull_err, pull_backoff, create, starting, running, exited,
    #                     crashloop, done
    due: float | None = None
    waiting_reason: str = "ContainerCreating"
    waiting_message: str = ""
    started_at: str | None = None
    started_mono: float = 0.0
    ready_due: float | None = None
    exit_due: float | None = None
    ready: bool = False
    terminated: Obj | None = None
    last_terminated: Obj | None = None
    restarts: int = 0
    pull_backoff: float = 0.0
    crash_backoff: float = 0.0
    container_id: str = ""
    image_id: str = ""
    instances: list[Instance] = field(default_factory=list)


@dataclass
class PSim:
    uid: str
    node: str
    pod_ip: str
    start_time: str
    init: list[CSim]
    main: list[CSim]
    restart_policy: str
    mounted: bool = False
    mount_due: float | None = None
    init_done: bool = False
    phase: str = "Pending"
    conditions: dict[str, tuple[str, str]] = field(default_factory=dict)  # type -> (status, transition time)
    blocked_on_config: bool = False

    def containers(self) -> list[CSim]:
        return self.init + self.main

    def next_due(self) -> float | None:
        dues = [d for c in self.containers() for d in (c.due, c.ready_due, c.exit_due) if d is not None]
        if self.mount_due is not None:
            dues.append(self.mount_due)
        return min(dues) if dues else None


def _image_ref(image: str) -> str:
    """The fully qualified reference containerd reports ("docker.io/library/x:latest")."""
    name = image.split("@", 1)[0]
    first = name.split("/", 1)[0]
    has_registry = "/" in name and ("." in first or ":" in first or first == "localhost")
    if not has_registry:
        name = ("docker.io/" + name) if "/" in name else ("docker.io/library/" + name)
    last = name.rsplit("/", 1)[-1]
    if ":" not in last and "@" not in image:
        name += ":latest"
    return name


def _digest(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()


def _image_size(image: str) -> int:
    return 40_000_000 + int(_digest(image)[:8], 16) % 360_000_000


def _has_probe(c: Obj) -> bool:
    return bool(c.get("readinessProbe") or c.get("startupProbe"))


def _wall() -> float:
    return time.time()


class Kubelet(Controller):
    name = "kubelet"
    watches: tuple[ResourceType, ...] = (PODS, SECRETS, CONFIGMAPS, NODES)
    component = "kubelet"

    def __init__(self, mgr: Any) -> None:
        super().__init__(mgr)
        self._sims: dict[PodKey, PSim] = {}
        self._images: dict[str, set[str]] = {}  # node -> images present
        self._ips: dict[str, int] = {}  # node -> last host octet handed out
        self._blocked: dict[str, set[PodKey]] = {}  # namespace -> pods waiting for a Secret/ConfigMap
        self._node_ready: dict[str, bool] = {}

    # --- routing -------------------------------------------------------------------------------
    def on_event(self, event_type: str, rt: ResourceType, obj: Obj, old: Obj | None) -> None:
        if rt.key == PODS.key:
            key = (ns_of(obj), name_of(obj))
            if event_type == "DELETED":
                sim = self._sims.pop(key, None)
                if sim is not None:
                    self._blocked.get(key[0], set()).discard(key)
                    self._stopped(obj, sim)
                return
            if spec_of(obj).get("nodeName"):
                sim = self._sims.get(key)
                if sim is None or sim.uid != meta(obj).get("uid") or (old is not None and _status_differs(old, obj)):
                    self.enqueue(key)
        elif rt.key in (SECRETS.key, CONFIGMAPS.key):
            for key in list(self._blocked.get(ns_of(obj), ())):
                self.enqueue(key)
        elif rt.key == NODES.key:
            name = name_of(obj)
            ready = event_type != "DELETED" and _node_is_ready(obj)
            if self._node_ready.get(name) != ready:
                self._node_ready[name] = ready
                for pod in self.cache.pods_on_node(name):
                    self.enqueue((ns_of(pod), name_of(pod)))

    def resync(self) -> None:
        for node in self.cache.list(NODES):
            self._node_ready[name_of(node)] = _node_is_ready(node)
        for pod in self.cache.list(PODS):
            if spec_of(pod).get("nodeName"):
                self.enqueue((ns_of(pod), name_of(pod)))

    # --- reconcile -----------------------------------------------------------------------------
    def reconcile(self, key: Hashable) -> None:
        assert isinstance(key, tuple)
        pod = self.cache.get(PODS, key[0], key[1])
        if pod is None:
            self._sims.pop(key, None)
            return
        node_name = spec_of(pod).get("nodeName")
        node = self.cache.get(NODES, None, node_name) if node_name else None
        if node is None:
            return
        sim = self._sims.get(key)
        if sim is None or sim.uid != meta(pod).get("uid"):
            sim = self._new_sim(pod, node)
            self._sims[key] = sim
        node_ready = _node_is_ready(node)
        now = time.monotonic()
        if node_ready and not is_deleting(pod):
            self._advance(sim, pod, now)
        status = self._status(sim, pod, node_ready)
        if _status_changed(status_of(pod), status):
            new = clone(pod)
            new["status"] = status
            self.store.update(PODS, new, subresource="status")
        nxt = sim.next_due()
        if nxt is not None and node_ready:
            self.enqueue(key, max(0.0, nxt - time.monotonic()))
        blocked = self._blocked.setdefault(key[0], set())
        if sim.blocked_on_config:
            blocked.add(key)
        else:
            blocked.discard(key)

    def _new_sim(self, pod: Obj, node: Obj) -> PSim:
        spec = spec_of(pod)
        node_name = name_of(node)
        n = self._ips.get(node_name, 1) + 1
        if n > 254:
            n = 2
        self._ips[node_name] = n
        cidr = spec_of(node).get("podCIDR") or "10.244.0.0/24"
        base = cidr.split("/")[0].rsplit(".", 1)[0]
        inits = [CSim(c.get("name", ""), str(c.get("image", "")), True, c, waiting_reason="PodInitializing")
                 for c in spec.get("initContainers") or ()]
        mains = [CSim(c.get("name", ""), str(c.get("image", "")), False, c,
                      waiting_reason="PodInitializing" if inits else "ContainerCreating")
                 for c in spec.get("containers") or ()]
        existing = status_of(pod).get("startTime")
        sim = PSim(uid=meta(pod).get("uid", ""), node=node_name, pod_ip=f"{base}.{n}",
                   start_time=existing or self.now(), init=inits, main=mains,
                   restart_policy=spec.get("restartPolicy", "Always"))
        sim.mount_due = time.monotonic()
        return sim

    # --- the state machine ---------------------------------------------------------------------
    def _advance(self, sim: PSim, pod: Obj, now: float) -> None:
        for _ in range(64):  # bounded: each pass moves at least one due step or stops
            if not self._advance_once(sim, pod, now):
                return

    def _advance_once(self, sim: PSim, pod: Obj, now: float) -> bool:
        if not sim.mounted:
            if sim.mount_due is None or sim.mount_due > now:
                return False
            problem = self._volume_problem(pod)
            if problem:
                sim.blocked_on_config = True
                vol, msg = problem
                self._event(pod, sim, "FailedMount", f'MountVolume.SetUp failed for volume "{vol}" : {msg}',
                            "Warning")
                sim.mount_due = now + self.cfg.delay(_RETRY_CONFIG)
                return False
            sim.blocked_on_config = False
            sim.mounted = True
            sim.mount_due = None
            first = sim.init[0] if sim.init else None
            if first is not None:
                first.step, first.due = "pull", now
            else:
                self._start_main(sim, now)
            return True
        moved = False
        for c in sim.containers():
            if c.due is not None and c.due <= now:
                c.due = None
                self._step(sim, pod, c, now)
                moved = True
            if c.exit_due is not None and c.exit_due <= now:
                c.exit_due = None
                self._exit(sim, pod, c, now)
                moved = True
            if c.ready_due is not None and c.ready_due <= now:
                c.ready_due = None
                if c.step == "running":
                    c.ready = True
                moved = True
        return moved

    def _start_main(self, sim: PSim, now: float) -> None:
        sim.init_done = True
        for c in sim.main:
            c.waiting_reason = "ContainerCreating"
            c.step, c.due = "pull", now

    def _step(self, sim: PSim, pod: Obj, c: CSim, now: float) -> None:
        d = self.cfg.delay
        if c.step == "pull":
            policy = c.spec.get("imagePullPolicy", "IfNotPresent")
            present = c.image in self._images.get(sim.node, ())
            if present and policy != "Always":
                self._event(pod, sim, "Pulled", f'Container image "{c.image}" already present on machine')
                c.image_id = self._image_id(c.image)
                c.step, c.due = "create", now
                return
            self._event(pod, sim, "Pulling", f'Pulling image "{c.image}"')
            c.step, c.due = "pulling", now + d(self.cfg.pull_delay)
        elif c.step == "pulling":
            if self.cfg.image_unavailable(c.image):
                ref = _image_ref(c.image)
                err = (f'rpc error: code = NotFound desc = failed to pull and unpack image "{ref}": '
                       f'failed to resolve reference "{ref}": {ref}: not found')
                self._event(pod, sim, "Failed", f'Failed to pull image "{c.image}": {err}', "Warning")
                self._event(pod, sim, "Failed", "Error: ErrImagePull", "Warning")
                c.waiting_reason, c.waiting_message = "ErrImagePull", err
                c.pull_backoff = min(_MAX_BACKOFF, c.pull_backoff * 2) if c.pull_backoff else _FIRST_BACKOFF
                c.step, c.due = "pull_err", now + d(min(1.0, c.pull_backoff))
                return
            # report the simulated duration (what a real pull at speed 1 would have taken)
            took = max(0.001, self.cfg.pull_delay * (0.8 + (int(_digest(c.image + sim.uid)[:4], 16) % 400) / 1000))
            self._event(pod, sim, "Pulled",
                        f'Successfully pulled image "{c.image}" in {took:.3f}s ({took:.3f}s including waiting). '
                        f"Image size: {_image_size(c.image)} bytes.")
            self._images.setdefault(sim.node, set()).add(c.image)
            c.image_id = self._image_id(c.image)
            c.pull_backoff = 0.0
            c.step, c.due = "create", now
        elif c.step == "pull_err":
            msg = f'Back-off pulling image "{c.image}"'
            self._event(pod, sim, "BackOff", msg)
            self._event(pod, sim, "Failed", "Error: ImagePullBackOff", "Warning")
            c.waiting_reason, c.waiting_message = "ImagePullBackOff", msg
            c.step, c.due = "pull", now + d(max(0.0, c.pull_backoff - 1.0))
        elif c.step == "create":
            problem = self._env_problem(pod, c.spec)
            if problem:
                sim.blocked_on_config = True
                self._event(pod, sim, "Failed", f"Error: {problem}", "Warning")
                c.waiting_reason, c.waiting_message = "CreateContainerConfigError", problem
                c.step, c.due = "create", now + d(_RETRY_CONFIG)
                return
            sim.blocked_on_config = any(x.waiting_reason == "CreateContainerConfigError" and x is not c
                                        for x in sim.containers())
            if c.waiting_reason == "CreateContainerConfigError":
                c.waiting_reason, c.waiting_message = "ContainerCreating", ""
            c.step, c.due = "starting", now + d(self.cfg.start_delay)
        elif c.step == "starting":
            self._run(sim, pod, c, now)
        elif c.step == "exited":
            if self._restarts(sim, c):
                if c.restarts == 0:
                    self._restart(sim, pod, c, now)  # the first restart is immediate, like the kubelet's
                    return
                c.crash_backoff = min(_MAX_BACKOFF, c.crash_backoff * 2) if c.crash_backoff else _FIRST_BACKOFF
                c.step = "crashloop"
                c.last_terminated = c.terminated    # the kubelet's lastState while it waits to restart
                c.waiting_reason = "CrashLoopBackOff"
                c.waiting_message = (f"back-off {int(c.crash_backoff)}s restarting failed container={c.name} "
                                     f"pod={name_of(pod)}_{ns_of(pod)}({sim.uid})")
                self._event(pod, sim, "BackOff", f"Back-off restarting failed container {c.name} in pod "
                                                 f"{name_of(pod)}_{ns_of(pod)}({sim.uid})", "Warning")
                c.due = now + d(c.crash_backoff)
            else:
                c.step = "done"
                self._after_terminal(sim, pod, c, now)
        elif c.step == "crashloop":
            self._restart(sim, pod, c, now)

    def _run(self, sim: PSim, pod: Obj, c: CSim, now: float) -> None:
        d = self.cfg.delay
        self._event(pod, sim, "Created", f"Created container {c.name}")
        self._event(pod, sim, "Started", f"Started container {c.name}")
        c.step = "running"
        c.waiting_reason, c.waiting_message = "", ""
        c.terminated = None
        c.started_at = self.now()
        c.started_mono = now
        c.container_id = "containerd://" + _digest(f"{sim.uid}/{c.name}/{c.restarts}/{self.cfg.seed}")
        c.instances.append(Instance(started=_wall()))
        rule = self.cfg.crash_rule_for(c.image)
        if rule is not None:
            c.exit_due = now + d(rule.after)
        elif c.init or sim.restart_policy != "Always":
            c.exit_due = now + d(self.cfg.run_duration)
        if not c.init:
            if _has_probe(c.spec):
                c.ready_due = now + d(self.cfg.ready_delay)
            else:
                c.ready = True

    def _exit(self, sim: PSim, pod: Obj, c: CSim, now: float) -> None:
        if c.step != "running":
            return
        rule = self.cfg.crash_rule_for(c.image)
        code = rule.exit_code if rule is not None else 0
        c.ready = False
        c.ready_due = None
        c.terminated = {"exitCode": code, "reason": "Completed" if code == 0 else "Error",
                        "startedAt": c.started_at, "finishedAt": self.now(), "containerID": c.container_id}
        if c.instances:
            inst = c.instances[-1]
            inst.finished, inst.exit_code = _wall(), code
            inst.crash_log = rule.log if rule is not None and code != 0 else None
        c.step = "exited"
        if code == 0 and c.init:
            c.step = "done"
            self._after_terminal(sim, pod, c, now)
            return
        c.due = now + (0.0 if not self._restarts(sim, c) else self.cfg.delay(1.0))

    def _restarts(self, sim: PSim, c: CSim) -> bool:
        code = (c.terminated or {}).get("exitCode", 0)
        if sim.restart_policy == "Always":
            return not (c.init and code == 0)
        if sim.restart_policy == "OnFailure":
            return code != 0
        return False

    def _restart(self, sim: PSim, pod: Obj, c: CSim, now: float) -> None:
        c.last_terminated = c.terminated
        c.restarts += 1
        self._event(pod, sim, "Pulled", f'Container image "{c.image}" already present on machine')
        self._run(sim, pod, c, now)

    def _after_terminal(self, sim: PSim, pod: Obj, c: CSim, now: float) -> None:
        """A container finished for good: the next init container, the app containers, or the pod's end."""
        if c.init:
            code = (c.terminated or {}).get("exitCode", 0)
            if code != 0:
                sim.phase = "Failed"
                return
            idx = sim.init.index(c)
            if idx + 1 < len(sim.init):
                nxt = sim.init[idx + 1]
                nxt.step, nxt.due = "pull", now
            else:
                self._start_main(sim, now)

    # --- config look-ups -------------------------------------------------------------------------
    def _source_problem(self, ns: str, kind: str, name: str, key: str | None) -> str | None:
        rt = SECRETS if kind == "secret" else CONFIGMAPS
        obj = self.cache.get(rt, ns, name)
        if obj is None:
            return f'{kind} "{name}" not found'
        if key is not None:
            keys = set((obj.get("data") or {}).keys()) | set((obj.get("binaryData") or {}).keys()) | \
                set((obj.get("stringData") or {}).keys())
            if key not in keys:
                label = "Secret" if kind == "secret" else "ConfigMap"
                return f"couldn't find key {key} in {label} {ns}/{name}"
        return None

    def _env_problem(self, pod: Obj, c: Obj) -> str | None:
        ns = ns_of(pod)
        for src in c.get("envFrom") or ():
            for field_name, kind in (("secretRef", "secret"), ("configMapRef", "configmap")):
                ref = src.get(field_name)
                if ref and not ref.get("optional"):
                    p = self._source_problem(ns, kind, ref.get("name", ""), None)
                    if p:
                        return p
        for env in c.get("env") or ():
            vf = env.get("valueFrom") or {}
            for field_name, kind in (("secretKeyRef", "secret"), ("configMapKeyRef", "configmap")):
                ref = vf.get(field_name)
                if ref:
                    p = self._source_problem(ns, kind, ref.get("name", ""), ref.get("key"))
                    if p and not ref.get("optional"):
                        return p
        return None

    def _volume_problem(self, pod: Obj) -> tuple[str, str] | None:
        ns = ns_of(pod)
        for vol in spec_of(pod).get("volumes") or ():
            vname = vol.get("name", "")
            sec = vol.get("secret")
            if sec and not sec.get("optional"):
                p = self._source_problem(ns, "secret", sec.get("secretName", ""), None)
                if p:
                    return vname, p
            cm = vol.get("configMap")
            if cm and not cm.get("optional"):
                p = self._source_problem(ns, "configmap", cm.get("name", ""), None)
                if p:
                    return vname, p
            for src in (vol.get("projected") or {}).get("sources") or ():
                for field_name, kind in (("secret", "secret"), ("configMap", "configmap")):
                    ref = src.get(field_name)
                    if ref and not ref.get("optional"):
                        p = self._source_problem(ns, kind, ref.get("name", ""), None)
                        if p:
                            return vname, p
        return None

    # --- status --------------------------------------------------------------------------------
    def _cstatus(self, c: CSim) -> Obj:
        if c.step in ("running",):
            state: Obj = {"running": {"startedAt": c.started_at}}
        elif c.terminated is not None and c.step in ("exited", "done"):
            state = {"terminated": dict(c.terminated)}
        else:
            waiting: Obj = {"reason": c.waiting_reason or "ContainerCreating"}
            if c.waiting_message:
                waiting["message"] = c.waiting_message
            state = {"waiting": waiting}
        out: Obj = {"name": c.name, "state": state,
                    "lastState": {"terminated": dict(c.last_terminated)} if c.last_terminated else {},
                    "ready": c.ready, "restartCount": c.restarts, "image": c.image,
                    "imageID": c.image_id, "started": c.step == "running"}
        if c.container_id:
            out["containerID"] = c.container_id
        return out

    def _status(self, sim: PSim, pod: Obj, node_ready: bool) -> Obj:
        old = status_of(pod)
        mains = sim.main
        if sim.phase != "Failed":
            terminal = [c for c in mains if c.step == "done"]
            if mains and len(terminal) == len(mains):
                failed = any((c.terminated or {}).get("exitCode", 0) != 0 for c in mains)
                sim.phase = "Failed" if failed else "Succeeded"
            elif sim.init_done and any(c.started_at for c in mains):
                sim.phase = "Running"
            else:
                sim.phase = "Pending"
        now = self.now()
        pending_init = [c.name for c in sim.init if c.step != "done"]
        unready = [c.name for c in mains if not c.ready]

        def cond(ctype: str, ok: bool, reason: str = "", message: str = "") -> Obj:
            status = "True" if ok else "False"
            prev = sim.conditions.get(ctype)
            if prev is None or prev[0] != status:
                sim.conditions[ctype] = (status, now)
            c: Obj = {"type": ctype, "status": status, "lastProbeTime": None,
                      "lastTransitionTime": sim.conditions[ctype][1]}
            if not ok and reason:
                c["reason"] = reason
                c["message"] = message
            elif ok and reason == "PodCompleted":
                c["reason"] = reason
            return c

        done = sim.phase in ("Succeeded", "Failed")
        containers_ready = not unready and not done
        conditions = [
            cond("PodReadyToStartContainers", sim.mounted),
            cond("Initialized", not pending_init or done, "ContainersNotInitialized",
                 f"containers with incomplete status: [{' '.join(pending_init)}]"),
            cond("Ready", containers_ready and node_ready, "PodCompleted" if done else "ContainersNotReady",
                 "" if done else f"containers with unready status: [{' '.join(unready)}]"),
            cond("ContainersReady", containers_ready, "PodCompleted" if done else "ContainersNotReady",
                 "" if done else f"containers with unready status: [{' '.join(unready)}]"),
            cond("PodScheduled", True),
        ]
        for c in conditions:
            if done and c["type"] in ("Ready", "ContainersReady"):
                c["reason"] = "PodCompleted"
                c.pop("message", None)
            if not node_ready and c["type"] == "Ready" and not done:
                # what the node lifecycle controller writes for pods of an unreachable node
                c.pop("reason", None)
                c.pop("message", None)
        status: Obj = {
            "phase": sim.phase,
            "conditions": conditions,
            "hostIP": self._host_ip(sim.node),
            "hostIPs": [{"ip": self._host_ip(sim.node)}],
            "podIP": sim.pod_ip,
            "podIPs": [{"ip": sim.pod_ip}],
            "startTime": sim.start_time,
            "containerStatuses": [self._cstatus(c) for c in mains],
        }
        if sim.init:
            status["initContainerStatuses"] = [self._cstatus(c) for c in sim.init]
        if old.get("qosClass"):
            status["qosClass"] = old["qosClass"]
        return status

    def _host_ip(self, node: str) -> str:
        obj = self.cache.get(NODES, None, node)
        for addr in status_of(obj or {}).get("addresses") or ():
            if addr.get("type") == "InternalIP":
                return str(addr.get("address"))
        return ""

    def _image_id(self, image: str) -> str:
        return f"{_image_ref(image).rsplit(':', 1)[0]}@sha256:{_digest(image)}"

    def _event(self, pod: Obj, sim: PSim, reason: str, message: str, type_: str = "Normal") -> None:
        try:
            self.store.record_event(pod, PODS, reason, message, type_=type_, component="kubelet", host=sim.node)
        except Exception as exc:
            log.debug("event %s dropped: %s", reason, exc)

    def _stopped(self, pod: Obj, sim: PSim) -> None:
        for c in sim.containers():
            if c.step == "running":
                self._event(pod, sim, "Killing", f"Stopping container {c.name}")

    # --- logs ----------------------------------------------------------------------------------
    def pod_log(self, namespace: str, pod_name: str, container: str | None, *, tail_lines: int | None = None,
                previous: bool = False) -> str | None:
        from digit_tui.sandbox.store import ApiError

        pod = self.cache.get(PODS, namespace, pod_name)
        if pod is None:
            return None
        spec = spec_of(pod)
        names = [c.get("name") for c in spec.get("containers") or ()]
        init_names = [c.get("name") for c in spec.get("initContainers") or ()]
        if container is None:
            if not names:
                return None
            container = names[0]
        if container not in names and container not in init_names:
            return None
        sim = self._sims.get((namespace, pod_name))
        c = next((x for x in sim.containers() if x.name == container), None) if sim else None
        if c is None or not c.instances:
            reason = (c.waiting_reason if c else "") or "ContainerCreating"
            if previous:
                raise ApiError.bad_request(
                    f'previous terminated container "{container}" in pod "{pod_name}" not found')
            raise ApiError.bad_request(
                f'container "{container}" in pod "{pod_name}" is waiting to start: {reason}')
        if previous:
            # The kubelet reads lastState.terminated: the run before a running container, the run that
            # just ended while it waits in CrashLoopBackOff, the one before a terminated container's.
            finished = [i for i in c.instances if i.finished is not None]
            candidates = finished if c.step in ("running", "crashloop") else finished[:-1]
            if not candidates:
                raise ApiError.bad_request(
                    f'previous terminated container "{container}" in pod "{pod_name}" not found')
            inst = candidates[-1]
        else:
            inst = c.instances[-1]
        text = podlogs.render(
            podlogs.LogContext(namespace=namespace, pod=pod_name, container=container, image=c.image,
                               init=c.init, started=inst.started, finished=inst.finished,
                               exit_code=inst.exit_code, crash_log=inst.crash_log,
                               ready_after=self.cfg.delay(self.cfg.ready_delay), now=_wall(),
                               seed=self.cfg.seed),
        )
        if tail_lines is not None:
            lines = text.splitlines(keepends=True)
            text = "".join(lines[-tail_lines:]) if tail_lines > 0 else ""
        return text


def _node_is_ready(node: Obj) -> bool:
    for c in status_of(node).get("conditions") or ():
        if c.get("type") == "Ready":
            return c.get("status") == "True"
    return False


def _status_differs(old: Obj, new: Obj) -> bool:
    """A pod change the kubelet must look at: anything but its own status writes."""
    return old.get("spec") != new.get("spec") or meta(old).get("deletionTimestamp") != meta(new).get(
        "deletionTimestamp")


def _status_changed(old: Obj, new: Obj) -> bool:
    for k, v in new.items():
        if old.get(k) != v:
            return True
    return any(k not in new for k in old if k not in ("qosClass", "message", "reason", "nominatedNodeName"))
