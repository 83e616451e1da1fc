"""``yamlload.safe_load`` reads with libyaml where it can, with the pure-Python loader's results:
the same data, the same errors and lines, the same nesting limit."""

from __future__ import annotations

import pytest
import yaml

from digit_tui import yamlload
from digit_tui.yamlload import MAX_DEPTH, LimitedSafeLoader, TooDeep, safe_load

DOCS = [
    "apiVersion: v1\nclusters:\n- cluster: {server: 'https://127.0.0.1:6443'}\n  name: sandbox\n",
    "a: &x {b: [1, 2.0, null, true, '0777', 0o17, 2026-12-02]}\nc: *x\nd: ~\ne: yes\n",
    "- 1\n- - 2\n  - [3, {4: five}]\n",
    "",
    "just text\n",
]


@pytest.mark.parametrize("text", DOCS)
def test_the_same_data_as_the_pure_python_loader(text: str) -> None:
    assert safe_load(text) == yaml.load(text, Loader=LimitedSafeLoader)  # noqa: S506
    assert safe_load(text.encode()) == safe_load(text)


@pytest.mark.parametrize("text", ["a:\n\tb: 1\n", "a: b: c\n", "a: 'open\n", "x: [1, 2\n", "a: 1\na: [\n"])
def test_errors_are_the_pure_python_loaders(text: str) -> None:
    with pytest.raises(yaml.YAMLError) as pure:
        yaml.load(text, Loader=LimitedSafeLoader)  # noqa: S506
    with pytest.raises(yaml.YAMLError) as ours:
        safe_load(text)
    assert str(ours.value) == str(pure.value)


def test_a_document_deeper_than_the_limit_is_refused_with_its_line() -> None:
    text = "".join(f"{'  ' * i}k{i}:\n" for i in range(MAX_DEPTH + 2)) + f"{'  ' * (MAX_DEPTH + 2)}leaf\n"
    with pytest.raises(TooDeep) as info:
        safe_load(text)
    assert str(info.value) == f"nested deeper than {MAX_DEPTH} levels (line {MAX_DEPTH + 1})"
    assert safe_load("[" * MAX_DEPTH + "]" * MAX_DEPTH) is not None


def test_text_that_could_nest_past_the_c_stack_is_read_by_the_counting_loader() -> None:
    deep = "[" * 3000 + "]" * 3000
    assert yamlload.nesting_bound(deep) >= yamlload.C_NESTING_BOUND
    with pytest.raises(TooDeep):
        safe_load(deep)
