"""The lowest kubernetes client pyproject.toml allows is one digit-tui works with.

The venv holds one version of the client (the newest the bound allows, as pip chose it); the
bound's floor is a promise nothing else checks. This test installs that floor, read from
pyproject.toml, into a throw-away directory and runs the release-facing tests that drive the
client (server-side apply, discovery, waits, the timeout policy, the classification of a broken
kubeconfig or an unreachable API) in a child interpreter that has the directory first on its
path and checks it imported that version from there.

It needs the package registry (CI has it); without it the test fails saying so.
"""

from __future__ import annotations

import os
import subprocess
import sys
import tomllib
from pathlib import Path

import pytest
from packaging.requirements import Requirement
from packaging.version import Version

from tests.support import REPO

# Fast (about 45 s together on an idle 2-core machine) and each goes through the client: apply,
# discovery and the readiness waits; the timeout policy on a partitioned API; the health and size
# commands' classification of a kubeconfig that cannot be used.
CLIENT_TESTS = (
    "tests/release/test_kube_sandbox.py",
    "tests/release/test_client_policy.py",
    "tests/release/test_api_failures.py::test_health_says_the_same_in_one_line",
    "tests/release/test_api_failures.py::test_size_check_on_a_closed_port_is_one_line_and_exit_1",
    "tests/release/test_api_failures.py::test_size_check_reads_the_cluster_with_the_same_classification",
)
PIP_TIMEOUT = 120.0         # a few MB from the registry; pip's own socket timeout is shorter
RUN_TIMEOUT = 300.0         # the tests above, with room for a loaded machine

# Runs in the child: fails before any test when the client it imports is not the one installed.
_CHILD = """\
import sys
import kubernetes
want, where = sys.argv[1], sys.argv[2]
assert kubernetes.__version__ == want, f"kubernetes {kubernetes.__version__} imported, not {want}"
assert kubernetes.__file__.startswith(where), f"kubernetes imported from {kubernetes.__file__}, not {where}"
print(f"kubernetes {kubernetes.__version__} from {kubernetes.__file__}", flush=True)
import pytest
sys.exit(pytest.main(["-p", "no:cacheprovider", "-q", *sys.argv[3:]]))
"""


def lowest_allowed(pyproject: Path) -> tuple[Requirement, Version]:
    """The kubernetes requirement in ``pyproject``'s dependencies and the lowest release it allows
    (its ``>=`` bound written as major.minor.patch: ``>=37`` is 37.0.0)."""
    deps = tomllib.loads(pyproject.read_text(encoding="utf-8"))["project"]["dependencies"]
    req = next(r for r in map(Requirement, deps) if r.name == "kubernetes")
    floors = [Version(s.version) for s in req.specifier if s.operator in (">=", "==", "~=")]
    assert floors, f"pyproject.toml's {req} has no lower bound: nothing says which client is the oldest"
    release = (tuple(max(floors).release) + (0, 0, 0))[:3]
    lowest = Version(".".join(map(str, release)))
    assert req.specifier.contains(lowest), f"{lowest} is not allowed by {req}"
    return req, lowest


def test_the_floor_is_read_from_pyproject(tmp_path: Path) -> None:
    (tmp_path / "pyproject.toml").write_text(
        '[project]\nname = "x"\ndependencies = ["pyyaml>=6", "kubernetes>=31.2,<40"]\n', encoding="utf-8")
    assert str(lowest_allowed(tmp_path / "pyproject.toml")[1]) == "31.2.0"


@pytest.mark.slow
@pytest.mark.timeout(PIP_TIMEOUT + RUN_TIMEOUT + 60)
def test_release_tests_pass_with_the_lowest_kubernetes_allowed(tmp_path: Path) -> None:
    req, lowest = lowest_allowed(REPO / "pyproject.toml")
    target = tmp_path / "site"
    pip = [sys.executable, "-m", "pip", "install", "--target", str(target), "--no-deps", "--no-compile",
           "--disable-pip-version-check", "--quiet", "--timeout", "20", "--retries", "1",
           f"kubernetes=={lowest}"]
    try:
        got = subprocess.run(pip, capture_output=True, text=True, timeout=PIP_TIMEOUT)
    except subprocess.TimeoutExpired:
        pytest.fail(f"pip did not install kubernetes=={lowest} within {PIP_TIMEOUT:.0f} s: is the package "
                    "registry reachable from this machine?")
    if got.returncode != 0:
        pytest.fail(f"pip could not install kubernetes=={lowest} (the floor of {req} in pyproject.toml): "
                    f"is the package registry reachable?\n{got.stderr[-2000:]}")

    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join(p for p in (str(target), env.get("PYTHONPATH", "")) if p)
    try:
        run = subprocess.run([sys.executable, "-c", _CHILD, str(lowest), str(target), *CLIENT_TESTS],
                             cwd=REPO, env=env, capture_output=True, text=True, timeout=RUN_TIMEOUT)
    except subprocess.TimeoutExpired as exc:
        out = exc.stdout.decode(errors="replace") if isinstance(exc.stdout, bytes) else (exc.stdout or "")
        pytest.fail(f"the client tests with kubernetes {lowest} did not finish within {RUN_TIMEOUT:.0f} s\n"
                    f"{out[-4000:]}")
    assert run.returncode == 0, (f"with kubernetes {lowest} (the floor of {req}) the client tests fail "
                                 f"(exit {run.returncode}):\n{run.stdout[-6000:]}\n{run.stderr[-2000:]}")
    assert f"kubernetes {lowest} from {target}" in run.stdout
