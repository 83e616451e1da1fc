"""YAML read by Helm's parser (helm-python-sdk): what Helm accepts is accepted, and a refused file
names the line an editor shows, though go-yaml's parser counts lines from 0."""

from __future__ import annotations

import pytest
import yaml

from digit_tui.digit.helmyaml import YamlSyntaxError, parse_mapping
from digit_tui.errors import InputError


@pytest.mark.parametrize("text,line,problem", [
    ("a: b\n c: d\n", 2, "mapping values are not allowed in this context"),          # scanner error
    ("a:\n  - x\n b: 1\n", 3, "did not find expected key"),                          # parser error (0-based)
    ("x: 1\n\n\n  y: 2\n", 4, "mapping values are not allowed in this context"),
    ("a:\n  b: 1\n c\n", 3, "did not find expected key"),
    ("- a\nb: 1\n", 2, "did not find expected '-' indicator"),
    ("a: b: c\n", 1, "mapping values are not allowed in this context"),             # line 1 left out by go-yaml
    ("a: 'x\n", 2, "found unexpected end of stream"),
])
def test_a_refused_file_names_the_line_pyyaml_would(text: str, line: int, problem: str) -> None:
    with pytest.raises(YamlSyntaxError) as info:
        parse_mapping(text, path="values.yaml")
    assert (info.value.line, info.value.problem) == (line, problem)
    assert str(info.value) == f"values.yaml:{line}: values file: YAML syntax error at line {line}: {problem}"
    with pytest.raises(yaml.MarkedYAMLError) as pyyaml:
        yaml.safe_load(text)
    assert pyyaml.value.problem_mark.line + 1 == line


def test_helm_accepts_trailing_tabs_that_pyyaml_refuses() -> None:
    text = "controller:\n  config:\n    use-proxy-protocol: \"true\"\t\t\n    keep-alive: 75\t\n"
    with pytest.raises(yaml.YAMLError):
        yaml.safe_load(text)
    assert parse_mapping(text) == {"controller": {"config": {"use-proxy-protocol": "true", "keep-alive": 75}}}


def test_an_error_without_a_position_has_no_line_and_quotes_no_value() -> None:
    with pytest.raises(YamlSyntaxError) as info:
        parse_mapping("password: &x hunter2\nb: *y\n", path="s.yaml", role="secrets file")
    assert info.value.line is None and "hunter2" not in str(info.value)
    assert str(info.value) == "s.yaml: secrets file: YAML syntax error: unknown anchor 'y' referenced"


@pytest.mark.parametrize("text", ["- 1\n- 2\n", "just text\n"])
def test_a_document_that_is_not_a_mapping_is_named(text: str) -> None:
    with pytest.raises(InputError, match="values file is not a mapping"):
        parse_mapping(text, path="v.yaml")


def test_empty_text_is_an_empty_mapping() -> None:
    assert parse_mapping("") == {} and parse_mapping("# only a comment\n") == {}


def test_values_nested_past_the_limit_are_refused_before_python_recurses_over_them() -> None:
    from digit_tui.yamlload import MAX_DEPTH

    deep = "global: " + "[" * 900 + "]" * 900 + "\n"
    with pytest.raises(InputError, match=f"environment file is nested deeper than {MAX_DEPTH} levels"):
        parse_mapping(deep, path="env.yaml", role="environment file")
    ok = "a: " + "[" * (MAX_DEPTH - 1) + "]" * (MAX_DEPTH - 1) + "\n"   # the limit itself still reads
    assert "a" in parse_mapping(ok, path="env.yaml")
