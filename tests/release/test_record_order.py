"""The release record lists the modules in the render's order whatever order the render's outputs
come back in: a resumed run reads them from the journal, keys sorted, and must find the record it
wrote up to date rather than write it again."""

from __future__ import annotations

import json
from types import SimpleNamespace
from typing import Any, cast

from digit_tui.tasks.release import Cluster, ReleaseRecordTask


class Ctx:
    def __init__(self, render: dict[str, Any]) -> None:
        self._render = render

    def output(self, task_id: str) -> dict[str, Any]:
        return self._render if task_id == "render" else {}


def test_modules_follow_the_render_order_not_the_outputs_key_order() -> None:
    services = {"cluster-configs": {"module": "cluster-configs"}, "zookeeper-v2": {"module": "backbone"},
                "egov-user": {"module": "core"}, "billing-service": {"module": "business"}}
    for info in services.values():
        info.update(tag="v1", digest="ab" * 32)
    order = list(services)
    as_published = {"release": "v2.8", "order": order, "services": services, "skipped": []}
    from_journal = json.loads(json.dumps(as_published, sort_keys=True))
    assert list(from_journal["services"]) != order  # the journal did reorder them
    task = ReleaseRecordTask([], cluster=cast(Cluster, SimpleNamespace(config=SimpleNamespace(environment="dev"))))
    _, fresh = task._desired(cast(Any, Ctx(as_published)))
    _, reread = task._desired(cast(Any, Ctx(from_journal)))
    assert fresh["modules"] == reread["modules"] == "cluster-configs,backbone,core,business"
    assert fresh == reread
