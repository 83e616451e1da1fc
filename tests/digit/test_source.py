"""Reading a DIGIT-DevOps tree: layouts, git sources cloned into the state dir, the chart index."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

import pytest

from digit_tui.digit.chart_index import ChartIndex
from digit_tui.digit.source import checkout_dir_name, locate, open_source, redact_url
from digit_tui.engine.errors import PermanentError, TransientError
from digit_tui.errors import InputError

from .conftest import make_tree, write

GIT_ENV = {**os.environ, "GIT_AUTHOR_NAME": "t", "GIT_AUTHOR_EMAIL": "t@example.org",
           "GIT_COMMITTER_NAME": "t", "GIT_COMMITTER_EMAIL": "t@example.org"}


def git(repo: Path, *args: str) -> str:
    return subprocess.run(["git", "-C", str(repo), *args], check=True, capture_output=True, text=True,
                          env=GIT_ENV, timeout=30).stdout.strip()


@pytest.fixture
def upstream(tmp_path: Path) -> Path:
    repo = tmp_path / "upstream"
    make_tree(repo)
    subprocess.run(["git", "init", "-q", "-b", "master", str(repo)], check=True, timeout=30)
    git(repo, "add", "-A")
    git(repo, "commit", "-qm", "first")
    git(repo, "tag", "v2.8")
    return repo


# -- layouts -----------------------------------------------------------------

def test_classic_layout_is_located(digit_tree) -> None:
    src = locate(digit_tree.root)
    assert src.charts_dir == digit_tree.charts.resolve()
    assert src.environments_dir == digit_tree.env_file.parent.resolve()
    assert src.release_manifests() == [digit_tree.manifest.resolve()]
    assert src.environment_file("dev").name == "dev.yaml"
    assert src.secrets_file("dev").name == "dev-secrets.yaml"


def test_tree_with_charts_at_its_root_is_accepted(tmp_path: Path) -> None:
    tree = make_tree(tmp_path / "flat", classic=False)
    src = locate(tree.root)
    assert src.charts_dir == (tree.root / "charts").resolve()
    assert [p.name for p in src.release_manifests()] == ["dependancy_chart-digit-v0.1.yaml"]


def test_pointing_at_deploy_as_code_helm_itself_works(digit_tree) -> None:
    src = locate(digit_tree.root / "deploy-as-code" / "helm")
    assert src.charts_dir == digit_tree.charts.resolve()


def test_dependency_spelling_is_found_too(digit_tree) -> None:
    other = digit_tree.manifest.with_name("dependency_chart-other-v1.0.yaml")
    other.write_text(digit_tree.manifest.read_text())
    names = [p.name for p in locate(digit_tree.root).release_manifests()]
    assert names == ["dependancy_chart-digit-v0.1.yaml", "dependency_chart-other-v1.0.yaml"]


def test_tree_without_charts_names_the_places_looked(tmp_path: Path) -> None:
    (tmp_path / "empty").mkdir()
    with pytest.raises(InputError) as info:
        locate(tmp_path / "empty")
    assert "deploy-as-code/helm/charts" in str(info.value)


def test_missing_directory_is_bad_input(tmp_path: Path) -> None:
    with pytest.raises(InputError, match="not found"):
        open_source(tmp_path / "nope")


# -- git -----------------------------------------------------------------------

def test_git_source_is_cloned_with_progress_then_reused(upstream: Path, tmp_path: Path) -> None:
    state = tmp_path / "state"
    lines: list[str] = []
    src = open_source(f"file://{upstream}", "master", state_dir=state, progress=lines.append)
    head = git(upstream, "rev-parse", "HEAD")
    assert src.commit == head
    assert src.charts_dir.is_relative_to(state / "sources")
    assert src.root.name.endswith("@master")
    assert (src.charts_dir / "core" / "egov-user" / "values.yaml").is_file()
    assert any("fetching" in line for line in lines)
    assert any("checked out" in line for line in lines)

    again: list[str] = []
    src2 = open_source(f"file://{upstream}", "master", state_dir=state, progress=again.append)
    assert src2.root == src.root and src2.commit == head
    assert not any("fetching" in line for line in again)
    assert any("already checked out" in line for line in again)


def test_git_branch_moving_upstream_is_fetched_again(upstream: Path, tmp_path: Path) -> None:
    state = tmp_path / "state"
    first = open_source(f"file://{upstream}", "master", state_dir=state)
    write(upstream / "deploy-as-code/helm/charts/core/egov-idgen/values.yaml", "image: {repository: egov-idgen}\n")
    write(upstream / "deploy-as-code/helm/charts/core/egov-idgen/Chart.yaml",
          "apiVersion: v2\nname: egov-idgen\nversion: 0.1.0\n")
    git(upstream, "add", "-A")
    git(upstream, "commit", "-qm", "second")
    second = open_source(f"file://{upstream}", "master", state_dir=state)
    assert second.commit != first.commit
    assert second.commit == git(upstream, "rev-parse", "HEAD")
    assert "egov-idgen" in ChartIndex.build(second.charts_dir).services()


def test_git_tag_and_commit_refs(upstream: Path, tmp_path: Path) -> None:
    state = tmp_path / "state"
    tagged = git(upstream, "rev-parse", "v2.8^{commit}")
    git(upstream, "commit", "-qm", "later", "--allow-empty")
    by_tag = open_source(f"file://{upstream}", "v2.8", state_dir=state)
    assert by_tag.commit == tagged
    by_sha = open_source(f"file://{upstream}", tagged[:12], state_dir=state)
    assert by_sha.commit == tagged


def test_unknown_ref_is_a_permanent_task_error_and_leaves_nothing_behind(upstream: Path, tmp_path: Path) -> None:
    state = tmp_path / "state"
    with pytest.raises(PermanentError, match="no-such-branch") as info:
        open_source(f"file://{upstream}", "no-such-branch", state_dir=state)
    assert not isinstance(info.value, InputError)
    assert "digit.source.ref" in (info.value.remedy or "")
    assert not any((state / "sources").iterdir())


def test_git_deadline_is_enforced(upstream: Path, tmp_path: Path) -> None:
    with pytest.raises(TransientError, match="timed out"):
        open_source(f"file://{upstream}", "master", state_dir=tmp_path / "state", timeout=0.0)


@pytest.mark.parametrize("url", [
    "https://user:tok3nSecret@github.com/egovernments/DIGIT-DevOps.git",
    "https://tok3nSecret@github.com/egovernments/DIGIT-DevOps.git",
    "https://oauth2:tok3nSecret@github.com/egovernments/DIGIT-DevOps.git",
    "https://github.com/egovernments/DIGIT-DevOps.git?access_token=tok3nSecret",
    "https://github.com/egovernments/DIGIT-DevOps.git#tok3nSecret",
    "ssh://git:tok3nSecret@github.com/egovernments/DIGIT-DevOps.git",
    "deploy:tok3nSecret@github.com:egovernments/DIGIT-DevOps.git",
])
def test_urls_lose_their_credentials_in_names_and_messages(url: str) -> None:
    assert "tok3nSecret" not in redact_url(url)
    assert "github.com" in redact_url(url)
    name = checkout_dir_name(url, "release/v2.8")
    assert name.startswith("DIGIT-DevOps-") and name.endswith("@release_v2.8") and "tok3nSecret" not in name


def test_ssh_user_names_are_kept() -> None:
    for url in ("ssh://git@github.com/egovernments/DIGIT-DevOps.git", "git@github.com:egovernments/DIGIT-DevOps.git"):
        assert redact_url(url) == url


# -- chart index ------------------------------------------------------------

def test_chart_index_follows_digit_naming(digit_tree) -> None:
    index = ChartIndex.build(digit_tree.charts)
    assert index.services() == ["cluster-configs", "egov-mdms-service", "egov-user",
                                "elasticsearch-data-v1", "elasticsearch-master-v1", "pgr-services"]
    data = index.lookup("elasticsearch-data-v1")
    master = index.lookup("elasticsearch-master-v1")
    assert data.chart_dir == master.chart_dir == digit_tree.charts / "backbone" / "elasticsearch"
    assert data.values_file.name == "elasticsearch-data-v1-values.yaml"
    assert index.lookup("egov-user").values_file == digit_tree.charts / "core" / "egov-user" / "values.yaml"
    assert "common" not in index.services()


def test_unknown_service_names_service_and_folders_searched(digit_tree) -> None:
    index = ChartIndex.build(digit_tree.charts)
    with pytest.raises(InputError) as info:
        index.lookup("egov-usr")
    text = str(info.value)
    assert "'egov-usr'" in text
    for folder in ("charts/backbone", "charts/core", "charts/m-pgr"):
        assert folder in text
    assert "did you mean egov-user" in text


def test_one_service_named_by_two_charts_is_reported(digit_tree) -> None:
    write(digit_tree.charts / "core" / "egov-mdms-service" / "egov-user-values.yaml", "x: 1\n")
    index = ChartIndex.build(digit_tree.charts)
    with pytest.raises(InputError, match="more than one values file"):
        index.lookup("egov-user")
