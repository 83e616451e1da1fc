"""New install, step 1: the target (sandbox or an existing cluster, its kubeconfig and context),
the environment's name, the DIGIT source, the release manifest, the modules and the domain.

Every change is checked as the operator types, off the event loop: the choices become a
candidate answers file that `digit-tui validate`'s loader reads with file checks
(viewmodel/newinstall.py), so the messages are validate's own; each is shown under its field.
"""

from __future__ import annotations

import threading
from pathlib import Path

from rich.text import Text
from textual import work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import VerticalScroll
from textual.widget import Widget
from textual.widgets import Input, ProgressBar, RadioSet, Select, Static
from textual.worker import get_current_worker

from digit_tui.screens.base import DigitScreen
from digit_tui.screens.compat import CompatScreen, summary
from digit_tui.viewmodel.compat import CheckCancelled, Compat, CompatChecks
from digit_tui.viewmodel.gitfetch import Fetched, FetchProgress, fetch
from digit_tui.viewmodel.newinstall import (PROVIDERS, SOURCES, Choices, FormCheck, GitFetch, SourceCache,
                                            check_choices)
from digit_tui.widgets.choices import CheckList, Choice
from digit_tui.widgets.flowheader import FlowHeader
from digit_tui.widgets.footer import QuietFooter
from digit_tui.widgets.formfield import FormChecks, FormField, field_text, show_problems

LABELS = {"provider": "Cluster", "kubeconfig": "Kubeconfig", "context": "Context", "environment": "Environment",
          "source": "DIGIT source", "source_path": "Tree", "git_url": "Git URL", "git_ref": "Ref",
          "release": "Release", "modules": "Modules",
          "domain": "Domain"}


def release_label(release: str) -> str:
    """Short enough for 80 columns: the part under product-release-charts/."""
    return release.split("product-release-charts/", 1)[-1]


class TargetScreen(DigitScreen):
    HELP_TITLE = "new install · target and source"
    HELP_KEYS = [("tab / shift+tab", "next / previous field"),
                 ("enter", "in a text field: the next field; on a choice: choose it"),
                 ("↑ ↓ ← →", "move in a row of choices, a list or a menu"),
                 ("space", "toggle a module; choose an option"),
                 ("ctrl+g", "a git source: fetch the URL at the ref (enter in the Ref field too)"),
                 ("escape", "while fetching: cancel the fetch; else back to the welcome screen"),
                 ("ctrl+r", "the compatibility report of the chosen release (check-source)"),
                 ("ctrl+n", "next: the prerequisites (once every field is valid and the release deployable; "
                            "with warnings, a second ctrl+n goes on with them)"),
                 ("? / f1", "this help"), ("ctrl+q", "quit")]
    HELP_NOTES = ["Each field is checked as you type with the messages of `digit-tui validate`.",
                  "A git source is fetched into the environment's state directory (sources/), where the "
                  "install finds it: name the environment first.",
                  "The chosen release is checked as `digit-tui check-source` does (rendered offline for "
                  "Kubernetes 1.30): a release with errors cannot be installed."]
    BINDINGS = [Binding("ctrl+n", "plan", "prerequisites ▸"), Binding("escape", "back", "back"),
                Binding("ctrl+g", "fetch", "fetch"), Binding("ctrl+r", "report", "report"),
                # A text field takes "?" as text (Textual gives printable keys to the focused input): f1 there.
                Binding("question_mark,f1", "help", "help")]

    def __init__(self, state_override: Path | None = None) -> None:
        super().__init__(id="target")
        self.state_override = state_override
        self.cache = SourceCache()
        self.check: FormCheck | None = None
        self.fields: dict[str, FormField] = {}
        self.touched: set[str] = set()
        self.show_all = False
        self.checks = FormChecks(self, self.choices, self.run_check)
        self._advance = False
        self._release_opts: tuple[str, ...] = ()
        self._module_opts: tuple[str, ...] = ()
        self._context_opts: tuple[str, ...] = ()
        self.fetched: Fetched | None = None
        self._cancel: threading.Event | None = None       # set while a fetch runs
        self._fetch_phase = ""                             # git's phase and percent, as last reported
        self._fetch_after = False                          # ctrl+g pressed while the form was being checked
        self.compat: dict[str, Compat | BaseException] = {}   # by manifest path
        self._compat_running: set[str] = set()
        self.compat_checks = CompatChecks()     # in a process of its own: the loop never waits for the GIL
        self._acked: set[str] = set()

    # -- layout -------------------------------------------------------------------
    def compose(self) -> ComposeResult:
        def field(name: str, widget: Widget, *extra: Widget) -> FormField:
            return FormField(name, LABELS[name], widget, *extra)

        yield FlowHeader(id="flow-header")
        with VerticalScroll(id="form"):
            yield field("provider", RadioSet(Choice("sandbox (on this machine)", value=True),
                                             Choice("existing cluster"), id="provider", compact=True))
            yield field("kubeconfig", Input(placeholder="path of the cluster's kubeconfig", id="kubeconfig",
                                            compact=True))
            yield field("context", Select[str]([], prompt="its current-context", id="context", compact=True))
            yield field("environment", Input(placeholder="a name such as sdc-prod", id="environment", compact=True))
            yield field("source", RadioSet(Choice("bundled sample", value=True),
                                           Choice("local directory"), Choice("git URL + ref"),
                                           id="source", compact=True))
            yield field("source_path", Input(placeholder="path of a DIGIT-DevOps checkout", id="source_path",
                                             compact=True))
            yield field("git_url", Input(placeholder="such as https://github.com/egovernments/DIGIT-DevOps.git",
                                         id="git_url", compact=True))
            yield field("git_ref", Input(placeholder="a branch, tag or commit such as master", id="git_ref",
                                         compact=True),
                        ProgressBar(total=100, show_eta=False, id="fetch-bar"))
            yield field("release", Select[str]([], prompt="(reading the tree…)", id="release", compact=True))
            yield field("modules", CheckList(id="modules"))
            yield field("domain", Input(placeholder="such as egov.example.gov.in", id="domain", compact=True))
        yield Static(id="flow-status")
        yield QuietFooter(show_command_palette=False)

    def on_mount(self) -> None:
        self.fields = {f.field_name: f for f in self.query(FormField)}
        self.query_one("#fetch-bar").display = False
        self._visibility()
        self.query_one("#provider", RadioSet).focus()
        self.schedule()

    def on_unmount(self) -> None:
        self.checks.stop()
        self.compat_checks.close()      # the check's process is killed, not waited for

    # -- reading the form ---------------------------------------------------------------
    def choices(self) -> Choices:
        provider = self.query_one("#provider", RadioSet).pressed_index
        source = self.query_one("#source", RadioSet).pressed_index
        context = self.query_one("#context", Select).value
        release = self.query_one("#release", Select).value
        selected = set(self.query_one("#modules", CheckList).selected)
        return Choices(
            provider=PROVIDERS[max(provider, 0)],
            kubeconfig=self.query_one("#kubeconfig", Input).value,
            context=context if isinstance(context, str) else "",
            environment=self.query_one("#environment", Input).value.strip(),
            source=SOURCES[max(source, 0)],
            source_path=self.query_one("#source_path", Input).value,
            git_url=self.query_one("#git_url", Input).value,
            git_ref=self.query_one("#git_ref", Input).value,
            checkout=self._checkout(),
            release=release if isinstance(release, str) else "",
            modules=tuple(m for m in self._module_opts if m in selected),
            domain=self.query_one("#domain", Input).value.strip(),
        )

    def _checkout(self) -> str:
        """The fetched tree, when it is of the URL, ref and environment the form holds now."""
        f = self.fetched
        if f is None:
            return ""
        now = (self.query_one("#git_url", Input).value.strip(), self.query_one("#git_ref", Input).value.strip(),
               self.query_one("#environment", Input).value.strip())
        return str(f.checkout) if (f.url, f.ref, f.environment) == now else ""

    def _visibility(self) -> None:
        c = self.choices()
        for name in ("kubeconfig", "context"):
            self.query_one(f"#field-{name}").display = c.provider == "existing"
        self.query_one("#field-source_path").display = c.source == "path"
        for name in ("git_url", "git_ref"):
            self.query_one(f"#field-{name}").display = c.source == "git"
        self.refresh_bindings()

    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        # The footer offers fetch only for a git source, the report only once there is one.
        if action == "fetch":
            return self.choices().source == "git"
        if action == "report":
            return self._compat_key() in self.compat
        return True

    # -- checking -------------------------------------------------------------------------
    def schedule(self, *, again: bool = False) -> None:
        # A check is due: the indicator says so at once. Nothing changed: the last check's findings
        # as they are (a field just touched shows its problem).
        self._header() if self.checks.changed(again=again) else self._render_fields()

    @work(thread=True, exclusive=True, group="form-check", exit_on_error=False, description="checking the answers")
    def run_check(self, gen: int, choices: Choices) -> None:
        result = check_choices(choices, self.cache, state_override=self.state_override)
        self.app.call_from_thread(self._apply, gen, result)

    def _apply(self, gen: int, check: FormCheck) -> None:
        if not self.checks.answered(gen):
            return    # the form changed meanwhile: a newer check is coming
        self.check = check
        self._sync_options(check)
        self._start_compat()
        self._render_fields()
        self._header()
        self.refresh_bindings()
        if self._fetch_after:
            self._fetch_after = False
            self.action_fetch()
        if self._advance and self._compat_key() not in self._compat_running:
            self._advance = False
            self.action_plan()

    # -- the git source ---------------------------------------------------------------------
    def action_fetch(self) -> None:
        check = self.check
        if self.choices().source != "git" or self._cancel is not None:
            return
        if self.checks.pending or check is None:
            self._fetch_after = True       # once the check under way has answered
            return
        if check.fetch is None:
            name = next((n for n in ("environment", "git_url", "git_ref") if n in check.errors), "git_url")
            self.show_all = True
            self._render_fields()
            self.query_one(f"#{name}").focus()
            problem = check.errors.get(name)
            self.notify(f"{LABELS[name]}: {problem.message}" if problem else "the git URL and ref first",
                        severity="error", timeout=4)
            return
        self._cancel = threading.Event()
        bar = self.query_one("#fetch-bar", ProgressBar)
        bar.update(total=100, progress=0)
        self._fetch_phase = ""
        bar.display = True
        self._fetch_note(Text.assemble(("◌ ", "yellow"), f"fetching {check.fetch.url}@{check.fetch.ref}… ",
                                       ("escape cancels", "dim")))
        self.refresh_bindings()
        self.run_fetch(check.fetch, self._cancel)

    @work(thread=True, exclusive=True, group="fetch", exit_on_error=False, description="fetching the DIGIT source")
    def run_fetch(self, what: GitFetch, cancel: threading.Event) -> None:
        from digit_tui.digit.gitcmd import GitCancelled

        try:
            result = fetch(what.url, what.ref, what.environment, what.state_dir,
                           lambda p: self.app.call_from_thread(self._fetch_progress, p), cancel)
        except GitCancelled:
            self.app.call_from_thread(self._fetch_done, None, "✗ fetch cancelled: ctrl+g fetches again")
            return
        except BaseException:
            self.app.call_from_thread(self._fetch_done, None, "✗ the fetch failed: ctrl+g tries again")
            raise          # the app's error dialog says why and what to do
        self.app.call_from_thread(self._fetch_done, result, "")

    def _fetch_progress(self, step: FetchProgress) -> None:
        if self._cancel is None:
            return
        if step.overall is not None:
            self.query_one("#fetch-bar", ProgressBar).update(progress=round(step.overall * 100))
            self._fetch_phase = step.label
        # git's other lines ("remote: Total 156 …") do not replace the phase the bar is at.
        self._fetch_note(Text.assemble(("◌ ", "yellow"), (self._fetch_phase or step.label) + " ",
                                       ("escape cancels", "dim")))

    def _fetch_done(self, result: Fetched | None, failed: str) -> None:
        self._cancel = None
        self.query_one("#fetch-bar").display = False
        if result is None:
            self._fetch_note(Text(failed, style="red"))
        else:
            self.fetched = result
            self.cache.forget()       # a fetch again replaces the checkout under the same path
            self._fetch_note(Text.assemble(("✓ ", "green"), f"fetched {result.ref} at {result.commit[:12]}",
                                           (f" · state's sources/{result.checkout.name}", "dim")))
        self.refresh_bindings()
        self.schedule(again=True)     # the checkout's tree is new even where its path is not

    def _fetch_note(self, text: Text | None) -> None:
        self.fields["git_ref"].note(text)

    # -- the compatibility report --------------------------------------------------------------
    def _compat_key(self) -> str:
        check = self.check
        if check is None or check.source.root is None or not check.source.release:
            return ""
        # The cluster is part of the key: the report is for the version of the cluster it goes to.
        # (No context chosen yet: the kubeconfig's current one, an empty part.)
        return "\0".join([str(check.source.root / check.source.release),
                          *(part or "" for part in check.choices.cluster() or ())])

    def _start_compat(self) -> None:
        key = self._compat_key()
        if not key or key in self.compat or self._compat_running:
            return     # one check at a time (each renders on every core): the next starts when it ends
        assert self.check is not None and self.check.source.root is not None
        self._compat_running.add(key)
        self.run_compat(key, self.check.source.root, self.check.choices.cluster())

    @work(thread=True, exclusive=False, group="compat", exit_on_error=False,
          description="checking the release's compatibility")
    def run_compat(self, key: str, root: Path, cluster: tuple[str, str | None] | None) -> None:
        worker = get_current_worker()
        try:
            result: Compat | BaseException = self.compat_checks.run(
                root, Path(key.split("\0", 1)[0]), cluster,
                lambda line: None if worker.is_cancelled else self.app.call_from_thread(
                    self._compat_progress, key, line),
                worker.cancelled_event)
        except CheckCancelled:
            return          # the screen went
        except BaseException as exc:
            self.app.call_from_thread(self._compat_done, key, exc)
            raise
        self.app.call_from_thread(self._compat_done, key, result)

    def _compat_progress(self, key: str, line: str) -> None:
        if key == self._compat_key():
            self.fields["release"].note(Text.assemble(("◌ ", "yellow"), f"compatibility: {line}…"))

    def _compat_done(self, key: str, result: Compat | BaseException) -> None:
        self._compat_running.discard(key)
        self.compat[key] = result
        self._start_compat()            # the release chosen meanwhile, if it is another
        self._render_compat()
        self.refresh_bindings()
        if self._advance and key == self._compat_key() and not self.checks.pending:
            self._advance = False
            self.action_plan()

    def _render_compat(self) -> None:
        key = self._compat_key()
        field = self.fields["release"]
        result = self.compat.get(key) if key else None
        if not key:
            field.note(None)
        elif result is None:
            if not (field.note_text is not None and field.note_text.plain.startswith("◌")):
                field.note(Text.assemble(("◌ ", "yellow"), "checking the release's compatibility…"))
        elif isinstance(result, Compat):
            field.note(summary(result))
        else:
            field.note(Text(f"✗ the compatibility check failed: {result}", style="red"))

    def action_report(self) -> None:
        result = self.compat.get(self._compat_key())
        if isinstance(result, Compat):
            self.app.push_screen(CompatScreen(result))
        elif self._compat_key() in self._compat_running:
            self.notify("the compatibility check is still running", timeout=2)

    def _sync_options(self, check: FormCheck) -> None:
        source = check.source
        with self.prevent(Select.Changed, CheckList.Changed):
            release = self.query_one("#release", Select)
            if source.releases != self._release_opts:
                self._release_opts = source.releases
                release.set_options([(release_label(r), r) for r in source.releases])
                release.prompt = "choose the release manifest" if source.releases else "(no release manifest)"
            if source.release and release.value != source.release:
                release.value = source.release
            if source.modules != self._module_opts:
                self._module_opts = source.modules
                self.query_one("#modules", CheckList).set_items(
                    [(m, _module_label(m, source.needs.get(m, ()))) for m in source.modules], check.choices.modules)
            names = check.contexts.names if check.contexts is not None else ()
            context = self.query_one("#context", Select)
            if names != self._context_opts:
                self._context_opts = names
                before = context.value
                current = check.contexts.current if check.contexts is not None else None
                context.set_options([(n + ("  (current)" if n == current else ""), n) for n in names])
                if before in names:
                    context.value = before

    def _render_fields(self) -> None:
        check = self.check
        if check is None:
            return
        show_problems(self.fields, check.errors, lambda name: self.show_all or name in self.touched)
        self.fields["environment"].note(
              Text(f"state: {check.state_dir}", style="dim") if check.state_dir else None)
        self._render_modules()
        self._render_compat()
        status = self.query_one("#flow-status", Static)
        if check.ok:
            status.update(Text.assemble(("✓ ", "green"), "valid — ctrl+n: check the prerequisites; answers go to ",
                                        (str(check.answers_path), "bold")))
        elif check.first is not None:
            name, problem = check.first
            status.update(Text.assemble(("✗ ", "bold red"), field_text(problem)))

    def _render_modules(self) -> None:
        check = self.check
        field = self.fields["modules"]
        if check is None or check.source.manifest is None:
            field.note(None)
            return
        selected = set(self.query_one("#modules", CheckList).selected)
        deploys = check.source.resolve(m for m in self._module_opts if m in selected)
        line = Text(f"deploys {len(deploys)} modules: ", style="dim")
        for i, m in enumerate(deploys):
            line.append(("" if i == 0 else " · ") + m, style="bold" if m in selected else "dim")
        field.note(line)

    def _header(self) -> None:
        self.query_one("#flow-header", FlowHeader).show("1/5 target and source", self.checks.state(self.check))

    # -- events ------------------------------------------------------------------------------
    def on_input_changed(self, event: Input.Changed) -> None:
        if event.input.id:
            self.touched.add(event.input.id)
        if event.input.id in ("git_url", "git_ref", "environment") and self._cancel is None:
            here = self._checkout()
            self._fetch_note(Text(f"✓ fetched · state's sources/{Path(here).name}", style="dim") if here else None)
        self.schedule()

    def on_input_submitted(self, event: Input.Submitted) -> None:
        if event.input.id == "git_ref" and self.check is not None and self.check.fetch is not None \
                and not self._checkout():
            self.action_fetch()
            return
        self.focus_next()

    def on_radio_set_changed(self, event: RadioSet.Changed) -> None:
        if event.radio_set.id:
            self.touched.add(event.radio_set.id)
        self._visibility()
        self.schedule()

    def on_select_changed(self, event: Select.Changed) -> None:
        if event.select.id:
            self.touched.add(event.select.id)
        self.schedule()

    def on_check_list_changed(self, event: CheckList.Changed) -> None:
        self.touched.add("modules")
        self._render_modules()
        self.schedule()

    # -- actions -------------------------------------------------------------------------------
    def action_plan(self) -> None:
        from digit_tui.screens.prereqs import PrereqScreen

        self.show_all = True
        if self.checks.pending:
            self._advance = True     # once the check under way has answered
            return
        check = self.check
        if check is None or not check.ok or check.answers is None or check.answers_path is None \
                or check.state_dir is None:
            self._render_fields()
            if check is not None and check.first is not None:
                name = check.first[0]
                self.query_one(f"#{name}").focus()
                self.notify(f"{LABELS[name]}: {check.first[1].message}", severity="error", timeout=4)
            return
        if not self._compat_allows():
            return
        self.app.push_screen(PrereqScreen(check.answers, check.answers_path, check.state_dir,
                                          state_override=self.state_override))

    def _compat_allows(self) -> bool:
        """The release's report lets the install go on: deployable, its warnings seen (a second ctrl+n)."""
        key = self._compat_key()
        status = self.query_one("#flow-status", Static)
        result = self.compat.get(key)
        if result is None:
            self._advance = True            # once the report is there
            status.update(Text.assemble(("◌ ", "yellow"), "checking the release's compatibility: "
                                        "the prerequisites follow when it passes"))
            return False
        if isinstance(result, BaseException):
            status.update(Text.assemble(("✗ ", "bold red"), f"the compatibility check failed: {result}"))
            self.notify("the release could not be checked: choose another or fix the tree", severity="error")
            return False
        if not result.deployable:
            first = result.errors()[0]
            status.update(Text.assemble(("✗ ", "bold red"), f"the release is not deployable: {result.where(first)}: "
                                        f"{first.message} (ctrl+r: the whole report)"))
            self.query_one("#release").focus()
            self.notify(f"not deployable: {result.where(first)}: {first.message}", severity="error", timeout=5)
            return False
        warnings = result.warnings()
        if warnings and key not in self._acked:
            self._acked.add(key)
            n = len(warnings)
            status.update(Text.assemble(("! ", "bold yellow"), f"{n} warning{'s' if n != 1 else ''} in the "
                                        "compatibility report (ctrl+r reads them): ctrl+n again goes on with them"))
            return False
        return True

    def action_back(self) -> None:
        if self._cancel is not None:
            self._cancel.set()               # escape while fetching: stop git, stay on the form
            return
        self.app.pop_screen()


def _module_label(module: str, needs: tuple[str, ...]) -> Text:
    label = Text(module)
    if needs:
        label.append("  needs " + ", ".join(needs), style="dim")
    return label
