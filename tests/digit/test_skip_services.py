"""``digit.skip_services``: services left out on purpose are not rendered and get no place in the
service graph; a name that is no service of the release is bad input with a near match."""

from __future__ import annotations

from pathlib import Path

import pytest

from digit_tui.digit.manifest import load_manifest
from digit_tui.digit.pipeline import CLUSTER_CONFIGS, release_order, render_release
from digit_tui.digit.render import make_renderer
from digit_tui.digit.skips import check_skipped
from digit_tui.errors import InputError

from .conftest import Tree


@pytest.fixture
def sdk():
    with make_renderer("sdk") as renderer:
        yield renderer


def test_skipped_services_are_not_rendered(digit_tree: Tree, sdk) -> None:
    # Its chart need not even exist: a service left out is never looked up.
    (digit_tree.charts / "core" / "egov-user" / "Chart.yaml").unlink()
    rendered = render_release(digit_tree.root, digit_tree.manifest, None, digit_tree.env_file,
                              digit_tree.secrets_file, sdk, skip_services=["egov-user", "elasticsearch-master-v1"])
    assert [s.name for s in rendered] == [CLUSTER_CONFIGS, "elasticsearch-data-v1", "egov-mdms-service",
                                          "pgr-services"]
    manifest = load_manifest(digit_tree.manifest)
    assert release_order(manifest, None, skip_services=["egov-user", "elasticsearch-master-v1"]) == \
        [s.name for s in rendered]


def test_cluster_configs_can_be_skipped_too(digit_tree: Tree, sdk) -> None:
    rendered = render_release(digit_tree.root, digit_tree.manifest, ["m_pgr"], digit_tree.env_file,
                              digit_tree.secrets_file, sdk, skip_services=[CLUSTER_CONFIGS])
    assert CLUSTER_CONFIGS not in [s.name for s in rendered]
    assert CLUSTER_CONFIGS not in release_order(load_manifest(digit_tree.manifest), ["m_pgr"],
                                                skip_services=[CLUSTER_CONFIGS])


def test_the_graph_has_no_node_for_a_skipped_service_and_looks_through_a_skipped_module(digit_tree: Tree) -> None:
    manifest = load_manifest(digit_tree.manifest)
    graph = manifest.service_dependencies(None, cluster_configs=CLUSTER_CONFIGS, skip={"egov-user"})
    assert "egov-user" not in graph and all("egov-user" not in deps for deps in graph.values())
    assert graph["pgr-services"] == [CLUSTER_CONFIGS, "egov-mdms-service"]
    # All of backbone left out: core keeps waiting for cluster-configs only, not for nothing.
    graph = manifest.service_dependencies(None, cluster_configs=CLUSTER_CONFIGS,
                                          skip={"elasticsearch-data-v1", "elasticsearch-master-v1"})
    assert graph["egov-user"] == [CLUSTER_CONFIGS]
    assert [e.name for e in manifest.services(None, skip={"egov-user"})] == \
        ["elasticsearch-data-v1", "elasticsearch-master-v1", "egov-mdms-service", "pgr-services"]


def test_a_name_that_is_not_in_the_release_is_bad_input_with_a_near_match(digit_tree: Tree, sdk) -> None:
    with pytest.raises(InputError) as err:
        render_release(digit_tree.root, digit_tree.manifest, None, digit_tree.env_file, digit_tree.secrets_file,
                       sdk, skip_services=["egov-user", "egov-mdms"])
    assert str(err.value) == ("digit.skip_services[1]: egov-mdms is not a service of release v0.1 "
                              "(expected: a service the release deploys; did you mean egov-mdms-service?)")


def test_a_service_of_a_module_not_selected_is_named_with_its_module(digit_tree: Tree) -> None:
    manifest = load_manifest(digit_tree.manifest)
    problems = manifest.skip_problems(manifest.resolve([]), ["pgr-services", "egov-user", "egov-user"],
                                      always=[CLUSTER_CONFIGS])
    assert [(p.index, p.message) for p in problems] == [
        (0, "pgr-services is in module m_pgr, which is not selected, so it is not deployed anyway"),
        (2, "egov-user is listed twice")]
    assert problems[0].expected == "a service of the selected modules, or m_pgr in digit.modules"


def test_the_skip_list_is_checked_naming_the_answers_file(digit_tree: Tree, tmp_path: Path) -> None:
    manifest = load_manifest(digit_tree.manifest)
    answers = str(tmp_path / "answers.yaml")
    skip = ["egov-user", CLUSTER_CONFIGS]
    assert check_skipped(manifest, manifest.resolve(None), skip, answers) == ("egov-user", CLUSTER_CONFIGS)
    with pytest.raises(InputError) as err:
        check_skipped(manifest, manifest.resolve(None), ["pgr-service"], answers)
    assert str(err.value).startswith(f"{answers}: digit.skip_services[0]: pgr-service is not a service")
    assert "did you mean pgr-services?" in str(err.value)
    assert check_skipped(manifest, manifest.resolve(None), [], answers) == ()
