"""A text field for a whole number: it takes digits only, so every other printable key (``?`` for
help, a screen's letters) reaches the screen's bindings instead of being swallowed as text."""

from __future__ import annotations

from textual import events
from textual.widgets import Input


class NumberInput(Input):
    def __init__(self, value: str = "", **kw: object) -> None:
        super().__init__(value, restrict=r"[0-9]*", **kw)  # type: ignore[arg-type]

    def check_consume_key(self, key: str, character: str | None) -> bool:
        return character is not None and character.isdigit()

    async def _on_key(self, event: events.Key) -> None:
        # Textual calls Input's handler too (every class's in the MRO) unless the default is prevented:
        # a key that is not a digit skips it and goes on to the screen's bindings.
        if event.is_printable and not (event.character or "").isdigit():
            event.prevent_default()
