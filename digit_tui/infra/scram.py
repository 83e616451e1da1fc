"""PostgreSQL's SCRAM-SHA-256 password verifiers, computed and checked on this machine.

A role's password is set as its verifier (``SCRAM-SHA-256$<iterations>:<salt>$<StoredKey>:<ServerKey>``,
the form ``pg_authid.rolpassword`` holds) rather than as the cleartext: the server stores the very
same thing either way, but then the password itself never reaches the database host, its process
list or its server log (a failing statement is logged with its text). Reading the verifier back and
checking it here tells whether the role already has the password, without logging in and without
setting it again (a new salt would change the verifier on every run).

The password is normalised as PostgreSQL does (``pg_saslprep``): SASLprep (RFC 4013) when the
password is valid UTF-8 and the profile allows it, else the raw bytes.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import os
import stringprep
import unicodedata
from dataclasses import dataclass

PREFIX = "SCRAM-SHA-256"
ITERATIONS = 4096        # PostgreSQL's default scram_iterations
SALT_BYTES = 16          # PostgreSQL's SCRAM_DEFAULT_SALT_LEN


@dataclass(frozen=True)
class Verifier:
    iterations: int
    salt: bytes
    stored_key: bytes
    server_key: bytes

    def __str__(self) -> str:
        def b64(b: bytes) -> str:
            return base64.b64encode(b).decode("ascii")
        return f"{PREFIX}${self.iterations}:{b64(self.salt)}${b64(self.stored_key)}:{b64(self.server_key)}"

    def __repr__(self) -> str:      # a verifier allows an offline guessing attack: never printed whole
        return f"Verifier(iterations={self.iterations})"


def parse(text: str | None) -> Verifier | None:
    """The verifier in ``text``, or None when it is not a SCRAM-SHA-256 verifier (md5, empty, NULL)."""
    if not text or not text.startswith(PREFIX + "$"):
        return None
    try:
        head, keys = text[len(PREFIX) + 1:].split("$", 1)
        iterations, salt = head.split(":", 1)
        stored, server = keys.split(":", 1)
        return Verifier(int(iterations), base64.b64decode(salt, validate=True),
                        base64.b64decode(stored, validate=True), base64.b64decode(server, validate=True))
    except ValueError:
        return None


def make(password: str, *, salt: bytes | None = None, iterations: int = ITERATIONS) -> Verifier:
    salt = os.urandom(SALT_BYTES) if salt is None else salt
    salted = hashlib.pbkdf2_hmac("sha256", _prepare(password), salt, iterations)
    client_key = hmac.digest(salted, b"Client Key", "sha256")
    server_key = hmac.digest(salted, b"Server Key", "sha256")
    return Verifier(iterations, salt, hashlib.sha256(client_key).digest(), server_key)


def matches(password: str, verifier: Verifier | str | None) -> bool:
    """True when ``verifier`` (a Verifier or ``rolpassword``'s text) was made from ``password``."""
    v = parse(verifier) if isinstance(verifier, str) or verifier is None else verifier
    if v is None:
        return False
    mine = make(password, salt=v.salt, iterations=v.iterations)
    return hmac.compare_digest(mine.stored_key, v.stored_key) and hmac.compare_digest(mine.server_key, v.server_key)


def _prepare(password: str) -> bytes:
    raw = password.encode("utf-8", "surrogateescape")
    if password.isascii():
        # SASLprep leaves printable ASCII as it is, and PostgreSQL falls back to the raw bytes for
        # the control characters it prohibits: either way, these bytes.
        return raw
    prepared = _saslprep(password)
    return raw if prepared is None else prepared.encode("utf-8")


def _saslprep(text: str) -> str | None:
    """RFC 4013, or None where PostgreSQL would give up on it (and use the raw bytes)."""
    mapped = "".join(" " if stringprep.in_table_c12(c) else c for c in text if not stringprep.in_table_b1(c))
    norm = unicodedata.normalize("NFKC", mapped)
    if not norm:
        return None
    prohibited = (stringprep.in_table_c12, stringprep.in_table_c21, stringprep.in_table_c22,
                  stringprep.in_table_c3, stringprep.in_table_c4, stringprep.in_table_c5,
                  stringprep.in_table_c6, stringprep.in_table_c7, stringprep.in_table_c8,
                  stringprep.in_table_c9, stringprep.in_table_a1)
    if any(test(c) for c in norm for test in prohibited):
        return None
    rand_al = [stringprep.in_table_d1(c) for c in norm]
    if any(rand_al):
        if any(stringprep.in_table_d2(c) for c in norm) or not (rand_al[0] and rand_al[-1]):
            return None
    return norm
