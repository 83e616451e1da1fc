"""YAML the way Helm reads it: values, environment and secrets files, release manifests, Chart.yaml.

DIGIT's files are written for Helm (and DIGIT's Go deployer), whose YAML parser
(go-yaml v2 behind ``sigs.k8s.io/yaml``) accepts things PyYAML refuses, such as
the trailing tabs in nginx-ingress's ``values.yaml``. So digit-tui asks Helm
itself, through helm-python-sdk's ``values_from_yaml``, and gets exactly the
values ``helm template -f FILE`` would use (``y:`` keys become ``"true"``,
numbers come back as JSON numbers, a second document is ignored).

A file Helm refuses gives Helm's own message with the 1-based line. go-yaml's
parser (not its scanner) reports lines counted from 0, and omits line 1;
:func:`helm_error_line` undoes both so the line points at the text an editor
shows.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import yaml

from digit_tui import yamlload
from digit_tui.errors import InputError, PermanentError

# go-yaml v2's parser problems (parserc.go): their line is 0-based; scanner problems' is 1-based.
_PARSER_PROBLEMS: tuple[str, ...] = (
    "did not find expected <stream-start>", "did not find expected <document start>",
    "did not find expected node content", "did not find expected key", "did not find expected '-' indicator",
    "did not find expected ',' or ']'", "did not find expected ',' or '}'", "found duplicate %YAML directive",
    "found duplicate %TAG directive", "found incompatible YAML document", "found undefined tag handle",
)
_YAML_ERR = re.compile(r"yaml: (?:line (?P<line>\d+): )?(?P<problem>.*)$", re.DOTALL)
_NOT_A_MAP = "cannot unmarshal"


class YamlSyntaxError(InputError):
    """A file Helm's YAML parser refuses; ``line`` is 1-based, ``problem`` is Helm's text."""

    def __init__(self, problem: str, *, path: Path | str | None, line: int | None, role: str) -> None:
        where = f" at line {line}" if line else ""
        super().__init__(f"{role}: YAML syntax error{where}: {problem}", path=path, line=line)
        self.problem = problem


def sdk() -> Any:
    """helm-python-sdk, or a PermanentError saying it cannot be loaded."""
    try:
        import helm_python
    except Exception as exc:  # the native library may fail to load (wrong arch, libc)
        raise PermanentError(f"the embedded Helm SDK cannot be loaded to read YAML: {exc}",
                             remedy="reinstall digit-tui's dependencies (helm-python-sdk)") from exc
    return helm_python


# Scanner and parser problems start so; go-yaml leaves their line out only when it is line 1.
# Other problems without a line (an unknown anchor) have no position at all.
_POSITIONED = ("found ", "did not find ", "could not find ", "mapping values ", "block sequence ", "control characters",
               "invalid ", "while ")


def helm_error_line(problem: str, line: int | None) -> int | None:
    """The 1-based line of a go-yaml error, from the line its message shows (None: not shown)."""
    if line is None:
        return 1 if problem.startswith(_POSITIONED) else None
    return line + 1 if problem.startswith(_PARSER_PROBLEMS) else line


def parse_mapping(text: str, *, path: Path | str | None = None, role: str = "values file") -> dict[str, Any]:
    """``text`` as Helm reads a ``-f`` file: a mapping (empty text gives ``{}``).

    Raises :class:`YamlSyntaxError` for broken YAML and :class:`InputError` when the
    document is not a mapping; neither quotes the file's text (it may be a secret)."""
    helm = sdk()
    if not text.strip():
        return {}
    try:
        data = helm.values_from_yaml(text)
    except helm.HelmValuesError as exc:
        message = str(exc).strip()
        if _NOT_A_MAP in message and "yaml:" not in message:
            raise InputError(f"{role} is not a mapping", path=path, line=1, expected="key: value pairs") from None
        match = _YAML_ERR.search(message)
        if match is None:
            raise YamlSyntaxError(message.splitlines()[0][:300] if message else "not valid YAML",
                                  path=path, line=None, role=role) from None
        problem = match.group("problem").strip().splitlines()[0][:300]
        shown = int(match.group("line")) if match.group("line") else None
        raise YamlSyntaxError(problem, path=path, line=helm_error_line(problem, shown), role=role) from None
    return _shallow(data if isinstance(data, dict) else {}, path=path, role=role)


def _shallow(data: dict[str, Any], *, path: Path | str | None, role: str) -> dict[str, Any]:
    if yamlload.too_deep(data, yamlload.MAX_DEPTH):
        # Helm reads it, but every Python step after it (merging the layers, copying) recurses.
        raise InputError(f"{role} is nested deeper than {yamlload.MAX_DEPTH} levels", path=path,
                         expected="values nested a few levels deep, as charts use them")
    return data


def parse_plain_mapping(text: str, *, path: Path | str | None = None,
                        role: str = "file") -> tuple[dict[str, Any], yaml.Node | None]:
    """A file of names and lists (a release manifest, a Chart.yaml), as a mapping and its node tree
    (for line numbers; None when the file was read by Helm).

    Read by libyaml (PyYAML's C loader), which loads no Helm and takes a fraction of a millisecond;
    what it refuses (trailing tabs, which go-yaml accepts) is Helm's parser's to read or refuse with
    its own message, as ``parse_mapping``. Where the two would differ, on scalars such as ``y`` (a
    boolean to go-yaml's generic decoding, text to a Go struct's string field and to PyYAML) or
    ``1.0``, the text is what DIGIT's deployer reads too; values files, where Helm's reading decides
    what a chart renders, go through ``parse_mapping``."""
    if not text.strip():
        return {}, None
    fast = getattr(yaml, "CSafeLoader", None)
    shallow = yamlload.nesting_bound(text) < yamlload.C_NESTING_BOUND   # libyaml's composer recurses in C
    loader = (fast if fast is not None and shallow else yamlload.LimitedSafeLoader)(text)
    try:
        root = loader.get_single_node()
        data = loader.construct_document(root) if root is not None else {}
    except (yaml.YAMLError, RecursionError):
        return parse_mapping(text, path=path, role=role), None
    finally:
        loader.dispose()
    if not isinstance(data, dict):
        raise InputError(f"{role} is not a mapping", path=path, line=1, expected="key: value pairs")
    return _shallow(data, path=path, role=role), root


def read_text(path: str | Path, *, role: str = "values file") -> str:
    """The file's text; a missing, unreadable or non-UTF-8 file is an InputError naming it."""
    p = Path(path)
    try:
        return p.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise InputError(f"{role} not found", path=p) from None
    except UnicodeDecodeError:
        raise InputError(f"{role} is not UTF-8 text", path=p) from None
    except OSError as exc:
        raise InputError(f"cannot read the {role}: {exc.strerror}", path=p) from None


def load_mapping(path: str | Path, *, role: str = "values file") -> dict[str, Any]:
    """Read ``path`` and parse it with :func:`parse_mapping`."""
    return parse_mapping(read_text(path, role=role), path=Path(path), role=role)
