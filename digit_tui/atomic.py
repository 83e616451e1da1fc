"""Write a file so readers see the old content or the new one, never a part.

The data goes to a temporary file in the destination's directory (same file
system, so the rename is atomic), created with the final mode from the start
(a secrets file is never readable by others, not even for a moment), flushed
and fsynced; then it is renamed over the destination and the directory is
fsynced so the rename survives a crash.
"""

from __future__ import annotations

import os
import tempfile
from collections.abc import Iterable
from pathlib import Path

Content = str | bytes | Iterable[bytes]


def atomic_write(path: str | os.PathLike[str], content: Content, mode: int = 0o600) -> Path:
    """Replace ``path`` with ``content`` atomically; returns the path.

    Private (0600) unless told otherwise: what digit-tui generates describes an install.

    ``content`` may be text (UTF-8), bytes, or an iterable of byte chunks (a
    serializer that can fail half way). On any failure the destination is left
    as it was and the temporary file is removed.
    """
    target = Path(path)
    target.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    fd, tmp_name = tempfile.mkstemp(prefix=f".{target.name}.", suffix=".tmp", dir=target.parent)
    try:
        with os.fdopen(fd, "wb") as handle:
            # mkstemp creates 0600; set the final mode before any byte is written.
            os.fchmod(handle.fileno(), mode)
            if isinstance(content, str):
                handle.write(content.encode("utf-8"))
            elif isinstance(content, bytes | bytearray):
                handle.write(content)
            else:
                for chunk in content:
                    handle.write(chunk)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(tmp_name, target)
    except BaseException:
        try:
            os.unlink(tmp_name)
        except FileNotFoundError:
            pass
        raise
    _fsync_dir(target.parent)
    return target


def _fsync_dir(directory: Path) -> None:
    try:
        dir_fd = os.open(directory, os.O_RDONLY | getattr(os, "O_DIRECTORY", 0))
    except OSError:
        return  # some file systems do not open directories; the rename itself is done
    try:
        os.fsync(dir_fd)
    except OSError:
        pass
    finally:
        os.close(dir_fd)
