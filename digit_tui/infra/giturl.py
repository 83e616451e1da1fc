"""Credentials in git URLs: where they hide, and how to show a URL without them.

Git takes a secret from three places of a URL: the user part before ``@``
(``https://ghp_x@host``, ``https://oauth2:x@host``, ``user:pass@host:path``),
the query (``?access_token=x``) and the fragment. The user name of SSH
(``git@host:org/repo``, ``ssh://git@host/...``) names an account and is kept.

Everything here is plain string work, not ``urlsplit``: that raises on odd
ports and brackets, and the path that hides a secret must never fail. The
split is deliberately greedy (the last ``@`` before the query ends the user
part), so a token holding ``/`` is still caught; an ``@`` in a path is then
taken as a user part too, which errs on the safe side.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from urllib.parse import unquote

MASK = "***"
SSH_SCHEMES = frozenset({"ssh", "git+ssh", "ssh+git"})

# What an operator should do instead of putting a credential in the URL.
CREDENTIAL_REMEDY = (
    "a URL without credentials: an SSH URL such as git@host:org/repo.git with the key loaded in the SSH agent "
    "(ssh-add), or https://host/org/repo.git with a git credential helper (git config credential.helper)"
)

_SCHEME = re.compile(r"([A-Za-z][A-Za-z0-9+.-]*)://")
# URLs inside free text (git's messages): stop at whitespace and quotes.
_URL_IN_TEXT = re.compile(r"[A-Za-z][A-Za-z0-9+.-]*://[^\s'\"<>`]+")


@dataclass(frozen=True)
class GitUrlParts:
    """``prefix + [userinfo@] + location + [?query] + [#fragment]`` reassembles the URL."""

    scheme: str | None          # lowercased; None for ``user@host:path`` and local paths
    prefix: str                 # ``https://`` as written, or ""
    userinfo: str | None
    location: str               # host, port and path
    query: str | None
    fragment: str | None

    @property
    def user_is_secret(self) -> bool:
        """A user part is a credential unless it is SSH's plain account name."""
        if self.userinfo is None or self.userinfo == "":
            return False
        ssh_like = self.scheme is None or self.scheme in SSH_SCHEMES
        return not ssh_like or ":" in self.userinfo or "/" in self.userinfo


def split_git_url(url: str) -> GitUrlParts:
    match = _SCHEME.match(url)
    if match is None:
        # scp-like ``user@host:path`` (or a local path): the user part ends at the last '@'
        # before the first '/', so ``user:pass@host:org/repo`` is caught as well.
        slash = url.find("/")
        at = url.rfind("@", 0, slash if slash >= 0 else len(url))
        if at < 0:
            return GitUrlParts(None, "", None, url, None, None)
        return GitUrlParts(None, "", url[:at], url[at + 1:], None, None)
    rest = url[match.end():]
    rest, hash_sign, fragment = rest.partition("#")
    rest, question, query = rest.partition("?")
    at = rest.rfind("@")
    userinfo, location = (rest[:at], rest[at + 1:]) if at >= 0 else (None, rest)
    return GitUrlParts(match.group(1).lower(), match.group(0), userinfo, location,
                       query if question else None, fragment if hash_sign else None)


def credential_part(url: str) -> str | None:
    """Which part of ``url`` carries a credential ("user part", "password", ...), or None."""
    parts = split_git_url(url)
    if parts.user_is_secret:
        assert parts.userinfo is not None
        return "user:password part (before @)" if ":" in parts.userinfo else "user part (before @)"
    if parts.query is not None:
        # git URLs have no query; anything there (?access_token=, ?private_token=) is a token.
        return "query string (after ?)"
    if parts.fragment is not None:
        return "fragment (after #)"
    return None


def redact_url(url: str) -> str:
    """``url`` with every credential part replaced by ``***``; SSH account names stay."""
    parts = split_git_url(url)
    if parts.userinfo is None and parts.query is None and parts.fragment is None:
        return url
    user = ""
    if parts.userinfo is not None:
        user = (MASK if parts.user_is_secret else parts.userinfo) + "@"
    query = f"?{MASK}" if parts.query else ("?" if parts.query is not None else "")
    fragment = f"#{MASK}" if parts.fragment else ("#" if parts.fragment is not None else "")
    return parts.prefix + user + parts.location + query + fragment


def secrets_in(url: str) -> list[str]:
    """The literal secret strings of ``url`` (as written and percent-decoded), longest first."""
    parts = split_git_url(url)
    found: set[str] = set()
    if parts.user_is_secret and parts.userinfo:
        found.add(parts.userinfo)
        found.update(piece for piece in parts.userinfo.split(":") if piece)
    for tail in (parts.query, parts.fragment):
        if tail:
            found.add(tail)
            # each value of key=value&key=value, so a message quoting just one is caught
            found.update(v for item in tail.split("&") for v in [item.partition("=")[2]] if v)
    found |= {unquote(s) for s in found}
    # Short pieces (a user name "x") would mask ordinary words; keep the long ones.
    return sorted((s for s in found if len(s) >= 4), key=len, reverse=True)


def scrub(text: str, known: Sequence[str] = ()) -> str:
    """``text`` with the ``known`` secrets and the credentials of every URL in it masked."""
    for secret in known:
        text = text.replace(secret, MASK)
    return _URL_IN_TEXT.sub(lambda m: redact_url(m.group(0)), text)


__all__ = ["CREDENTIAL_REMEDY", "GitUrlParts", "MASK", "credential_part", "redact_url", "scrub",
           "secrets_in", "split_git_url"]
