"""Textual's footer, rebuilt only when the keys it shows change.

Textual's ``Footer`` removes and mounts all its keys again whenever the screen's bindings might
have changed, and moving the focus is such a moment: on a form every tab rebuilt the whole footer
(about a third of the event loop's time for each key; the keys shown were the same). This one
compares what it would show — each binding shown, enabled or not, with its tooltip — with what it
shows, and rebuilds only on a difference.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from textual.widgets import Footer

if TYPE_CHECKING:
    from textual.app import ComposeResult
    from textual.screen import Screen


class QuietFooter(Footer):
    def __init__(self, *, show_command_palette: bool = True, compact: bool = False) -> None:
        super().__init__(show_command_palette=show_command_palette, compact=compact)
        self._shown: tuple[object, ...] | None = None

    def _wanted(self, screen: Screen) -> tuple[object, ...]:
        return tuple((binding, enabled, tooltip) for (_, binding, enabled, tooltip)
                     in screen.active_bindings.values() if binding.show)

    def bindings_changed(self, screen: Screen) -> None:
        if self._shown is not None and self.is_attached and screen is self.screen \
                and self._wanted(screen) == self._shown:
            return
        super().bindings_changed(screen)

    def compose(self) -> ComposeResult:
        if self._bindings_ready:
            self._shown = self._wanted(self.screen)
        yield from super().compose()
