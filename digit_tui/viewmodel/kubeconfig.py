"""Kubeconfig files and their contexts, for the pickers of the welcome and target screens.

The health viewer's default follows `digit-tui health` (cli/health.py ``health_kubeconfig``):
the first file of ``$KUBECONFIG``, else ``~/.kube/config``, as kubectl picks it. The viewer only
reads; the installer never picks a kubeconfig this way (its answers name one or none).
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

import yaml

from digit_tui import yamlload


@dataclass(frozen=True)
class KubeconfigChoice:
    path: str
    origin: str            # "$KUBECONFIG" or "~/.kube/config"


def viewer_kubeconfigs(environ: dict[str, str] | None = None) -> list[KubeconfigChoice]:
    """Every kubeconfig the health viewer could read, in the order `digit-tui health` prefers them."""
    env = os.environ if environ is None else environ
    out: list[KubeconfigChoice] = []
    for entry in filter(None, env.get("KUBECONFIG", "").split(os.pathsep)):
        path = Path(entry).expanduser()
        if path.is_file():
            out.append(KubeconfigChoice(str(path), "$KUBECONFIG"))
    home = Path("~/.kube/config").expanduser()
    if home.is_file() and str(home) not in {c.path for c in out}:
        out.append(KubeconfigChoice(str(home), "~/.kube/config"))
    return out


@dataclass(frozen=True)
class Contexts:
    names: tuple[str, ...]
    current: str | None
    error: str | None = None     # why the file could not be read as a kubeconfig


def read_contexts(path: str) -> Contexts:
    """The context names of a kubeconfig and its current-context; never raises."""
    file = Path(path).expanduser()
    try:
        data = yamlload.safe_load(file.read_text(encoding="utf-8", errors="replace"))
    except FileNotFoundError:
        return Contexts((), None, f"{file} does not exist")
    except IsADirectoryError:
        return Contexts((), None, f"{file} is a directory")
    except OSError as exc:
        return Contexts((), None, f"{file}: {exc.strerror or exc}")
    except yaml.YAMLError as exc:
        return Contexts((), None, f"{file} is not YAML: {str(exc).splitlines()[0]}")
    if not isinstance(data, dict):
        return Contexts((), None, f"{file} is not a kubeconfig (no contexts)")
    names = tuple(str(c["name"]) for c in data.get("contexts") or [] if isinstance(c, dict) and c.get("name"))
    current = data.get("current-context")
    return Contexts(names, str(current) if current in names else None,
                    None if names else f"{file} has no contexts")
