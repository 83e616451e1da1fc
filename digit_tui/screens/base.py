"""What every digit-tui screen shares: worker failures become an error dialog."""

from __future__ import annotations

from textual.screen import Screen
from textual.worker import Worker, WorkerState


class DigitScreen(Screen[None]):
    HELP_TITLE = ""
    HELP_KEYS: list[tuple[str, str]] = []
    HELP_NOTES: list[str] = []

    def on_worker_state_changed(self, event: Worker.StateChanged) -> None:
        # Worker.StateChanged does not bubble: forward failures to the app's one error handler.
        if event.state == WorkerState.ERROR and event.worker.error is not None:
            report = getattr(self.app, "report_error", None)
            if report is not None:
                report(event.worker.error, what=f"{event.worker.description or event.worker.name} failed")

    def action_help(self) -> None:
        from digit_tui.screens.help import HelpScreen

        self.app.push_screen(HelpScreen(self.HELP_TITLE, self.HELP_KEYS, self.HELP_NOTES))
