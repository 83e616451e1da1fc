"""Value types of the answers file: one validator per kind of value.

Each validator accepts what YAML produced and either returns the normalised
value or raises ``PydanticCustomError("answers", ...)`` whose context carries
the message (``detail``) and what is ``expected``; ``loader.py`` turns that
into ``FILE:LINE: ... (expected: ...)``. File references are resolved against
the answers file's directory (``context["base_dir"]``) and, unless
``context["check_files"]`` is false, checked to exist and to look like the
right kind of file. Nothing here writes.
"""

from __future__ import annotations

import ipaddress
import json
import os
import re
import stat
from pathlib import Path
from typing import Annotated, Any, Callable

import yaml

from digit_tui import yamlload
from pydantic import BeforeValidator, Field, ValidationInfo
from pydantic_core import PydanticCustomError

from digit_tui.infra.giturl import CREDENTIAL_REMEDY, credential_part, redact_url, split_git_url

# Modules that every release installs; only ``m_*`` modules are selectable.
BASE_MODULES = ("backbone", "authn-authz", "core", "business", "frontend")


def bad(detail: str, expected: str, **ctx: Any) -> PydanticCustomError:
    """An answers error; ``detail`` travels in the context so user text is never a template."""
    return PydanticCustomError("answers", "{detail}", {"detail": detail, "expected": expected, **ctx})


def show(value: Any) -> str:
    """A short, single-line rendering of a user value for error messages."""
    if value is None:
        return "an empty value"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, dict):
        return "a mapping"
    if isinstance(value, list):
        return "a list"
    text = str(value)
    if len(text) > 60:
        text = text[:57] + "..."
    if isinstance(value, str) and (text == "" or text != text.strip() or " " in text or text != value):
        return repr(text)
    return text


_LABEL = re.compile(r"[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?")


def is_dns_name(name: str) -> bool:
    if not name or len(name) > 253:
        return False
    labels = name.lower().split(".")
    return all(_LABEL.fullmatch(label) for label in labels) and not labels[-1].isdigit()


HOSTNAME_EXPECTED = "an IP address or a DNS host name (letters, digits and hyphens; dot-separated labels of 1-63 characters)"


IPV6_EXPECTED = "an IPv6 address such as fd00::10, or an IPv4 address or host name"


def _port_split(value: str) -> tuple[str, str] | None:
    """(host, port) when ``value`` is written ``host:PORT`` or ``[v6]:PORT``; else None."""
    match = re.fullmatch(r"\[([^\]]*)\]:([0-9]+)", value) or re.fullmatch(r"([^:\[\]]+):([0-9]+)", value)
    return (match.group(1), match.group(2)) if match else None


def _is_ipv6(text: str) -> bool:
    try:
        ipaddress.IPv6Address(text)
    except ValueError:
        return False
    return True


def check_address(value: Any) -> str:
    """A bare address: IPv4, IPv6 (``fd00::1`` or ``[fd00::1]``) or a DNS name, never a port or URL."""
    if not isinstance(value, str) or not value:
        raise bad(f"{show(value)} is not a host address", HOSTNAME_EXPECTED)
    if value.startswith("[") and value.endswith("]") and _is_ipv6(value[1:-1]):
        return str(ipaddress.IPv6Address(value[1:-1]))
    if "://" in value:
        raise bad(f"{show(value)} is a URL; this key takes an address only", HOSTNAME_EXPECTED + ", without scheme or path")
    if ":" in value or "[" in value:
        if _is_ipv6(value):
            return str(ipaddress.IPv6Address(value))
        split = _port_split(value)
        if split is not None:
            raise bad(f"{show(value)} is host:port; this key takes an address only (put the port in the port key)",
                      f"the address alone, such as {show(split[0])}, and port: {split[1]} beside it")
        if value.count(":") == 1 or "." in value.partition(":")[0]:
            # IPv6 puts a dotted part only at its end, so "10.0.0.5:22:1" or "host.x:a" is not one.
            raise bad(f"{show(value)} is not an address: only IPv6 addresses contain ':'", HOSTNAME_EXPECTED)
        raise bad(f"{show(value)} is not a valid IPv6 address", IPV6_EXPECTED)
    if re.fullmatch(r"[0-9.]+", value):
        try:
            return str(ipaddress.IPv4Address(value))
        except ValueError:
            raise bad(f"{show(value)} is not a valid IPv4 address", "four numbers 0-255 without leading zeros, such as 10.0.0.5, or a DNS host name") from None
    if not is_dns_name(value):
        raise bad(f"{show(value)} is not a valid host name", HOSTNAME_EXPECTED)
    return value.lower()


def check_port(value: Any) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or not 1 <= value <= 65535:
        raise bad(f"{show(value)} is not a valid port", "an integer 1-65535")
    return value


def split_host_port(value: str) -> tuple[str, int]:
    """``host:port`` or ``[v6]:port`` -> (host, port); assumes a value that passed validation."""
    if value.startswith("["):
        host, _, port = value[1:].partition("]:")
    else:
        host, _, port = value.rpartition(":")
    return host, int(port)


def host_port(default_port: int | None, *, port_optional: bool = False) -> Callable[[Any], str]:
    """``host:port`` (``[v6]:port`` for IPv6); the port may be left out when there is a default or it is optional."""
    expected = "host:port, such as 10.0.0.5:6443 or api.example.gov.in:443 ([v6]:port for IPv6)"
    if default_port is not None:
        expected = f"a host or host:port (port {default_port} if omitted; [v6]:port for IPv6)"
    elif port_optional:
        expected = "a host or host:port, such as vpn.example.gov.in:443 ([v6]:port for IPv6)"

    def joined(host: str, port: int) -> str:
        return f"[{host}]:{port}" if ":" in host else f"{host}:{port}"

    def check(value: Any) -> str:
        if not isinstance(value, str) or not value:
            raise bad(f"{show(value)} is not host:port", expected)
        if "://" in value:
            raise bad(f"{show(value)} is a URL; write host:port without the scheme", expected)
        split = _port_split(value)
        if split is None:
            bare = value[1:-1] if value.startswith("[") and value.endswith("]") else value
            if bare.endswith(":") or (value.startswith("[") and value.endswith("]:")):
                raise bad(f"{show(value)} has an empty port", expected)
            if ":" in bare and not _is_ipv6(bare):
                if value.count(":") > 1 and not value.startswith("["):
                    raise bad(f"{show(value)} is not host:port (write IPv6 addresses as [addr]:port)", expected)
                raise bad(f"{show(value)} is not host:port: the part after the last ':' is not a port number", expected)
            host = check_address(bare)
            if port_optional:
                return host
            if default_port is None:
                shown = f"[{host}]" if ":" in host else host
                raise bad(f"{show(value)} has no port", f"{shown}:PORT; {expected}")
            return joined(host, default_port)
        host, port = split
        if not 1 <= int(port) <= 65535:
            raise bad(f"{show(value)}: port {int(port)} is out of range", f"{expected}, with a port 1-65535")
        if ":" in host and not _is_ipv6(host):
            raise bad(f"{show(value)}: {show(host)} is not a valid IPv6 address", expected)
        if "[" in host or "]" in host:
            raise bad(f"{show(value)} is not host:port", expected)
        return joined(check_address(host), int(port))

    return check


def _pattern(regex: str, what: str, expected: str, *, lower: bool = False) -> Callable[[Any], str]:
    compiled = re.compile(regex)

    def check(value: Any) -> str:
        if not isinstance(value, str) or not compiled.fullmatch(value):
            raise bad(f"{show(value)} is not a valid {what}", expected)
        return value.lower() if lower else value

    return check


def check_env_name(value: Any) -> str:
    expected = "lowercase letters, digits and hyphens, 1-40 characters, starting and ending with a letter or digit (e.g. sdc-prod)"
    if not isinstance(value, str) or not re.fullmatch(r"[a-z0-9]([a-z0-9-]{0,38}[a-z0-9])?", value):
        raise bad(f"{show(value)} is not a valid environment name", expected)
    return value


def check_db_ident(value: Any) -> str:
    expected = "letters, digits and underscores only, starting with a letter or underscore, at most 63 characters (no hyphens)"
    if not isinstance(value, str) or not re.fullmatch(r"[A-Za-z_][A-Za-z0-9_]{0,62}", value):
        hint = " (hyphens are not allowed in PostgreSQL names DIGIT uses)" if isinstance(value, str) and "-" in value else ""
        raise bad(f"{show(value)} is not a valid database identifier{hint}", expected)
    return value


def check_module(value: Any) -> str:
    expected = "a selectable DIGIT module name starting with m_, such as m_pgr"
    if isinstance(value, str) and value in BASE_MODULES:
        raise bad(f"{value!r} is always installed and cannot be selected", expected)
    if not isinstance(value, str) or not re.fullmatch(r"m_[A-Za-z0-9][A-Za-z0-9_-]*", value):
        raise bad(f"{show(value)} is not a module name", expected)
    return value


def check_domain(value: Any) -> str:
    if not isinstance(value, str) or not is_dns_name(value) or re.fullmatch(r"[0-9.]+", value):
        raise bad(f"{show(value)} is not a valid DNS name", "a DNS name such as egov.example.gov.in (letters, digits, hyphens, dots)")
    return value.lower()


def check_cidr(value: Any) -> str:
    expected = "a CIDR block such as 10.244.0.0/16"
    if not isinstance(value, str) or "/" not in value:
        raise bad(f"{show(value)} is not a CIDR block", expected)
    try:
        return str(ipaddress.ip_network(value, strict=True))
    except ValueError as exc:
        if "host bits set" in str(exc):
            net = ipaddress.ip_network(value, strict=False)
            raise bad(f"{value} has host bits set", f"the network address, {net}") from None
        raise bad(f"{show(value)} is not a valid CIDR block", expected) from None


GIT_URL_EXPECTED = "a git URL: https://host/org/repo.git, ssh://git@host/org/repo.git or git@host:org/repo.git"
_GIT_SCHEMES = ("https", "http", "ssh", "git+ssh", "ssh+git", "git", "file")
_SCP_URL = re.compile(r"[A-Za-z0-9._-]+@[A-Za-z0-9.-]+:[A-Za-z0-9._/~-]+")
_URL_HOST = re.compile(r"([A-Za-z0-9.-]+|\[[0-9A-Fa-f:.]+\])(:[0-9]{1,5})?")


def check_git_url(value: Any) -> str:
    if not isinstance(value, str) or not value:
        raise bad(f"{show(value)} is not a git URL", GIT_URL_EXPECTED)
    # Credentials first: every later message echoes the value, and a token must never be echoed.
    part = credential_part(value)
    if part is not None:
        raise bad(f"the git URL carries a password or token in its {part}; it is not repeated here",
                  CREDENTIAL_REMEDY)
    shown = show(redact_url(value))
    if value.startswith("-") or any(c.isspace() or ord(c) < 32 for c in value):
        raise bad(f"{shown} is not a git URL", GIT_URL_EXPECTED)
    if _SCP_URL.fullmatch(value):
        return value
    parts = split_git_url(value)
    if parts.scheme is None:
        raise bad(f"{shown} is not a git URL", GIT_URL_EXPECTED)
    if parts.scheme not in _GIT_SCHEMES:
        raise bad(f"{shown} is not a git URL ({parts.scheme}:// is not a git transport)", GIT_URL_EXPECTED)
    host = parts.location.partition("/")[0]
    if parts.scheme == "file":
        if host:
            raise bad(f"{shown} is not a file URL (file:///path has no host)", "file:///absolute/path/to/repo.git")
        return value
    if not host or not _URL_HOST.fullmatch(host):
        raise bad(f"{shown} is not a git URL (no valid host after {parts.scheme}://)", GIT_URL_EXPECTED)
    return value


def check_git_ref(value: Any) -> str:
    expected = "a branch, tag or commit (no spaces, not starting with '-', no '..')"
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        value = str(value)
    if not isinstance(value, str) or not value or value.startswith("-") or ".." in value or any(
        c.isspace() or ord(c) < 32 or c in "~^:?*[\\" for c in value
    ):
        raise bad(f"{show(value)} is not a git ref", expected)
    return value


Address = Annotated[str, BeforeValidator(check_address)]
Port = Annotated[int, BeforeValidator(check_port)]
HostPort = Annotated[str, BeforeValidator(host_port(None))]
EnvName = Annotated[str, BeforeValidator(check_env_name)]
DbIdent = Annotated[str, BeforeValidator(check_db_ident)]
ModuleName = Annotated[str, BeforeValidator(check_module)]
DnsName = Annotated[str, BeforeValidator(check_domain)]
Cidr = Annotated[str, BeforeValidator(check_cidr)]
NodeName = Annotated[str, BeforeValidator(_pattern(
    r"[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?", "host name",
    "a short lowercase name: letters, digits and hyphens, at most 63 characters (e.g. master-1)"))]
UnixUser = Annotated[str, BeforeValidator(_pattern(
    r"[a-z_][a-z0-9_.-]{0,31}", "user name", "a Unix user name such as ubuntu or root"))]
KubeName = Annotated[str, BeforeValidator(_pattern(
    r"[a-z0-9]([a-z0-9.-]{0,251}[a-z0-9])?", "Kubernetes name",
    "lowercase letters, digits, '-' and '.', starting and ending with a letter or digit"))]
Tenant = Annotated[str, BeforeValidator(_pattern(
    r"[a-z][a-z0-9]{0,31}", "state tenant id", "lowercase letters and digits, starting with a letter (e.g. pb)"))]
Registry = Annotated[str, BeforeValidator(_pattern(
    r"[a-z0-9]+([._-][a-z0-9]+)*(:[0-9]{1,5})?(/[a-z0-9]+([._-][a-z0-9]+)*)*", "container registry",
    "a registry or organisation such as egovio or registry.example.gov.in:5000/egov"))]
PresetName = Annotated[str, BeforeValidator(_pattern(
    r"[a-z0-9][a-z0-9_-]{0,62}", "preset name", "a sizing preset name such as sdc-dev or sdc-prod"))]
Email = Annotated[str, BeforeValidator(_pattern(
    r"[^@\s]+@[^@\s]+\.[^@\s]+", "e-mail address", "an e-mail address for ACME registration"))]
GitUrl = Annotated[str, BeforeValidator(check_git_url)]
GitRef = Annotated[str, BeforeValidator(check_git_ref)]
ImageTag = Annotated[str, BeforeValidator(_pattern(
    r"[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}", "image tag", "an image tag such as v1.3.0-6cfa52c1f9-2"))]


def check_context(info: ValidationInfo) -> tuple[Path, bool]:
    context = info.context or {}
    return Path(context.get("base_dir") or os.getcwd()), bool(context.get("check_files", True))


def resolve_path(value: str, base_dir: Path) -> Path:
    """``~`` expanded, relative paths taken from the answers file's directory."""
    path = Path(os.path.expanduser(value))
    if not path.is_absolute():
        path = base_dir / path
    return Path(os.path.normpath(path))


def _file_ref(kind: str, *, directory: bool = False) -> Callable[[Any, ValidationInfo], Path]:
    noun = "directory" if directory else "file"

    def check(value: Any, info: ValidationInfo) -> Path:
        if isinstance(value, Path):
            value = str(value)
        if not isinstance(value, str) or not value.strip():
            raise bad(f"{show(value)} is not a path", f"the path of the {kind} {noun} (relative to the answers file, ~ allowed)")
        base_dir, check_files = check_context(info)
        path = resolve_path(value, base_dir)
        if not check_files:
            return path
        if directory:
            if not path.is_dir():
                raise bad(f"{kind} directory {value} does not exist" + ("" if value == str(path) else f" ({path})"),
                          "an existing directory (relative paths start at the answers file's directory)")
            return path
        if not path.is_file():
            raise bad(f"{kind if kind.endswith('_file') else kind + ' file'} {value} does not exist" + ("" if value == str(path) else f" ({path})"),
                      "an existing file (relative paths start at the answers file's directory)")
        if not os.access(path, os.R_OK):
            raise bad(f"{kind} file {value} is not readable", "a file this user can read")
        _check_content(kind, value, path)
        return path

    return check


def _check_content(kind: str, shown: str, path: Path) -> None:
    """Cheap checks that catch the usual wrong-file mistakes before any connection is tried."""
    if kind == "ssh_key":
        head = path.read_bytes()[:4096].lstrip()
        if head.startswith((b"ssh-", b"ecdsa-", b"sk-")):
            raise bad(f"ssh_key {shown} is a public key", "the private key (the file without .pub)")
        if b"PRIVATE KEY" not in head:
            raise bad(f"ssh_key {shown} is not a private key", "an OpenSSH or PEM private key file")
    elif kind == "password_file":
        mode = path.stat().st_mode
        if mode & (stat.S_IRWXG | stat.S_IRWXO):
            raise bad(f"password_file {shown} can be read by other users (mode {stat.S_IMODE(mode):04o})",
                      f"a file only its owner can read: chmod 600 {shown}")
        secret = path.read_bytes().strip()
        if not secret:
            raise bad(f"password_file {shown} is empty", "a file holding the password on its first line")
        # Below this length the journal's redactor would not mask it (it would mask common words).
        if len(secret) < MIN_PASSWORD:
            raise bad(f"password_file {shown} holds a password of {len(secret)} characters",
                      f"a password of at least {MIN_PASSWORD} characters")
    elif kind == "secret_variables_file":
        mode = path.stat().st_mode
        if mode & (stat.S_IRWXG | stat.S_IRWXO):
            raise bad(f"secret_variables_file {shown} can be read by other users (mode {stat.S_IMODE(mode):04o})",
                      f"a file only its owner can read: chmod 600 {shown}")
        try:
            data = json.loads(path.read_text(encoding="utf-8"))
        except (ValueError, UnicodeDecodeError):
            data = None
        if not isinstance(data, dict) or not all(isinstance(k, str) for k in data):
            raise bad(f"secret_variables_file {shown} is not a JSON object",
                      'a JSON object of terraform variable names to values, such as {"db_password": "..."}')
    elif kind == "kubeconfig":
        try:
            data = yamlload.safe_load(path.read_text(encoding="utf-8", errors="replace"))
        except yaml.YAMLError:
            data = None
        if not isinstance(data, dict) or not isinstance(data.get("clusters"), list):
            raise bad(f"kubeconfig {shown} is not a kubeconfig", "a kubeconfig file with clusters, users and contexts")


SshKey = Annotated[Path, BeforeValidator(_file_ref("ssh_key"))]
Kubeconfig = Annotated[Path, BeforeValidator(_file_ref("kubeconfig"))]
MIN_PASSWORD = 8
PasswordFile = Annotated[Path, BeforeValidator(_file_ref("password_file"))]
CertFile = Annotated[Path, BeforeValidator(_file_ref("certificate"))]
KeyFile = Annotated[Path, BeforeValidator(_file_ref("private key"))]
ValuesFile = Annotated[Path, BeforeValidator(_file_ref("environment"))]
SourceDir = Annotated[Path, BeforeValidator(_file_ref("DIGIT source", directory=True))]
SigningKey = Annotated[Path, BeforeValidator(_file_ref("signing key"))]
TerraformDir = Annotated[Path, BeforeValidator(_file_ref("terraform working", directory=True))]
SecretVariablesFile = Annotated[Path, BeforeValidator(_file_ref("secret_variables_file"))]


def _manifest_ref(value: Any, info: ValidationInfo) -> str:
    """A URL the first master fetches, kept as written; anything else is a file on this machine."""
    if isinstance(value, str) and value.startswith(("https://", "http://")):
        if any(c.isspace() for c in value):
            raise bad(f"{show(value)} is not a URL", "an http(s) URL, or the path of a manifest file")
        return value
    return str(_file_ref("pod network manifest")(value, info))


CniManifest = Annotated[str, BeforeValidator(_manifest_ref)]


def check_relative(value: Any) -> str:
    expected = "a path relative to the DIGIT source, such as product-release-charts/DIGIT/dependancy_chart-digit-v2.8.yaml"
    if not isinstance(value, str) or not value.strip():
        raise bad(f"{show(value)} is not a path", expected)
    parts = Path(value).parts
    if Path(value).is_absolute() or value.startswith("~") or ".." in parts:
        raise bad(f"{value} leaves the DIGIT source", expected)
    return value


RelPath = Annotated[str, BeforeValidator(check_relative)]


def expect(text: str, **kwargs: Any) -> Any:
    """A field whose ``expected`` text is shown when YAML gives it the wrong type."""
    return Field(json_schema_extra={"expected": text}, **kwargs)
