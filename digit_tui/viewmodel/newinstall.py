"""The target-and-source form of a new install, without Textual: the operator's choices, the
candidate answers they make, and what is wrong with them.

Validation is `digit-tui validate`'s own: the choices are written as an answers text (one key
per line, so that an error's line names the field it is about) and read back by
``parse_answers`` with file checks, relative paths anchored at the answers file the install will
use. The messages are the loader's, word for word. Run it off the event loop: it reads the
DIGIT tree and the kubeconfig.
"""

from __future__ import annotations

import json
import os
import threading
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

from digit_tui import paths
from digit_tui.errors import InputError
from digit_tui.viewmodel.kubeconfig import Contexts, read_contexts

if TYPE_CHECKING:
    from digit_tui.answers.model import Answers
    from digit_tui.digit.manifest import ReleaseManifest

FIELDS = ("provider", "kubeconfig", "context", "environment", "source", "source_path", "git_url", "git_ref",
          "release", "modules", "domain")
PROVIDERS = ("sandbox", "existing")
SOURCES = ("bundled", "path", "git")
ANSWERS_NAME = "answers.yaml"


@dataclass(frozen=True)
class Choices:
    provider: str = "sandbox"
    kubeconfig: str = ""
    context: str = ""               # "": the kubeconfig's current-context
    environment: str = ""
    source: str = "bundled"
    source_path: str = ""
    git_url: str = ""
    git_ref: str = ""
    checkout: str = ""              # a git source: where it was fetched for this environment ("": not yet)
    release: str = ""               # relative to the tree's root; "": the tree's only (or the sample's) one
    modules: tuple[str, ...] = ()
    domain: str = ""

    def candidate(self) -> tuple[str, dict[int, str]]:
        """The answers text these choices make, and which field each line is about."""
        lines: list[tuple[str, str]] = [("version: 1", "environment"),
                                        (f"environment: {_q(self.environment)}", "environment"),
                                        ("target:", "provider"),
                                        (f"  provider: {_q(self.provider)}", "provider")]
        if self.provider == "existing":
            lines.append((f"  kubeconfig: {_q(_abs(self.kubeconfig))}", "kubeconfig"))
            if self.context:
                lines.append((f"  context: {_q(self.context)}", "context"))
        lines.append(("digit:", "domain"))
        if self.source == "path":
            lines += [("  source:", "source"), (f"    path: {_q(_abs(self.source_path))}", "source_path")]
        elif self.source == "git":
            lines += [("  source:", "source"), (f"    git: {_q(self.git_url.strip())}", "git_url"),
                      (f"    ref: {_q(self.git_ref.strip())}", "git_ref")]
        else:
            lines.append(("  source: bundled", "source"))
        if self.release:
            lines.append((f"  release: {_q(self.release)}", "release"))
        if self.modules:
            lines.append(("  modules:", "modules"))
            lines += [(f"    - {_q(m)}", "modules") for m in self.modules]
        lines.append((f"  domain: {_q(self.domain)}", "domain"))
        return "".join(text + "\n" for text, _ in lines), {i + 1: f for i, (_, f) in enumerate(lines)}

    def cluster(self) -> tuple[str, str | None] | None:
        """An existing cluster's kubeconfig (absolute) and context; None for the sandbox."""
        if self.provider != "existing" or not self.kubeconfig.strip():
            return None
        return _abs(self.kubeconfig), self.context or None

    def source_dir(self) -> Path | None:
        from digit_tui.answers.model import BUNDLED_SOURCE

        if self.source == "bundled":
            return BUNDLED_SOURCE
        if self.source == "git":
            return Path(self.checkout) if self.checkout else None
        return Path(_abs(self.source_path)) if self.source_path.strip() else None


def _q(value: str) -> str:
    """A YAML scalar for any text (JSON's double-quoted strings are YAML)."""
    return json.dumps(value, ensure_ascii=False)


def _abs(path: str) -> str:
    """A path typed in the TUI is relative to where digit-tui runs, not to the answers file."""
    text = path.strip()
    return os.path.abspath(os.path.expanduser(text)) if text else ""


# --------------------------------------------------------------------------- the DIGIT tree


@dataclass(frozen=True)
class SourceInfo:
    """The release manifests a tree holds and the modules of the chosen one."""

    root: Path | None = None
    releases: tuple[str, ...] = ()          # relative to the root, as digit.release takes them
    release: str | None = None              # the one in use: chosen, else the default
    modules: tuple[str, ...] = ()           # the selectable m_ modules of that release
    needs: dict[str, tuple[str, ...]] = field(default_factory=dict)   # module -> its direct dependencies
    manifest: ReleaseManifest | None = None
    error: InputError | None = None
    error_field: str = "source_path"

    def resolve(self, selected: Iterable[str]) -> list[str]:
        """Every module the selection deploys, in order (platform modules, dependencies, the chosen)."""
        if self.manifest is None:
            return []
        chosen = [m for m in selected if m in self.modules]
        try:
            return self.manifest.resolve(chosen)
        except InputError:
            return []


class SourceCache:
    """Trees and manifests already read, so that typing elsewhere does not walk the tree again.
    Shared by the form's workers (one at a time, but a superseded one may still be finishing)."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._trees: dict[str, tuple[Path, tuple[str, ...]] | InputError] = {}
        self._manifests: dict[tuple[str, float], ReleaseManifest | InputError] = {}

    def tree(self, root: Path) -> tuple[Path, tuple[str, ...]]:
        from digit_tui.digit.source import open_source

        key = str(root)
        with self._lock:
            hit = self._trees.get(key)
        if hit is None:
            try:
                source = open_source(key)
                hit = (source.root, tuple(str(p.relative_to(source.root)) for p in source.release_manifests()))
            except InputError as exc:
                hit = exc
            with self._lock:
                self._trees[key] = hit
        if isinstance(hit, InputError):
            raise hit
        return hit

    def manifest(self, path: Path) -> ReleaseManifest:
        from digit_tui.digit.manifest import load_manifest

        try:
            key = (str(path), path.stat().st_mtime)
        except OSError as exc:
            raise InputError(f"release manifest {path} cannot be read: {exc.strerror or exc}", path=path) from None
        with self._lock:
            hit = self._manifests.get(key)
        if hit is None:
            try:
                hit = load_manifest(path)
            except InputError as exc:
                hit = exc
            with self._lock:
                self._manifests[key] = hit
        if isinstance(hit, InputError):
            raise hit
        return hit

    def forget(self) -> None:
        with self._lock:
            self._trees.clear()
            self._manifests.clear()


def source_info(choices: Choices, cache: SourceCache) -> SourceInfo:
    root = choices.source_dir()
    if root is None:
        return SourceInfo()
    try:
        tree_root, releases = cache.tree(root)
    except InputError as exc:
        field = {"path": "source_path", "git": "git_ref"}.get(choices.source, "source")
        return SourceInfo(error=exc, error_field=field)
    release = choices.release if choices.release in releases else _default_release(choices, releases)
    if release is None:
        return SourceInfo(tree_root, releases)
    try:
        manifest = cache.manifest(tree_root / release)
    except InputError as exc:
        return SourceInfo(tree_root, releases, release, error=exc, error_field="release")
    modules = tuple(manifest.selectable())
    needs = {m: tuple(manifest.modules[m].dependencies) for m in modules}
    return SourceInfo(tree_root, releases, release, modules, needs, manifest)


def _default_release(choices: Choices, releases: tuple[str, ...]) -> str | None:
    # As the answers read a missing digit.release: the sample's newest, or a tree's only manifest.
    if not releases:
        return None
    if choices.source == "bundled" or len(releases) == 1:
        return releases[-1]
    return None


# --------------------------------------------------------------------------- the check


@dataclass(frozen=True)
class GitFetch:
    """What ctrl+g fetches: the source of the form, into the cache of its environment's state."""

    url: str
    ref: str
    environment: str
    state_dir: Path


@dataclass(frozen=True)
class FormCheck:
    choices: Choices                        # what was checked (the choices with the release in use)
    answers: Answers | None                 # the validated answers, when there is no problem
    errors: dict[str, InputError]           # the first problem of each field
    first: tuple[str, InputError] | None    # the first problem, in the form's order
    source: SourceInfo
    contexts: Contexts | None               # of the kubeconfig, for an existing cluster
    state_dir: Path | None                  # where this install will keep its state
    answers_path: Path | None               # <state_dir>/answers.yaml
    fetch: GitFetch | None = None           # a git source whose URL, ref and environment are valid

    @property
    def ok(self) -> bool:
        return self.answers is not None and not self.errors


def state_dir_for(environment: str, override: Path | None) -> Path:
    return paths.state_dir(environment, override)


def check_choices(choices: Choices, cache: SourceCache, *, state_override: Path | None = None) -> FormCheck:
    """Everything the form shows about ``choices``: the tree's releases and modules, the
    kubeconfig's contexts, and the problems `digit-tui validate` would report."""
    source = source_info(choices, cache)
    if source.release and source.release != choices.release:
        choices = _replace(choices, release=source.release)
    contexts = read_contexts(_abs(choices.kubeconfig)) if choices.provider == "existing" and choices.kubeconfig.strip() \
        else None
    checked = choices
    if choices.source == "path" and source.error is not None:
        # Not a DIGIT tree (yet: the operator may be typing its path): say so, and check the rest
        # without it, for validate would search the whole directory, "/" included, for manifests.
        checked = _replace(choices, source="bundled", release="", modules=())
    # Every path in the candidate is absolute: where the answers file will be changes nothing here.
    answers, problems = _validate(checked, Path.cwd() / ANSWERS_NAME)
    errors: dict[str, InputError] = {}
    for name, problem in problems:
        errors.setdefault(name, problem)
    state_dir: Path | None = None
    answers_path: Path | None = None
    if "environment" not in errors:
        try:
            state_dir = state_dir_for(choices.environment, state_override)
            answers_path = state_dir / ANSWERS_NAME
        except InputError as exc:
            errors["environment"] = exc
    # What validate cannot know: the tree's own shape, and an install already kept under this name.
    if source.error is not None and source.error_field not in errors:
        errors[source.error_field] = source.error
    if state_dir is not None and (state_dir / "journal.db").exists() and "environment" not in errors:
        taken = InputError(f"environment: {choices.environment} already has an install in {state_dir}",
                           expected="another name, or resume that install from the welcome screen")
        errors["environment"] = taken
    # A git source is fetched into its environment's state: only once that name is free and valid.
    fetch = None
    if choices.source == "git" and state_dir is not None and not {"git_url", "git_ref", "environment"} & set(errors):
        fetch = GitFetch(choices.git_url.strip(), choices.git_ref.strip(), choices.environment, state_dir)
    if choices.source == "git" and not choices.checkout:
        # The release and modules come from the tree once fetched: until then, fetching is what to do.
        errors.pop("release", None)
        if not {"git_url", "git_ref", "environment"} & set(errors):
            errors["git_ref"] = InputError(f"{choices.git_url.strip()}@{choices.git_ref.strip()} is not fetched yet",
                                           expected="ctrl+g: fetch it (its release manifests fill the list)")
    if contexts is not None and contexts.names and not choices.context and contexts.current is None \
            and "context" not in errors:
        errors["context"] = InputError("target.context: the kubeconfig has no current-context",
                                       expected="one of " + ", ".join(contexts.names))
    # The first problem as the form shows them, top to bottom.
    first = min(errors.items(), key=lambda item: FIELDS.index(item[0])) if errors else None
    return FormCheck(choices, answers if not errors else None, errors, first, source, contexts, state_dir,
                     answers_path, fetch)


def _validate(choices: Choices, answers_path: Path) -> tuple[Answers | None, list[tuple[str, InputError]]]:
    from digit_tui.answers.loader import AnswersError, parse_answers

    text, fields = choices.candidate()
    try:
        return parse_answers(text, answers_path, check_files=True), []
    except AnswersError as exc:
        return None, [(_field_of(p, fields), _unlocated(p)) for p in exc.problems or [exc]]
    except InputError as exc:
        return None, [(_field_of(exc, fields), _unlocated(exc))]


def _field_of(problem: InputError, fields: dict[int, str]) -> str:
    name = fields.get(problem.line or 0, "environment")
    if name in ("source", "source_path") and ("release is not set" in problem.message
                                              or "release is required" in problem.message):
        return "release"   # validate points at the source; the field to change is the release
    return name


def _unlocated(problem: InputError) -> InputError:
    """The message and what is expected, without the candidate's file and line (no such file yet)."""
    return InputError(problem.message, expected=problem.expected)


def _replace(choices: Choices, **kw: object) -> Choices:
    from dataclasses import replace

    return replace(choices, **kw)  # type: ignore[arg-type]


def answers_text(answers: Answers) -> str:
    """What is written to the answers file (answers/settings.py ``answers_to_yaml``), with a header."""
    from digit_tui.answers.settings import answers_to_yaml

    return ("# Written by the digit-tui guided install. The same file drives an unattended install:\n"
            "#   digit-tui install --answers THIS-FILE --headless\n" + answers_to_yaml(answers))
