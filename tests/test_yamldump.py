"""``yamldump`` writes through libyaml the same text PyYAML's pure-Python dumper writes, for the
kinds of documents digit-tui writes (mappings and lists of every scalar type, quoted words, long and
multi-line strings, unicode) with the options it writes them with; and the environment file's
Helm-safe dumper, now on libyaml's emitter, quotes as before."""

from __future__ import annotations

import random
import string
from typing import Any

import pytest
import yaml

from digit_tui import yamldump
from digit_tui.digit import envfile

pytestmark = pytest.mark.skipif(not hasattr(yaml, "CSafeDumper"), reason="PyYAML built without libyaml")

WORDS = ["yes", "no", "on", "off", "1e3", "0x1F", "0777", "~", "null", "", " lead", "trail ", "a: b", "#x", "- x",
         "'q'", '"d"', "12:30", "2024-01-01", "ünïcødé ✓ ●", "line1\nline2\n  indented\n", "tab\there", "=",
         " ".join(f"word{i}" for i in range(60)), "x" * 200]
OPTIONS: list[dict[str, Any]] = [{}, {"sort_keys": False, "default_flow_style": False, "width": 120},
                                 {"sort_keys": False, "default_flow_style": False, "allow_unicode": True}]


def scalar(rng: random.Random) -> Any:
    kind = rng.randrange(6)
    if kind == 0:
        return "".join(rng.choice(string.printable[:90]) for _ in range(rng.randrange(16)))
    if kind == 1:
        return rng.randint(-10**12, 10**12)
    if kind == 2:
        return rng.random() * 10 ** rng.randint(-5, 5)
    if kind == 3:
        return rng.choice([True, False, None])
    return rng.choice(WORDS)


def document(rng: random.Random, depth: int = 0) -> Any:
    if depth > 3 or (depth and rng.random() < 0.4):
        return scalar(rng)
    if rng.random() < 0.6:
        return {rng.choice([f"k{i}", *WORDS[:6]]): document(rng, depth + 1) for i in range(rng.randrange(6))}
    return [document(rng, depth + 1) for _ in range(rng.randrange(6))]


DOCS = [document(random.Random(seed)) for seed in range(200)]


@pytest.mark.parametrize("options", OPTIONS)
def test_the_same_text_as_the_pure_python_dumper(options: dict[str, Any]) -> None:
    for doc in DOCS:
        assert yamldump.safe_dump(doc, **options) == yaml.safe_dump(doc, **options), doc
    assert yamldump.safe_dump_all(DOCS[:50], **options) == yaml.safe_dump_all(DOCS[:50], **options)


def test_the_environment_files_dumper_quotes_as_on_the_pure_python_emitter() -> None:
    class PureHelmDumper(yaml.SafeDumper):
        pass

    PureHelmDumper.add_representer(str, envfile._represent_str)
    assert envfile.HelmSafeDumper.__mro__[1] is yaml.CSafeDumper
    for doc in [*DOCS, {"a": {"b": WORDS}}]:
        if not isinstance(doc, dict):
            continue
        pure = yaml.dump(doc, Dumper=PureHelmDumper, sort_keys=False, default_flow_style=False, width=4096,
                         allow_unicode=True)
        assert envfile.dump_for_helm(doc) == pure, doc
        assert yaml.safe_load(pure) == doc


def test_the_secrets_files_dumper_writes_as_on_the_pure_python_emitter() -> None:
    from digit_tui.digit import secretsfile

    class PureSecretsDumper(yaml.SafeDumper):
        pass

    PureSecretsDumper.add_representer(str, secretsfile._represent_str)
    values = {f"k{i}": w for i, w in enumerate(WORDS)} | {"pem": "-----BEGIN KEY-----\nabc\n-----END KEY-----\n"}
    doc = {"cluster-configs": {"secrets": values}}
    options: dict[str, Any] = {"sort_keys": False, "default_flow_style": False, "width": 4096}
    assert yaml.dump(doc, Dumper=secretsfile._SecretsDumper, **options) == \
        yaml.dump(doc, Dumper=PureSecretsDumper, **options)
