"""A known_hosts file the caller names (the state directory's), in OpenSSH's format.

``verify`` compares the key a host presents with the file and answers KNOWN,
UNKNOWN or CHANGED; it never decides to trust anything itself. ``trust`` writes
a key only when the caller passes it explicitly. Entries are looked up the way
OpenSSH does (``host`` for port 22, ``[host]:port`` otherwise; hashed entries
written by OpenSSH are understood), and the file can be shared with ``ssh -o
UserKnownHostsFile=...``.
"""

from __future__ import annotations

import base64
import hashlib
from collections.abc import Mapping
from dataclasses import dataclass
from enum import Enum
from pathlib import Path
from typing import TYPE_CHECKING

from digit_tui.atomic import atomic_write

if TYPE_CHECKING:   # imported where a file is read: `plan` and the TUI import this module for its types
    import paramiko

# What a known_hosts entry of a key type lets the client negotiate: an RSA entry is stored as
# "ssh-rsa" but negotiated as one of the SHA-2 signature algorithms.
_ALGORITHMS = {"ssh-rsa": ("rsa-sha2-512", "rsa-sha2-256")}


def fingerprint(key: paramiko.PKey) -> str:
    """``SHA256:base64`` without padding, as ``ssh-keygen -lf`` and OpenSSH's prompts print it."""
    digest = hashlib.sha256(key.asbytes()).digest()
    return "SHA256:" + base64.b64encode(digest).decode().rstrip("=")


def normalize_fingerprint(text: str) -> str:
    """Accept what an operator pastes (``SHA256:abc=``, surrounding blanks) as ``SHA256:abc``;
    anything else is returned unchanged so that it simply does not match."""
    text = text.strip()
    if text[:7].upper() == "SHA256:":
        return "SHA256:" + text[7:].rstrip("=")
    return text


def entry_name(host: str, port: int) -> str:
    return host if port == 22 else f"[{host}]:{port}"


class Verdict(str, Enum):
    KNOWN = "known"
    UNKNOWN = "unknown"     # no entry for this host at all: needs explicit trust
    CHANGED = "changed"     # entries exist, none is this key: possibly an attack


@dataclass(frozen=True)
class KnownKey:
    key_type: str           # "ssh-ed25519"
    fingerprint: str        # "SHA256:..."


@dataclass(frozen=True)
class HostKeyCheck:
    verdict: Verdict
    presented: KnownKey
    known: tuple[KnownKey, ...]   # what the file has for this host (empty when UNKNOWN)


def _load(path: Path) -> paramiko.HostKeys:
    import paramiko

    keys = paramiko.HostKeys()
    if path.exists():
        keys.load(str(path))
    return keys


def known_keys(path: Path, host: str, port: int) -> tuple[KnownKey, ...]:
    entries: Mapping[str, paramiko.PKey] = _load(path).lookup(entry_name(host, port)) or {}
    return tuple(KnownKey(t, fingerprint(k)) for t, k in entries.items())


def preferred_algorithms(path: Path, host: str, port: int, defaults: tuple[str, ...]) -> tuple[str, ...]:
    """The host key algorithms to offer, those already known for this host first, so that a
    host with several keys presents the one we have (OpenSSH orders HostKeyAlgorithms alike)."""
    known: list[str] = []
    for k in known_keys(path, host, port):
        for alg in _ALGORITHMS.get(k.key_type, (k.key_type,)):
            if alg in defaults and alg not in known:
                known.append(alg)
    return tuple(known) + tuple(a for a in defaults if a not in known)


def verify(path: Path, host: str, port: int, key: paramiko.PKey) -> HostKeyCheck:
    presented = KnownKey(key.get_name(), fingerprint(key))
    entries: Mapping[str, paramiko.PKey] = _load(path).lookup(entry_name(host, port)) or {}
    known = tuple(KnownKey(t, fingerprint(k)) for t, k in entries.items())
    if not entries:
        return HostKeyCheck(Verdict.UNKNOWN, presented, ())
    stored = entries.get(key.get_name())
    if stored is not None and stored.asbytes() == key.asbytes():
        return HostKeyCheck(Verdict.KNOWN, presented, known)
    # Known host, but not with this key: of the same type it was replaced, of another type the
    # host no longer has the one we know (we asked for it first). Both are OpenSSH's "changed".
    return HostKeyCheck(Verdict.CHANGED, presented, known)


def trust(path: Path, host: str, port: int, key: paramiko.PKey) -> None:
    """Make ``key`` the one key trusted for ``host:port``: an explicit trust after a change replaces
    what was there, so that an old key of another type cannot be presented later. Other hosts'
    lines (comments, hashed entries) are kept as they are. Written atomically, mode 0600."""
    name = entry_name(host, port)
    kept: list[str] = []
    if path.exists():
        for line in path.read_text().splitlines():
            fields = line.split()
            # comments, blank lines and @cert-authority / @revoked markers are not ours to drop
            if fields and not fields[0].startswith(("#", "@")) and any(
                    _matches(h, name) for h in fields[0].split(",")):
                continue
            kept.append(line)
    kept.append(f"{name} {key.get_name()} {key.get_base64()}")
    atomic_write(path, "\n".join(kept) + "\n", mode=0o600)


def _matches(pattern: str, name: str) -> bool:
    if pattern.startswith("|1|"):   # hashed: re-hash the name with the entry's salt
        import paramiko

        try:
            return paramiko.HostKeys.hash_host(name, pattern) == pattern
        except (ValueError, AssertionError, IndexError):   # a malformed hash matches nothing
            return False
    return pattern == name

