"""age keys made in Python (no age-keygen needed), for the sops tests."""

from __future__ import annotations

from pathlib import Path

from cryptography.hazmat.primitives.asymmetric.x25519 import X25519PrivateKey

_BECH32 = "qpzry9x8gf2tvdw0s3jn54khce6mua7l"


def _bech32(hrp: str, data: bytes) -> str:
    """BIP-173 bech32, as age encodes its keys (without the 90-character limit)."""
    acc = bits = 0
    five: list[int] = []
    for byte in data:
        acc = (acc << 8) | byte
        bits += 8
        while bits >= 5:
            bits -= 5
            five.append((acc >> bits) & 31)
    if bits:
        five.append((acc << (5 - bits)) & 31)
    values = [ord(c) >> 5 for c in hrp] + [0] + [ord(c) & 31 for c in hrp] + five + [0] * 6
    chk = 1
    for v in values:
        top = chk >> 25
        chk = ((chk & 0x1FFFFFF) << 5) ^ v
        for i, gen in enumerate((0x3B6A57B2, 0x26508E6D, 0x1EA119FA, 0x3D4233DD, 0x2A1462B3)):
            if (top >> i) & 1:
                chk ^= gen
    chk ^= 1
    return hrp + "1" + "".join(_BECH32[d] for d in five + [(chk >> 5 * (5 - i)) & 31 for i in range(6)])


def age_keypair() -> tuple[str, str]:
    """An age identity and its recipient, made here so the tests need no age-keygen."""
    key = X25519PrivateKey.generate()
    identity = _bech32("age-secret-key-", key.private_bytes_raw()).upper()
    recipient = _bech32("age", key.public_key().public_bytes_raw())
    return identity, recipient


def age_key_file(directory: Path) -> tuple[Path, str]:
    """A fresh age identity written 0600 into ``directory``; (its path, its recipient)."""
    identity, recipient = age_keypair()
    key_file = directory / "age.key"
    key_file.write_text(identity + "\n")
    key_file.chmod(0o600)
    return key_file, recipient
