"""The redactor masks every kind of secret it knows, and leaves text without one as it was."""

from __future__ import annotations

import json

from digit_tui.engine.redact import MASK, Redactor


def test_each_kind_of_secret_is_masked() -> None:
    r = Redactor(["Zq8-registered-value"])
    pem = "-----BEGIN RSA PRIVATE KEY-----\nMIIEow\n-----END RSA PRIVATE KEY-----"
    text = (f"dsn uses Zq8-registered-value; password=hunter22 \"api_key\": \"k-123456\" "
            f"Authorization: Bearer abcdefgh12345678 key follows {pem} DB_PASSWORD: s3cr3t-Value")
    out = r(text)
    for secret in ("Zq8-registered-value", "hunter22", "k-123456", "abcdefgh12345678", "MIIEow", "s3cr3t-Value"):
        assert secret not in out
    assert out.count(MASK) == 6
    assert "Authorization: Bearer " + MASK in out


def test_outputs_full_of_digests_are_left_as_they_are() -> None:
    """What the journal writes most (task outputs: digests, tags, names) holds no secret key."""
    outputs = {"services": {f"svc-{i}": {"digest": "ab" * 32, "tag": f"v1.{i}-0123456789abcdef-{i}",
                                         "module": "core"} for i in range(200)}}
    text = json.dumps(outputs)
    assert Redactor(["not-in-there"])(text) == text


def test_a_secret_added_after_the_redactor_was_used_is_masked_too() -> None:
    """A value added between two uses is masked too, and a secret containing another (added
    before or after it) is masked whole, never as a mask beside the rest of it."""
    r = Redactor(["first-secret-value"])
    assert r("a first-secret-value b") == f"a {MASK} b"
    r.add("second-secret")
    r.add("second-secret-longer")
    assert r("x second-secret-longer y first-secret-value z") == f"x {MASK} y {MASK} z"
    assert r("second-secret") == MASK


def test_every_one_of_a_secrets_files_values_is_masked_wherever_it_appears() -> None:
    values = [f"gen-{i:02d}-{'x' * (i % 7)}-secret" for i in range(40)]
    r = Redactor(values)
    text = " | ".join(f"{v}{v}" for v in reversed(values))
    out = r(text)
    assert not any(v in out for v in values)
    assert out == " | ".join(MASK * 2 for _ in values)
