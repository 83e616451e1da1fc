"""What every digit-tui screen shares: worker failures become an error dialog, the help key, and the
one policy for the garbage collector.

The collector's full passes walk every object the process tracks — Textual's and pydantic's
modules, the answers model's schemas, every widget of the screens open, a dashboard's rows: about
100,000 — and took 100 to 300 ms each on a loaded 2-core machine, every second or two while keys
were pressed: the key waited. A screen freezes (``gc.freeze``) what exists once it has drawn its
first frame, and again the first time each of its workers has finished (what that work imported
and built once: a check's models, a release read, a plan), so later passes walk only what came
since; reference counting still frees frozen objects. When a screen goes, what was frozen is the
collector's again (``gc.unfreeze``: the screen's own cycles can be freed) and, once the screen
under it has drawn, one full pass runs and what is left is frozen again. The cost of that pass is
paid once per screen left, after its frame, not on every key.

Modal screens (help, dialogs, reports) are not ``DigitScreen``s: what they make is young and
collected as usual, and the screen under them stays frozen.
"""

from __future__ import annotations

import gc

from textual.screen import Screen
from textual.worker import Worker, WorkerState


class DigitScreen(Screen[None]):
    HELP_TITLE = ""
    HELP_KEYS: list[tuple[str, str]] = []
    HELP_NOTES: list[str] = []

    def __init__(self, name: str | None = None, id: str | None = None, classes: str | None = None) -> None:
        super().__init__(name=name, id=id, classes=classes)
        self._frozen_after: set[tuple[str, str]] = set()    # the workers (group, name) frozen after

    # Textual calls each class's handler in the MRO: these run beside a screen's own.
    def on_mount(self) -> None:
        self.call_after_refresh(gc.freeze)          # the screen, up

    def on_unmount(self) -> None:
        gc.unfreeze()
        self.app.call_after_refresh(_collect_and_freeze)

    def on_worker_state_changed(self, event: Worker.StateChanged) -> None:
        worker = event.worker
        if event.state == WorkerState.SUCCESS and (worker.group, worker.name) not in self._frozen_after:
            self._frozen_after.add((worker.group, worker.name))
            gc.freeze()                             # what the work built once, now the screen's
        # Worker.StateChanged does not bubble: forward failures to the app's one error handler.
        if event.state == WorkerState.ERROR and worker.error is not None:
            report = getattr(self.app, "report_error", None)
            if report is not None:
                report(worker.error, what=f"{worker.description or worker.name} failed")

    def action_help(self) -> None:
        from digit_tui.screens.help import HelpScreen

        self.app.push_screen(HelpScreen(self.HELP_TITLE, self.HELP_KEYS, self.HELP_NOTES))


def _collect_and_freeze() -> None:
    # A plain function, not the screen's method: the screen that went must not be kept alive by it.
    gc.collect()
    gc.freeze()
