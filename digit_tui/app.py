"""The Textual application: which screen to open, global keys, and the one place errors become dialogs."""

from __future__ import annotations

from functools import partial
from pathlib import Path

from textual.app import App
from textual.binding import Binding
from textual.command import DiscoveryHit, Hit, Hits, Provider
from textual.screen import Screen

ASSETS = Path(__file__).resolve().parent / "assets"


def explain(exc: BaseException) -> tuple[str, str]:
    """(why, next step) for an error an operator may meet in the TUI."""
    from digit_tui.engine.launch import EngineDidNotStart
    from digit_tui.errors import InputError, TaskError

    text = str(exc) or type(exc).__name__
    if isinstance(exc, InputError):
        return text, "fix what is named above (`digit-tui validate --answers FILE` says the same) and try again."
    if isinstance(exc, TaskError) and exc.remedy:
        return text, exc.remedy          # a git fetch's failure names its own remedy (digit/gitcmd.py)
    if isinstance(exc, EngineDidNotStart):
        return text, "read the engine log named above; `digit-tui install --answers FILE` starts it again."
    if isinstance(exc, FileExistsError):
        return text, "choose another path, or confirm that the file may be replaced."
    if isinstance(exc, ConnectionError):
        return text, "check that the install engine runs (`digit-tui status`); `digit-tui install` resumes it."
    if isinstance(exc, PermissionError):
        return text, "run digit-tui as the user who owns the state directory."
    if isinstance(exc, FileNotFoundError):
        return text, "check the path; `digit-tui status` shows where the install keeps its files."
    if isinstance(exc, ValueError):
        return text, "fix the file named above and try again."
    if isinstance(exc, (TimeoutError, OSError)):
        return text, "check the network (VPN, cluster API); digit-tui retries by itself."
    return f"{type(exc).__name__}: {text}", "see the engine log (l on the install screen) and report the problem."


def screen_actions(screen: Screen[object]) -> list[tuple[str, str, str, str]]:
    """(action, label, keys, help) of each action the screen's own keys run, in their order, then the
    app's (quit): what the command palette offers on that screen. Keys of one action are listed together."""
    helps = {k.strip(): text for keys, text in getattr(screen, "HELP_KEYS", ()) for k in keys.split("/")}
    found: dict[str, tuple[str, list[str]]] = {}
    bound = [(b.action, b) for b in screen.BINDINGS if isinstance(b, Binding)]
    bound += [(f"app.{b.action}", b) for b in screen.app.BINDINGS if isinstance(b, Binding)]
    for action, b in bound:
        if not b.description or (action == b.action and screen.check_action(action, ()) is False):
            continue
        label, keys = found.setdefault(action, (b.description, []))
        if (key := screen.app.get_key_display(b)) not in keys:
            keys.append(key)
        if b.show and label != b.description:   # the footer's wording wins over a hidden twin's
            found[action] = (b.description, keys)
    return [(action, label, " / ".join(keys), next((helps[k] for k in keys if k in helps), ""))
            for action, (label, keys) in found.items()]


class ScreenActions(Provider):
    """The command palette's entries for the keys of the screen it was opened on (pause, retry, skip,
    logs, dashboard, help, quit on the install view), each with its key, so the palette also teaches them."""

    async def discover(self) -> Hits:
        for action, label, keys, help_text in screen_actions(self.screen):
            yield DiscoveryHit(f"{label}  ({keys})", partial(self.screen.run_action, action),
                               text=label, help=help_text or None)

    async def search(self, query: str) -> Hits:
        matcher = self.matcher(query)
        for action, label, keys, help_text in screen_actions(self.screen):
            shown = f"{label}  ({keys})"
            score = matcher.match(shown)
            if score > 0:
                yield Hit(score, matcher.highlight(shown), partial(self.screen.run_action, action),
                          text=label, help=help_text or None)


class DigitApp(App[int]):
    """``start``: "install" (attach to ``state_dir``), "dashboard" (``kubeconfig``) or "welcome" (where
    ``state_dir``, when given, is where a new install keeps its state). ``graph``: the task graph a new
    install runs (tests hand in a synthetic one; default: the one `digit-tui install` runs)."""

    TITLE = "digit-tui"
    CSS_PATH = [ASSETS / "app.tcss", ASSETS / "install.tcss", ASSETS / "dashboard.tcss", ASSETS / "flow.tcss"]
    ENABLE_COMMAND_PALETTE = True
    # Only the screen's own actions: Textual's system entries (its own Quit, Keys, Theme) would say
    # the same as ours less well, or offer what digit-tui does not keep (a theme, a screenshot).
    COMMANDS = {ScreenActions}
    BINDINGS = [
        # Screens that run beside an install show their own ctrl+q label saying the install goes on.
        Binding("ctrl+q", "quit", "quit", show=False),
    ]

    def __init__(self, *, start: str = "install", state_dir: Path | None = None, kubeconfig: str | None = None,
                 context: str | None = None, graph: str | None = None) -> None:
        super().__init__()
        self.start = start
        self.state_dir = Path(state_dir) if state_dir else None
        self.graph = graph
        # The install the operator started or resumed from the welcome screen (the CLI says it goes on).
        self.attached: Path | None = None
        self.kubeconfig = kubeconfig
        self.context = context
        self._dashboard: Screen[None] | None = None
        if start == "dashboard":
            # Made now, before Textual starts the terminal: it connects to the cluster at once, and
            # the list of thousands of pods is most of the time until the table is full.
            from digit_tui.screens.dashboard import DashboardScreen

            self._dashboard = DashboardScreen(kubeconfig, context, top_level=True)

    def on_mount(self) -> None:
        if self.start == "install" and self.state_dir is not None:
            from digit_tui.screens.install import InstallScreen

            self.push_screen(InstallScreen(self.state_dir))
        elif self._dashboard is not None:
            self.push_screen(self._dashboard)
        else:
            from digit_tui.screens.welcome import WelcomeScreen

            self.push_screen(WelcomeScreen(self.state_dir))

    def open_install(self, state_dir: Path) -> None:
        """Leave the guided flow for the install view of ``state_dir``: ``q`` there leaves the TUI,
        as when `digit-tui` attaches."""
        from digit_tui.screens.install import InstallScreen

        self.attached = Path(state_dir)
        while len(self.screen_stack) > 2:
            self.pop_screen()
        self.switch_screen(InstallScreen(Path(state_dir)))

    def show_error(self, what: str, why: str, next_step: str) -> None:
        from digit_tui.screens.dialogs import ErrorDialog

        self.push_screen(ErrorDialog(what, why, next_step))

    def report_error(self, exc: BaseException, *, what: str = "Something failed") -> None:
        """Every worker failure ends here (see DigitScreen): a dialog, never a traceback or a dead app."""
        why, next_step = explain(exc)
        self.show_error(what[:1].upper() + what[1:], why, next_step)

    def action_quit(self) -> None:  # type: ignore[override]
        self.exit(0)
