"""The health report of ``health --once``: the checks, as text, JSON or Markdown.

``build_report`` is pure (objects in, report out); ``probe_ingress`` is the one request the report
makes outside the Kubernetes API, and only when an operator names the ingress URL.
"""

from __future__ import annotations

import datetime
import json
import os
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

from digit_tui.atomic import atomic_write
from digit_tui.digit.releaserecord import ReleaseRecord
from digit_tui.health.checks import Check, Finding, Inputs, ProbeResult, Verdict, run_checks
from digit_tui.health.model import HealthModel, build_model, event_subject, event_time
from digit_tui.health.snapshot import ClusterObjects

RECENT_WARNINGS = 10        # the newest warning events the report quotes
PROBE_TIMEOUT = 5.0         # seconds for the ingress URL to answer

MARK = {Verdict.OK: "✓", Verdict.WARN: "!", Verdict.FAIL: "✗"}

Format = Literal["text", "json", "markdown"]
SUFFIX: dict[Format, str] = {"text": ".txt", "json": ".json", "markdown": ".md"}


def noted(check: Check) -> list[Finding]:
    """The findings a report names: what is not ok, and what was left out on purpose."""
    return [f for f in check.findings if f.verdict is not Verdict.OK or f.state == "skipped"]


@dataclass(frozen=True)
class Warning_:
    when: float
    subject: str
    reason: str
    message: str
    count: int

    def to_json(self) -> dict[str, Any]:
        return {"time": _iso(self.when), "object": self.subject, "reason": self.reason, "message": self.message,
                "count": self.count}


@dataclass(frozen=True)
class HealthReport:
    server: str
    generated: float
    checks: tuple[Check, ...]
    model: HealthModel
    record: ReleaseRecord | None
    warnings: tuple[Warning_, ...]

    @property
    def healthy(self) -> bool:
        return all(c.verdict is not Verdict.FAIL for c in self.checks)

    def to_json(self) -> dict[str, Any]:
        """Every check, the counts, the faulty pods and the newest warnings; not every pod (5,000 pods
        are a megabyte and a fifth of a second of JSON nobody reads from a report)."""
        data = self.model.to_json()
        return {"reachable": True, "server": self.server, "generated": _iso(self.generated),
                "healthy": self.healthy, "checks": [c.to_json() for c in self.checks],
                "summary": data["summary"], "faults": data["faults"],
                "release": self.record.to_json() if self.record else None,
                "warnings": [w.to_json() for w in self.warnings]}

    def text(self) -> str:
        lines = []
        if self.record is not None:
            lines.append(self.record.line())
        s = self.model.summary
        lines.append(f"Deploy {s.deployments}  StatefulSet {s.statefulsets}  Job {s.jobs}  PVC {s.pvcs}  "
                     f"Nodes {s.nodes}  · {s.pods} pods · {s.faulty} faulty")
        for c in self.checks:
            lines.append(f"{MARK[c.verdict]} {c.name:<15} {c.detail}")
            lines += [f"    └ {f.subject}: {f.detail}" for f in noted(c)]
            if c.remedy:
                lines.append(f"    remedy: {c.remedy}")
        lines.append("healthy" if self.healthy else "UNHEALTHY")
        return "\n".join(lines)

    def markdown(self) -> str:
        """A report to paste into a ticket: the verdicts first, the evidence after."""
        status = "healthy" if self.healthy else "**unhealthy**"
        out = [f"## DIGIT health: {status}", "",
               f"- cluster: `{self.server}`", f"- checked: {_iso(self.generated)}"]
        if self.record is not None:
            out.append(f"- release: {self.record.release or '?'} ({self.record.environment}), "
                       f"{len(self.record.services)} services recorded"
                       + (f", skipped on purpose: {', '.join(self.record.skipped)}" if self.record.skipped else ""))
        else:
            out.append("- release: no release record (ConfigMap egov/digit-tui-release)")
        out += ["", "| check | verdict | detail |", "|---|---|---|"]
        out += [f"| {c.name} | {c.verdict.value} | {_cell(c.detail)} |" for c in self.checks]
        for c in self.checks:
            named = noted(c)
            if c.verdict is Verdict.OK and not named:
                continue
            out += ["", f"### {c.name}: {c.verdict.value}", "", c.detail]
            if named:
                out += ["", *(f"- `{f.subject}` ({f.state}): {f.detail}" for f in named)]
            if c.remedy:
                out += ["", f"Remedy: {c.remedy}"]
        if self.warnings:
            out += ["", f"### Recent warnings ({len(self.warnings)} newest)", "",
                    "| time | object | reason | message |", "|---|---|---|---|"]
            out += [f"| {_iso(w.when)} | {_cell(w.subject)} | {w.reason} | {_cell(w.message)} |" for w in self.warnings]
        return "\n".join(out) + "\n"

    def render(self, fmt: Format) -> str:
        """What `health --once` prints in ``fmt``, and what the TUI's health view exports: one text."""
        if fmt == "json":
            return json.dumps(self.to_json(), indent=1) + "\n"
        if fmt == "markdown":
            return self.markdown()
        return self.text() + "\n"


def export_report(report: HealthReport, fmt: Format, directory: Path) -> Path:
    """Write ``report`` in ``fmt`` to a new file in ``directory``, named by the time it was checked
    (``digit-health-20261202-054211.md``, then ``…-2.md``): never over an existing file. The name is
    claimed with an exclusive create before the atomic write replaces that empty claim."""
    stamp = datetime.datetime.fromtimestamp(report.generated, datetime.UTC).strftime("%Y%m%d-%H%M%S")
    directory.mkdir(parents=True, exist_ok=True, mode=0o700)
    for n in range(1, 1000):
        path = directory / f"digit-health-{stamp}{'' if n == 1 else f'-{n}'}{SUFFIX[fmt]}"
        try:
            os.close(os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600))
        except FileExistsError:
            continue
        try:
            return atomic_write(path, report.render(fmt))
        except BaseException:
            path.unlink(missing_ok=True)
            raise
    raise FileExistsError(f"{directory}: 999 reports of {stamp} already there")


def _iso(when: float) -> str:
    return datetime.datetime.fromtimestamp(when, datetime.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def _cell(text: str) -> str:
    return text.replace("|", "\\|").replace("\n", " ")


def recent_warnings(events: list[dict[str, Any]], limit: int = RECENT_WARNINGS) -> tuple[Warning_, ...]:
    newest = sorted(events, key=event_time)[-limit:][::-1]
    return tuple(Warning_(event_time(e), event_subject(e), str(e.get("reason") or ""),
                          " ".join(str(e.get("message") or "").split())[:300], int(e.get("count") or 1))
                 for e in newest)


def build_report(objects: ClusterObjects, *, server: str, probe: ProbeResult | None = None,
                 now: float | None = None) -> HealthReport:
    now = time.time() if now is None else now
    model = build_model(objects.kinds(), now=now)
    record = objects.release_record()
    inputs = Inputs(model=model, record=record, record_forbidden=objects.record.forbidden,
                    deployments=objects.deployments, statefulsets=objects.statefulsets, jobs=objects.jobs,
                    pods=objects.pods, events=objects.events, services=objects.services,
                    endpoints=objects.endpoints,
                    egov_config=objects.egov_config.obj, egov_config_forbidden=objects.egov_config.forbidden,
                    probe=probe, now=now)
    return HealthReport(server, now, tuple(run_checks(inputs)), model, record, recent_warnings(objects.events))


def read_report(kubeconfig: str | Path, context: str | None, *, ingress_url: str | None = None) -> HealthReport:
    """One read of the cluster and its report (``health --once`` and the TUI's health view); raises
    what ``read_cluster`` raises. The ingress URL, when named, is asked while the API is read."""
    from concurrent.futures import ThreadPoolExecutor

    from digit_tui.health.snapshot import read_cluster

    with ThreadPoolExecutor(1, thread_name_prefix="health-probe") as pool:
        probe = pool.submit(probe_ingress, ingress_url) if ingress_url else None
        objects = read_cluster(kubeconfig, context)
        return build_report(objects, server=objects.server, probe=probe.result() if probe is not None else None)


def probe_ingress(url: str, timeout: float = PROBE_TIMEOUT) -> ProbeResult:
    """GET ``url`` once, without following redirects: any HTTP answer means the ingress answers."""
    import urllib.error
    import urllib.request

    class NoRedirect(urllib.request.HTTPRedirectHandler):
        def redirect_request(self, *args: Any, **kwargs: Any) -> None:
            return None

    opener = urllib.request.build_opener(NoRedirect)
    start = time.monotonic()
    try:
        with opener.open(urllib.request.Request(url, method="GET"), timeout=timeout) as resp:
            return ProbeResult(url, int(resp.status), "", time.monotonic() - start)
    except urllib.error.HTTPError as exc:
        return ProbeResult(url, int(exc.code), "", time.monotonic() - start)
    except Exception as exc:
        from digit_tui.infra.failures import failure_of

        failure = failure_of(exc)
        reason = failure.detail if failure is not None else (str(getattr(exc, "reason", "")) or str(exc) or
                                                            type(exc).__name__)
        return ProbeResult(url, None, reason.splitlines()[0][:200] if reason else type(exc).__name__,
                           time.monotonic() - start)
