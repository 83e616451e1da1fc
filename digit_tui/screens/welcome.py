"""Shown when there is no install to attach to: start one, resume one, look at a cluster, or try
the sandbox.

The installs are every state directory under the state root, each with its status read from its
journal, read-only, in a worker (a journal on a slow disk must not freeze the screen); the list
is read again every few seconds, since an engine may be running in the background.
"""

from __future__ import annotations

import os
import subprocess
import sys
import threading
from pathlib import Path
from typing import TYPE_CHECKING

from rich.text import Text
from textual import work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Vertical
from textual.widgets import OptionList, Static
from textual.widgets.option_list import Option

from digit_tui import paths
from digit_tui.screens.base import DigitScreen
from digit_tui.viewmodel.install import style, symbol
from digit_tui.viewmodel.installs import InstallStatus, ago, find_installs
from digit_tui.widgets.footer import QuietFooter

if TYPE_CHECKING:
    from digit_tui.engine.daemon import EngineProcess

REFRESH = 3.0
DEMO_TIMEOUT = 180.0      # the sandbox's start (60 s at most) and the engine's
ACTIONS = (
    ("new", "n", "New install", "cluster, release, prerequisites, sizing; the plan; start"),
    ("sandbox", "s", "Try the sandbox", "sample DIGIT on the embedded sandbox (`digit-tui demo`)"),
    ("health", "h", "Health view", "pods and DIGIT checks of an existing cluster"),
)


class WelcomeScreen(DigitScreen):
    HELP_TITLE = "welcome"
    HELP_KEYS = [("↑ ↓ / enter", "choose / open the highlighted line"),
                 ("n", "new install: target and source, then the plan"),
                 ("s", "try the sandbox: what `digit-tui demo` does"),
                 ("h", "health view of an existing cluster"),
                 ("enter on an install", "open it: attach, or resume it if its engine stopped"),
                 ("r", "read the installs again"), ("q / ctrl+q", "quit")]
    HELP_NOTES = ["Installs run in a background engine: you may close the terminal at any time; "
                  "run digit-tui again to re-attach.",
                  "Without the TUI: `digit-tui validate --example > answers.yaml`, edit it, then "
                  "`digit-tui install --answers answers.yaml --headless`."]
    BINDINGS = [Binding("n", "new", "new install"), Binding("s", "sandbox", "sandbox"),
                Binding("h", "health", "health"), Binding("r", "refresh", "refresh", show=False),
                Binding("question_mark", "help", "help"), Binding("q", "app.quit", "quit")]

    def __init__(self, state_hint: Path | None = None) -> None:
        super().__init__(id="welcome")
        self.state_hint = state_hint
        self.root = paths.state_root()
        self.installs: list[InstallStatus] = []
        self._read_once = False
        self._busy = ""

    def compose(self) -> ComposeResult:
        with Vertical(id="welcome-box"):
            yield Static(Text("DIGIT installer", style="bold"), id="welcome-title")
            yield OptionList(*self._options(), id="welcome-menu", compact=True)
            yield Static(id="welcome-status")
            yield Static(Text("From the command line: `digit-tui demo`, or `digit-tui validate --example > "
                              "answers.yaml` then `digit-tui install --answers answers.yaml`. Installs run in a "
                              "background engine: close the terminal at any time, run digit-tui again to "
                              "re-attach.", style="dim"), id="welcome-cli")
        yield QuietFooter(show_command_palette=False)

    def on_mount(self) -> None:
        self._status(Text(f"◌ looking for installs in {self.root}…", style="dim"))
        self.read_installs()
        self.set_interval(REFRESH, self.read_installs)

    # -- the list ---------------------------------------------------------------
    def _options(self) -> list[Option | None]:
        out: list[Option | None] = []
        for key, letter, title, text in ACTIONS:
            line = Text()
            line.append(f"{letter}  ", style="bold")
            line.append(f"{title:<16}", style="bold")
            line.append(text, style="dim")
            out.append(Option(line, id=key))
        out.append(None)
        heading = Text()
        where = self.state_hint or self.root
        if not self._read_once:
            heading.append(f"Installs in {self.root}", style="bold")
        elif not self.installs:
            heading.append(f"◌ No install found in {where}.", style="dim")
        else:
            heading.append(f"Installs in {self.root}", style="bold")
            heading.append("  (enter: open or resume)", style="dim")
        out.append(Option(heading, id="heading", disabled=True))
        for i, inst in enumerate(self.installs):
            out.append(Option(self._install_line(inst), id=f"install-{i}"))
        return out

    def _install_line(self, inst: InstallStatus) -> Text:
        width = max(40, (self.size.width or 80) - 3)     # the box's padding and the list's scrollbar
        line = Text()
        line.append(symbol(inst.state) + " ", style=style(inst.state))
        line.append(f"{inst.environment[:16]:<17}")
        when = ago(inst.updated)
        room = max(10, width - 2 - 17 - 1 - len(when))
        text = inst.text if len(inst.text) <= room else inst.text[: room - 1] + "…"
        line.append(f"{text:<{room}} ", style="" if inst.usable else "dim")
        line.append(when, style="dim")
        return line

    @work(thread=True, exclusive=True, group="installs", exit_on_error=False, description="reading the installs")
    def read_installs(self) -> None:
        found = find_installs(self.root)
        self.app.call_from_thread(self._show_installs, found)

    def _show_installs(self, found: list[InstallStatus]) -> None:
        changed = found != self.installs or not self._read_once
        self.installs, self._read_once = found, True
        if not self._busy:
            self._status(Text(""))
        if changed:
            self._rebuild()

    def on_resize(self) -> None:
        if self._read_once:
            self._rebuild()     # the install lines use the width there is

    def _rebuild(self) -> None:
        menu = self.query_one("#welcome-menu", OptionList)
        highlighted = menu.highlighted_option.id if menu.highlighted_option is not None else None
        menu.clear_options()
        menu.add_options(self._options())
        ids = [menu.get_option_at_index(i).id for i in range(menu.option_count)]
        menu.highlighted = ids.index(highlighted) if highlighted in ids else 0

    def _status(self, text: Text) -> None:
        self.query_one("#welcome-status", Static).update(text)

    # -- choosing -----------------------------------------------------------------
    def on_option_list_option_selected(self, event: OptionList.OptionSelected) -> None:
        option_id = event.option.id or ""
        if option_id.startswith("install-"):
            self.open_existing(self.installs[int(option_id.removeprefix("install-"))])
        elif option_id in ("new", "sandbox", "health"):
            getattr(self, f"action_{option_id}")()

    def action_refresh(self) -> None:
        self.read_installs()

    def action_new(self) -> None:
        from digit_tui.screens.newinstall import TargetScreen

        self.app.push_screen(TargetScreen(self.state_hint))

    def action_health(self) -> None:
        from digit_tui.screens.healthpick import HealthPicker

        self.app.push_screen(HealthPicker())

    def open_existing(self, inst: InstallStatus) -> None:
        from digit_tui.screens.confirm import ConfirmDialog

        if inst.state == "blocked":
            self.app.show_error(f"Cannot open the install in {inst.state_dir}", inst.text,  # type: ignore[attr-defined]
                                "move the damaged journal aside; `digit-tui status --state-dir DIR` says the same.")
            return
        if not inst.resumable:
            self.app.open_install(inst.state_dir)  # type: ignore[attr-defined]
            return
        answers = inst.answers_path or "(no answers file recorded)"

        def chosen(choice: str | None) -> None:
            if choice == "resume":
                self.resume(inst)
            elif choice == "view":
                self.app.open_install(inst.state_dir)  # type: ignore[attr-defined]

        self.app.push_screen(ConfirmDialog(
            f"Resume the install of {inst.environment}?",
            [Text(f"{symbol(inst.state)} {inst.text}", style=style(inst.state)),
             f"The engine starts again from its journal with {answers}, exactly as "
             "`digit-tui install` would: finished work is re-checked, not redone.",
             Text("It runs in the background; leaving the TUI does not stop it.", style="dim")],
            [("resume", "Resume", "r"), ("view", "Only look", "v"), ("cancel", "Cancel", "c")]), chosen)

    @work(thread=True, exclusive=True, group="start", exit_on_error=False, description="resuming the install")
    def resume(self, inst: InstallStatus) -> None:
        from digit_tui.answers import load_answers
        from digit_tui.engine.launch import start_or_attach
        from digit_tui.errors import InputError
        from digit_tui.viewmodel.plan import INSTALL_GRAPH

        if not inst.answers_path:
            raise InputError("the journal names no answers file to resume with", path=inst.state_dir,
                             expected="`digit-tui install --answers FILE --state-dir DIR`")
        self.app.call_from_thread(self._busy_status, f"◌ starting the engine of {inst.environment}…")
        try:
            load_answers(inst.answers_path)       # as `install` does: a file edited into nonsense stops here
            started = start_or_attach(inst.state_dir, inst.answers_path, inst.graph or INSTALL_GRAPH)
        finally:
            self.app.call_from_thread(self._busy_status, "")
        reap(started.process)
        self.app.call_from_thread(self.app.open_install, inst.state_dir)  # type: ignore[attr-defined]

    def _busy_status(self, text: str) -> None:
        self._busy = text
        self._status(Text(text, style="yellow"))

    # -- the sandbox ----------------------------------------------------------------
    def action_sandbox(self) -> None:
        if self._busy:
            self.notify(self._busy, severity="warning")
            return
        self.try_sandbox()

    @work(thread=True, exclusive=True, group="start", exit_on_error=False, description="starting the sandbox demo")
    def try_sandbox(self) -> None:
        """`digit-tui demo` itself, without a terminal (so it stops once the engine runs), its lines
        shown as they come; then the install view of the demo's state directory."""
        state = self.root / "demo"
        cmd = [sys.executable, "-m", "digit_tui.cli", "demo", "--state-dir", str(state)]
        graph = getattr(self.app, "graph", None)
        if graph:
            cmd += ["--graph", graph]
        self.app.call_from_thread(self._busy_status, "◌ starting the sandbox demo…")
        lines: list[str] = []
        try:
            proc = subprocess.Popen(cmd, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                                    stderr=subprocess.PIPE, text=True, env=dict(os.environ))
            timer = threading.Timer(DEMO_TIMEOUT, proc.kill)
            timer.start()
            try:
                assert proc.stderr is not None
                for raw in proc.stderr:
                    line = raw.strip()
                    lines.append(line)
                    self.app.call_from_thread(self._busy_status, "◌ " + line.removeprefix("digit-tui demo: "))
                code = proc.wait()
            finally:
                timer.cancel()
        finally:
            self.app.call_from_thread(self._busy_status, "")
        if code != 0:
            why = lines[-1] if lines else f"exit code {code}"
            self.app.call_from_thread(
                self.app.show_error, "The sandbox demo did not start",  # type: ignore[attr-defined]
                why + (f" (stopped after {DEMO_TIMEOUT:g} s)" if code == -9 else ""),
                f"run `digit-tui demo --state-dir {state}` in a shell to see all of its output.")
            return
        self.app.call_from_thread(self.app.open_install, state)  # type: ignore[attr-defined]


def reap(process: "EngineProcess | None") -> None:
    """Wait for an engine this TUI spawned, in the background: a finished engine left unreaped stays a
    zombie whose pid still looks alive to the install view."""
    if process is not None:
        threading.Thread(target=process.wait, name="engine-reaper", daemon=True).start()
