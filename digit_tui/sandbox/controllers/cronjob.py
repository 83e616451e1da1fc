"""CronJob: create a Job at each scheduled minute (wall clock, UTC or spec.timeZone), with
concurrencyPolicy Allow / Forbid / Replace, suspend, and the successful / failed history limits."""

from __future__ import annotations

import datetime as _dt
from collections.abc import Hashable
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from digit_tui.sandbox.controllers.base import Controller
from digit_tui.sandbox.controllers.util import (clone, is_controlled_by, is_deleting, meta, name_of, ns_of, owner_ref,
                                                spec_of, status_of, uid_of)
from digit_tui.sandbox.resources import CRONJOBS, JOBS, ResourceType

Obj = dict[str, Any]

_MACROS = {"@yearly": "0 0 1 1 *", "@annually": "0 0 1 1 *", "@monthly": "0 0 1 * *", "@weekly": "0 0 * * 0",
           "@daily": "0 0 * * *", "@midnight": "0 0 * * *", "@hourly": "0 * * * *"}
_RANGES = ((0, 59), (0, 23), (1, 31), (1, 12), (0, 6))
_NAMES = {3: ["jan", "feb", "mar", "apr", "may", "jun", "jul", "aug", "sep", "oct", "nov", "dec"],
          4: ["sun", "mon", "tue", "wed", "thu", "fri", "sat"]}


def parse_schedule(expr: str) -> list[set[int]]:
    """Five cron fields as sets of allowed values; ValueError when malformed."""
    text = _MACROS.get(expr.strip(), expr.strip())
    fields = text.split()
    if len(fields) != 5:
        raise ValueError(f"expected exactly 5 fields, found {len(fields)}: {expr}")
    out: list[set[int]] = []
    for i, field in enumerate(fields):
        lo, hi = _RANGES[i]
        allowed: set[int] = set()
        for part in field.split(","):
            step = 1
            if "/" in part:
                part, step_s = part.split("/", 1)
                step = int(step_s)
            if part in ("*", "?"):
                a, b = lo, hi
            elif "-" in part:
                a_s, b_s = part.split("-", 1)
                a, b = _value(a_s, i), _value(b_s, i)
            else:
                a = _value(part, i)
                b = hi if step != 1 else a
            if a < lo or b > hi + (1 if i == 4 else 0) or a > b or step < 1:
                raise ValueError(f"value out of range in {expr!r}")
            allowed.update(v % 7 if i == 4 else v for v in range(a, b + 1, step))
        out.append(allowed)
    return out


def _value(text: str, idx: int) -> int:
    names = _NAMES.get(idx)
    if names and text.lower() in names:
        return names.index(text.lower()) + (1 if idx == 3 else 0)
    return int(text)


def _matches(fields: list[set[int]], t: _dt.datetime) -> bool:
    minute, hour, dom, month, dow = fields
    cron_dow = (t.weekday() + 1) % 7
    if len(dom) < 31 and len(dow) < 7:  # both restricted: either may match, as in cron
        day_ok = t.day in dom or cron_dow in dow
    else:
        day_ok = t.day in dom and cron_dow in dow
    return t.minute in minute and t.hour in hour and t.month in month and day_ok


def last_and_next(fields: list[set[int]], now: _dt.datetime, since: _dt.datetime) -> tuple[_dt.datetime | None,
                                                                                              _dt.datetime]:
    """The latest scheduled minute in (since, now] and the next one after now (searching up to a year)."""
    t = now.replace(second=0, microsecond=0)
    last = None
    probe = t
    while probe > since and (t - probe).days < 1:
        if _matches(fields, probe):
            last = probe
            break
        probe -= _dt.timedelta(minutes=1)
    nxt = t + _dt.timedelta(minutes=1)
    for _ in range(366 * 24 * 60):
        if _matches(fields, nxt):
            break
        nxt += _dt.timedelta(minutes=1)
    return last, nxt


def _fmt(t: _dt.datetime) -> str:
    return t.astimezone(_dt.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


def _parse(ts: str | None) -> _dt.datetime | None:
    if not ts:
        return None
    try:
        return _dt.datetime.strptime(ts, "%Y-%m-%dT%H:%M:%SZ").replace(tzinfo=_dt.timezone.utc)
    except ValueError:
        return None


def _job_finished(job: Obj) -> str | None:
    for c in status_of(job).get("conditions") or ():
        if c.get("type") in ("Complete", "Failed") and c.get("status") == "True":
            return str(c.get("type"))
    return None


class CronJobController(Controller):
    name = "cronjob"
    watches: tuple[ResourceType, ...] = (CRONJOBS, JOBS)
    component = "cronjob-controller"
    child_type = JOBS
    owner_kind = "CronJob"

    def reconcile(self, key: Hashable) -> None:
        assert isinstance(key, tuple)
        ns, name = key
        cj = self.cache.get(CRONJOBS, ns, name)
        if cj is None or is_deleting(cj):
            return
        spec = spec_of(cj)
        try:
            fields = parse_schedule(str(spec.get("schedule", "")))
        except ValueError as exc:
            self.event(cj, CRONJOBS, "UnparseableSchedule", f"unparseable schedule: {exc}", "Warning")
            return
        try:
            tz = ZoneInfo(spec["timeZone"]) if spec.get("timeZone") else _dt.timezone.utc
        except (ZoneInfoNotFoundError, ValueError):
            tz = _dt.timezone.utc
        jobs = [j for j in self.cache.owned(JOBS, uid_of(cj)) if is_controlled_by(j, cj)]
        active = [j for j in jobs if not _job_finished(j) and not is_deleting(j)]
        old = status_of(cj)
        status: Obj = {}
        now = _dt.datetime.now(tz)
        created = _parse(meta(cj).get("creationTimestamp")) or now
        since = _parse(old.get("lastScheduleTime")) or created
        last, nxt = last_and_next(fields, now, since.astimezone(tz))
        if last is not None and not spec.get("suspend"):
            policy = spec.get("concurrencyPolicy", "Allow")
            if active and policy == "Forbid":
                self.event(cj, CRONJOBS, "JobAlreadyActive", "Not starting job because prior execution is running "
                                                             "and concurrency policy is Forbid")
            else:
                if active and policy == "Replace":
                    for j in active:
                        self._delete(j)
                        self.event(cj, CRONJOBS, "SuccessfulDelete", f"Deleted job {name_of(j)}")
                    active = []
                job_name = f"{name}-{int(last.timestamp() // 60)}"
                if self.cache.get(JOBS, ns, job_name) is None:
                    tpl = spec.get("jobTemplate") or {}
                    labels = dict((tpl.get("metadata") or {}).get("labels") or {})
                    job: Obj = {"apiVersion": "batch/v1", "kind": "Job",
                                "metadata": {"name": job_name, "namespace": ns, "labels": labels,
                                             "annotations": {"batch.kubernetes.io/cronjob-scheduled-timestamp":
                                                             last.isoformat()},
                                             "ownerReferences": [owner_ref(cj, CRONJOBS)]},
                                "spec": clone(tpl.get("spec") or {})}
                    try:
                        made = self.store.create(JOBS, job)
                        active.append(made)
                        self.event(cj, CRONJOBS, "SuccessfulCreate", f"Created job {job_name}")
                    except Exception as exc:
                        if getattr(exc, "code", None) != 409:
                            raise
                status["lastScheduleTime"] = _fmt(last)
        if "lastScheduleTime" not in status and old.get("lastScheduleTime"):
            status["lastScheduleTime"] = old["lastScheduleTime"]
        succeeded = sorted((j for j in jobs if _job_finished(j) == "Complete"),
                           key=lambda j: meta(j).get("creationTimestamp", ""))
        failed = sorted((j for j in jobs if _job_finished(j) == "Failed"), key=lambda j: meta(j).get(
            "creationTimestamp", ""))
        if succeeded:
            done = [c.get("lastTransitionTime") for c in status_of(succeeded[-1]).get("conditions") or ()
                    if c.get("type") == "Complete"]
            if done:
                status["lastSuccessfulTime"] = done[0]
        for jobs_of, limit_key, default in ((succeeded, "successfulJobsHistoryLimit", 3),
                                            (failed, "failedJobsHistoryLimit", 1)):
            limit = spec.get(limit_key)
            limit = default if limit is None else int(limit)
            for j in jobs_of[: max(0, len(jobs_of) - limit)]:
                self._delete(j)
        if active:
            status["active"] = [{"kind": "Job", "namespace": ns, "name": name_of(j), "uid": uid_of(j),
                                 "apiVersion": "batch/v1"} for j in active]
        if status != old:
            new = clone(cj)
            new["status"] = status
            self.store.update(CRONJOBS, new, subresource="status")
        wait = (nxt - _dt.datetime.now(tz)).total_seconds()
        self.enqueue(key, max(0.05, min(wait + 0.05, 3600.0)))

    def _delete(self, job: Obj) -> None:
        try:
            self.store.delete(JOBS, ns_of(job), name_of(job), propagation="Background")
        except Exception as exc:
            if getattr(exc, "code", None) != 404:
                raise
