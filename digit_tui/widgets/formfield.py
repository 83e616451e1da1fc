"""One field of a guided-flow form: its label and input in a row, then a note line and the line of
`digit-tui validate`'s message about it.

The target and the configuration screens build their forms of these. A check answers with every
field's problem at once; ``show_problems`` hands each field its own, and a field redraws its line
only when the text it shows changes (a check that finds what the last one found draws nothing).
``SecretField`` is a field whose input is masked until its reveal key shows it. ``FormChecks``
says when a form is checked: once the operator stops changing it, and only if its values changed
(moving the focus, or typing a value back, checks nothing again). What a form keeps from the garbage collector's full passes is
screens/base.py's one policy (``DigitScreen``).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING, Generic, Protocol, TypeVar

from rich.text import Text
from textual.containers import Horizontal, Vertical
from textual.widgets import Input, Label, Static

from digit_tui.errors import InputError

if TYPE_CHECKING:
    from textual.app import ComposeResult
    from textual.dom import DOMNode
    from textual.timer import Timer
    from textual.widget import Widget

C = TypeVar("C")


class Checked(Protocol):
    """What a form's check found (viewmodel: ``FormCheck``, ``ConfigCheck``)."""

    @property
    def ok(self) -> bool: ...

    @property
    def errors(self) -> Mapping[str, InputError]: ...
DEBOUNCE = 0.15         # seconds of no change before a form is checked: typing a word checks it once


def field_text(problem: InputError) -> str:
    return problem.message + (f" (expected: {problem.expected})" if problem.expected else "")


def show_line(static: Static, text: Text | None) -> None:
    """A line that is there only while it says something."""
    static.update(text or "")
    static.display = text is not None


class FormField(Vertical):
    """``#field-<name>``: the row, ``extra`` widgets under it, ``#note-<name>`` and ``#err-<name>``."""

    def __init__(self, name: str, label: str, widget: Widget, *extra: Widget) -> None:
        super().__init__(id=f"field-{name}", classes="field")
        self.field_name = name
        self._label, self._widget, self._extra = label, widget, extra
        self._note: Text | None = None
        self._problem: str | None = None
        self._note_key: object = None

    def compose(self) -> ComposeResult:
        with Horizontal(classes="field-row"):
            yield Label(self._label, classes="field-label")
            yield self._widget
        yield from self._extra
        note = Static(id=f"note-{self.field_name}", classes="field-note")
        error = Static(id=f"err-{self.field_name}", classes="field-error")
        note.display = error.display = False
        yield note
        yield error

    @property
    def note_line(self) -> Static:
        return self.query_one(f"#note-{self.field_name}", Static)

    @property
    def note_text(self) -> Text | None:
        return self._note

    def note(self, text: Text | None) -> None:
        # By text and styles: rich's Text compares its text and spans, not its own style.
        key = None if text is None else (text.plain, str(text.style), tuple(text.spans))
        if key != self._note_key:
            self._note, self._note_key = text, key
            show_line(self.note_line, text)

    def problem(self, problem: InputError | None) -> None:
        text = None if problem is None else field_text(problem)
        if text != self._problem:
            self._problem = text
            show_line(self.query_one(f"#err-{self.field_name}", Static),
                      None if text is None else Text("✗ " + text, style="red"))


class SecretField(FormField):
    """A field for a secret: what is typed shows as dots until ``reveal`` (the screen's key) shows it."""

    def __init__(self, name: str, label: str, placeholder: str) -> None:
        super().__init__(name, label, Input(placeholder=placeholder, password=True, id=name, compact=True))

    @property
    def masked(self) -> bool:
        return self.query_one(Input).password

    def reveal(self) -> None:
        """Show a masked secret, mask a shown one."""
        field = self.query_one(Input)
        field.password = not field.password


def show_problems(fields: Mapping[str, FormField], errors: Mapping[str, InputError],
                  shown: Callable[[str], bool]) -> None:
    """Each field's problem under it, where ``shown`` lets it show (a field not yet touched does not
    greet the operator with an error)."""
    for name, field in fields.items():
        problem = errors.get(name)
        field.problem(problem if problem is not None and shown(name) else None)


class FormChecks(Generic[C]):
    """When ``node``'s form is checked: ``read`` gives the form's values; ``start(gen, values)``
    starts a check (in a worker), whose answer is current while ``answered(gen)``."""

    def __init__(self, node: DOMNode, read: Callable[[], C], start: Callable[[int, C], object]) -> None:
        self._node, self._read, self._start = node, read, start
        self._gen = 0
        self._asked: C | None = None
        self._timer: Timer | None = None
        self.pending = False        # a check is due or running: the form shows "checking"

    def changed(self, *, again: bool = False) -> bool:
        """The form may have changed: a check shortly if its values did (``again``: even if not, as
        when what they name changed on disk). True when one is due."""
        values = self._read()
        if not again and self._gen and values == self._asked:
            return False
        self._asked = values
        self._gen += 1
        self.pending = True
        if self._timer is not None:
            self._timer.stop()
        self._timer = self._node.set_timer(DEBOUNCE, self._due)
        return True

    def _due(self) -> None:
        self._asked = self._read()
        self._start(self._gen, self._asked)

    def state(self, check: Checked | None) -> Text:
        """The form's state for its header: being checked, valid, or how many fields to fix."""
        if self.pending or check is None:
            return Text("◌ checking…", style="yellow")
        if check.ok:
            return Text("✓ valid", style="green")
        return Text(f"✗ {len(check.errors)} to fix", style="red")

    def answered(self, gen: int) -> bool:
        """A check's answer arrived: True when it is of the form as it is (no newer check due)."""
        if gen != self._gen:
            return False
        self.pending = False
        return True

    def stop(self) -> None:
        """The form goes: no check is due any more."""
        if self._timer is not None:
            self._timer.stop()
