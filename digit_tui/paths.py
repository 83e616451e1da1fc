"""Where digit-tui keeps its state ($XDG_STATE_HOME/digit-tui/<environment>/) and its caches
($XDG_CACHE_HOME/digit-tui/: what can always be made again)."""

from __future__ import annotations

import os
import stat
from pathlib import Path

from digit_tui.errors import InputError

PRIVATE_DIR = 0o700
PRIVATE_FILE = 0o600


def state_root() -> Path:
    base = os.environ.get("XDG_STATE_HOME") or os.path.join(os.path.expanduser("~"), ".local", "state")
    return Path(base) / "digit-tui"


def cache_root() -> Path:
    base = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    return Path(base) / "digit-tui"


def state_dir(environment: str, override: str | os.PathLike[str] | None = None) -> Path:
    """The state directory of one environment; ``override`` (--state-dir) wins.

    Nothing is created here; a --state-dir that names something other than a
    directory is bad input (exit 2) before any command reads or writes it."""
    if override:
        path = Path(override).expanduser().resolve()
        check_dir_path(path, "--state-dir", "a directory for digit-tui's state (created if missing)")
        return path
    return state_root() / environment


def check_dir_path(path: Path, option: str, expected: str) -> None:
    """InputError unless ``path`` is a directory or could be created as one (no file in the way)."""
    if path.exists():
        if not path.is_dir():
            raise InputError(f"{option} names a file, not a directory", path=path, expected=expected)
        return
    parent = next((p for p in Path(os.path.abspath(path)).parents if p.exists()), None)
    if parent is not None and not parent.is_dir():
        raise InputError(f"{option} is inside {parent}, which is a file", path=path, expected=expected)


def ensure_private_dir(path: Path, what: str = "the state directory") -> Path:
    """Create ``path`` 0700, or tighten an existing one to 0700: it holds the journal, secrets
    and the control socket (or reports of a cluster). ``what`` names it in the messages.

    A directory someone else owns, or a shared one such as /tmp (world-writable), is refused
    rather than chmod-ed: tightening it would break its other users."""
    try:
        path.mkdir(parents=True, exist_ok=True, mode=PRIVATE_DIR)
        st = path.stat()
    except FileExistsError:
        raise InputError(f"{what} is a file", path=path,
                         expected="a directory for digit-tui's files (created if missing)") from None
    except NotADirectoryError:
        raise InputError(f"a parent of {what} is a file", path=path,
                         expected="a path whose parents are directories") from None
    except OSError as exc:
        raise InputError(f"cannot create {what}: {exc.strerror}", path=path,
                         expected="a directory you can write to") from None
    if st.st_uid != os.getuid():
        raise InputError(f"{what} belongs to uid {st.st_uid}, not to you", path=path,
                         expected="a directory you own (it is made private: mode 0700)")
    mode = stat.S_IMODE(st.st_mode)
    if mode & stat.S_IWOTH:
        raise InputError(f"{what} is writable by everyone (mode {mode:04o})", path=path,
                         expected="a directory of its own, not a shared one such as /tmp")
    if mode != PRIVATE_DIR:
        os.chmod(path, PRIVATE_DIR)
    return path


def tighten(path: Path, mode: int = PRIVATE_FILE) -> None:
    """Set ``path``'s mode if it exists: files an older digit-tui left world-readable."""
    try:
        if stat.S_IMODE(path.stat().st_mode) != mode:
            os.chmod(path, mode)
    except FileNotFoundError:
        pass
