"""The sandbox's own PKI: a CA, a server certificate for 127.0.0.1/localhost, a bearer token, a kubeconfig.

Everything lives in one directory; private material (keys, token, kubeconfig)
is written 0600 from the start (never world-readable, not even briefly).
"""

from __future__ import annotations

import base64
import datetime as dt
import ipaddress
import os
import secrets
from dataclasses import dataclass
from pathlib import Path

import yaml

CA_CERT = "ca.crt"
CA_KEY = "ca.key"
SERVER_CERT = "server.crt"
SERVER_KEY = "server.key"
TOKEN = "token"
KUBECONFIG = "kubeconfig"


@dataclass(frozen=True)
class Pki:
    directory: Path
    ca_cert: Path
    server_cert: Path
    server_key: Path
    token: str


def _write_private(path: Path, data: bytes) -> None:
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    try:
        os.write(fd, data)
    finally:
        os.close(fd)
    os.chmod(path, 0o600)


def ensure_pki(directory: Path) -> Pki:
    """Create the CA, server certificate and token once; later calls reuse them."""
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

    directory.mkdir(parents=True, exist_ok=True, mode=0o700)
    paths = {n: directory / n for n in (CA_CERT, CA_KEY, SERVER_CERT, SERVER_KEY, TOKEN)}
    if not all(p.exists() for p in paths.values()):
        now = dt.datetime.now(dt.timezone.utc)
        # EC P-256: key generation is instant, and every TLS stack kubectl/requests use accepts it.
        ca_key = ec.generate_private_key(ec.SECP256R1())
        ca_name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "digit-tui-sandbox-ca")])
        ca_cert = (
            x509.CertificateBuilder().subject_name(ca_name).issuer_name(ca_name)
            .public_key(ca_key.public_key()).serial_number(x509.random_serial_number())
            .not_valid_before(now - dt.timedelta(minutes=5)).not_valid_after(now + dt.timedelta(days=3650))
            .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
            .add_extension(x509.KeyUsage(digital_signature=True, key_cert_sign=True, crl_sign=True,
                                         content_commitment=False, key_encipherment=False,
                                         data_encipherment=False, key_agreement=False,
                                         encipher_only=False, decipher_only=False), critical=True)
            .add_extension(x509.SubjectKeyIdentifier.from_public_key(ca_key.public_key()), critical=False)
            .sign(ca_key, hashes.SHA256())
        )
        srv_key = ec.generate_private_key(ec.SECP256R1())
        srv_cert = (
            x509.CertificateBuilder()
            .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "kube-apiserver")]))
            .issuer_name(ca_name).public_key(srv_key.public_key()).serial_number(x509.random_serial_number())
            .not_valid_before(now - dt.timedelta(minutes=5)).not_valid_after(now + dt.timedelta(days=825))
            .add_extension(x509.SubjectAlternativeName([
                x509.DNSName("localhost"), x509.IPAddress(ipaddress.ip_address("127.0.0.1")),
                x509.DNSName("kubernetes"), x509.DNSName("kubernetes.default.svc"),
            ]), critical=False)
            .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
            .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH]), critical=False)
            .add_extension(x509.AuthorityKeyIdentifier.from_issuer_public_key(ca_key.public_key()), critical=False)
            .sign(ca_key, hashes.SHA256())
        )
        pem = serialization.Encoding.PEM
        nokey = serialization.NoEncryption()
        pkcs8 = serialization.PrivateFormat.PKCS8
        _write_private(paths[CA_KEY], ca_key.private_bytes(pem, pkcs8, nokey))
        _write_private(paths[SERVER_KEY], srv_key.private_bytes(pem, pkcs8, nokey))
        _write_private(paths[TOKEN], secrets.token_urlsafe(32).encode())
        paths[CA_CERT].write_bytes(ca_cert.public_bytes(pem))
        paths[SERVER_CERT].write_bytes(srv_cert.public_bytes(pem))
    token = paths[TOKEN].read_text().strip()
    return Pki(directory, paths[CA_CERT], paths[SERVER_CERT], paths[SERVER_KEY], token)


def write_kubeconfig(pki: Pki, url: str, path: Path | None = None, *, name: str = "digit-sandbox") -> Path:
    """A kubeconfig with the CA inline and the bearer token, mode 0600."""
    path = path or pki.directory / KUBECONFIG
    ca_data = base64.b64encode(pki.ca_cert.read_bytes()).decode()
    config = {
        "apiVersion": "v1", "kind": "Config", "preferences": {},
        "clusters": [{"name": name, "cluster": {"server": url, "certificate-authority-data": ca_data}}],
        "users": [{"name": f"{name}-admin", "user": {"token": pki.token}}],
        "contexts": [{"name": name, "context": {"cluster": name, "user": f"{name}-admin", "namespace": "default"}}],
        "current-context": name,
    }
    _write_private(path, yaml.safe_dump(config, sort_keys=False).encode())
    return path
