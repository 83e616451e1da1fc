"""Choices that read without colour: a radio button whose mark is ● or ○, and a check list whose
items say ✓ or nothing. Textual's own draw both states with the same glyph and only a colour
apart, which a monochrome terminal (or a screen reader of the text) cannot tell."""

from __future__ import annotations

from collections.abc import Iterable

from rich.text import Text
from textual.binding import Binding
from textual.message import Message
from textual.widgets import OptionList, RadioButton
from textual.widgets.option_list import Option


class Choice(RadioButton):
    # textual declares BUTTON_INNER a class attribute; the widget reads it per instance, so a
    # property works, though mypy refuses a property in place of an attribute
    @property
    def BUTTON_INNER(self) -> str:  # type: ignore[override]
        return "●" if self.value else "○"


class CheckList(OptionList):
    """Items toggled with space or enter; ``selected`` keeps the order of the items."""

    BINDINGS = [Binding("space,enter", "toggle_item", "toggle", show=False)]

    class Changed(Message):
        def __init__(self, check_list: CheckList) -> None:
            super().__init__()
            self.check_list = check_list

        @property
        def control(self) -> CheckList:
            return self.check_list

    def __init__(self, **kw: object) -> None:
        super().__init__(compact=True, **kw)  # type: ignore[arg-type]
        self._items: list[tuple[str, Text]] = []
        self._chosen: set[str] = set()

    @property
    def values(self) -> tuple[str, ...]:
        return tuple(v for v, _ in self._items)

    @property
    def selected(self) -> tuple[str, ...]:
        return tuple(v for v, _ in self._items if v in self._chosen)

    def set_items(self, items: Iterable[tuple[str, Text]], selected: Iterable[str] = ()) -> None:
        self._items = list(items)
        self._chosen = {v for v in selected if v in self.values}
        highlighted = self.highlighted
        self.clear_options()
        self.add_options([Option(self._prompt(v, label), id=v) for v, label in self._items])
        if self._items:
            self.highlighted = min(highlighted or 0, len(self._items) - 1)

    def _prompt(self, value: str, label: Text) -> Text:
        line = Text("[✓] " if value in self._chosen else "[ ] ", style="bold" if value in self._chosen else "dim")
        line.append_text(label)
        return line

    def toggle(self, value: str) -> None:
        self._chosen ^= {value}
        label = dict(self._items)[value]
        self.replace_option_prompt(value, self._prompt(value, label))
        self.post_message(self.Changed(self))

    def action_toggle_item(self) -> None:
        option = self.highlighted_option
        if option is not None and option.id is not None:
            self.toggle(option.id)

    def on_option_list_option_selected(self, event: OptionList.OptionSelected) -> None:
        # A click selects; the keys are bound to toggle above.
        event.stop()
        if event.option.id is not None:
            self.toggle(event.option.id)
