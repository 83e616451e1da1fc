"""The SDC load balancer: its HAProxy configuration in the state directory, and installed on the lb host.

The configuration is always written to ``<state dir>/haproxy.cfg`` (for an SDC
team that runs the load balancer itself). With a host of role ``lb`` (and
``LbSettings.install``), HAProxy is also installed there, the configuration
checked with ``haproxy -c`` and put live with a reload. ``check`` reads the
host's facts: a rerun with the same configuration changes nothing.
"""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path

from digit_tui.answers.model import Host
from digit_tui.atomic import atomic_write
from digit_tui.engine.task import TaskContext
from digit_tui.errors import PermanentError
from digit_tui.infra import haproxy, lbhost
from digit_tui.infra.haproxy import HaproxyConfig
from digit_tui.tasks.kubeadm_fleet import Fleet, FleetTask, step_failure
from digit_tui.tasks.remote import Session, blocking, label

TASK_ID = "lb-haproxy"
CONFIG_FILE = "haproxy.cfg"


class HaproxyTask(FleetTask):
    def __init__(self, fleet: Fleet, config: HaproxyConfig, host: Host | None, deps: Iterable[str]) -> None:
        title = f"HAProxy on {host.name}" if host is not None else "write the load balancer's HAProxy configuration"
        super().__init__(fleet, TASK_ID, title, deps, [host] if host is not None else [], 1500)
        self.host = host
        self.text = haproxy.render(config)
        self.config = config

    @property
    def local(self) -> Path:
        return self.fleet.state_dir / CONFIG_FILE

    def _local_ok(self) -> bool:
        try:
            return self.local.read_text() == self.text
        except FileNotFoundError:
            return False

    def _publish(self, ctx: TaskContext) -> None:
        ctx.publish("config", str(self.local))
        ctx.publish("sha256", lbhost.sha256(self.text))

    async def check(self, ctx: TaskContext) -> bool:
        if not self._local_ok():
            return False
        host = self.host
        if host is None:
            self._publish(ctx)
            return True

        def look(session: Session) -> bool:
            facts = lbhost.read_facts(self.connect(host, session, ctx))
            if facts.step.running or lbhost.actions(facts, self.text):
                return False
            self._publish(ctx)
            return True
        return await blocking(ctx, look)

    async def ensure(self, ctx: TaskContext) -> None:
        if not self._local_ok():
            atomic_write(self.local, self.text, 0o644)
            ctx.log(f"load balancer configuration written to {self.local}")
        host = self.host
        if host is None:
            self._publish(ctx)
            return

        def act(session: Session) -> None:
            conn = self.connect(host, session, ctx)
            with self.locked(ctx, conn, lbhost.SLOT):
                facts = self.settle(ctx, conn, host, lbhost.read_facts, lbhost.SLOT)
                if lbhost.actions(facts, self.text):
                    result = self.run_step(ctx, conn, host, "haproxy", lbhost.step_script(facts, self.text),
                                           self.timeout - 300, slot=lbhost.SLOT)
                    if result.rc == lbhost.CONFIG_INVALID:
                        raise PermanentError(f"{label(host)}: haproxy refused the generated configuration: "
                                             + " | ".join(result.tail.splitlines()[-4:]),
                                             f"compare {self.local} with what this HAProxy version accepts")
                    if not result.ok:
                        raise step_failure(host, "installing HAProxy", result, "fix what the step reports", lbhost.SLOT)
                left = lbhost.actions(lbhost.read_facts(conn), self.text)
                if left:
                    raise PermanentError(f"{label(host)}: HAProxy still not as configured: {'; '.join(left)}",
                                         "look at `systemctl status haproxy` on the host")
                self._publish(ctx)
        await blocking(ctx, act)

    async def dry_run(self, ctx: TaskContext) -> list[str]:
        c = self.config
        out = [f"would write {self.local}: :{c.api_port} -> {len(c.masters)} masters' API servers; "
               f":{c.http_port} and :{c.https_port} -> {len(c.workers)} workers' NodePorts "
               f"{c.http_node_port}/{c.https_node_port}" + (" with PROXY protocol" if c.send_proxy else "")]
        if self.host is None:
            return out + ["would not install it anywhere (no host with role lb, or install is off)"]
        facts, why = await ctx.run_sync(self.fleet.remote.probe, self.host, lbhost.read_facts)
        if facts is None:
            return out + [f"would install haproxy on {self.host.name} if missing, check the configuration with "
                          f"haproxy -c, install it and reload ({self.host.name}'s facts not read: {why})"]
        todo = lbhost.actions(facts, self.text)
        return out + ([f"would {a} on {self.host.name}" for a in todo] or
                      [f"HAProxy on {self.host.name} already runs this configuration: nothing to do"])
