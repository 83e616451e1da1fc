"""Release manifests: entries, Flyway images, module selection, order, the service graph, and the
compatibility contract with DIGIT's deployer (duplicates, cycles, unknown dependencies, untagged
services are warnings; the file is read by libyaml, and by Helm's YAML parser where libyaml refuses it)."""

from __future__ import annotations

import textwrap
from pathlib import Path

import pytest

from digit_tui.digit.manifest import (CYCLE, DUPLICATE_SERVICE, UNKNOWN_DEPENDENCY, UNTAGGED, load_manifest,
                                      parse_manifest, parse_service_entry)
from digit_tui.errors import InputError

RELEASE = textwrap.dedent("""
    version: v2.8
    modules:
      - name: m_pgr
        dependencies: [core, business]
        services:
          - "egovio/pgr-services:v1.1.7-3d7f744977-1"
          - "egovio/pgr-services-db:v1.1.7-3d7f744977-2"
      - name: frontend
        dependencies: [business]
        services: ["digit-ui:v1.5.0-aa11bb2-9"]
      - name: backbone
        services: [zookeeper-v2, kafka-v2, elasticsearch-data-v1]
      - name: authn-authz
        services: [redis, nginx-ingress, "zuul:v1.3.1-96b24b0d72-39"]
      - name: core
        dependencies: [backbone, authn-authz]
        services:
          - "egovio/egov-user:v1.3.0-6cfa52c1f9-2"
          - "egovio/egov-mdms-service:v1.3.3-6cfa52c1f9-1"
      - name: business
        dependencies: [core]
      - name: m_tl
        dependencies: [m_pgr]
        services: ["tl-services:v1.0.0-1234567-1"]
      - name: m_finance
        dependencies: [core]
        services: ["finance-collections:v1.0.0-7654321-1"]
    """).lstrip()


def write_manifest(tmp_path: Path, text: str, name: str = "dependancy_chart-digit-v2.8.yaml") -> Path:
    path = tmp_path / name
    path.write_text(text)
    return path


@pytest.mark.parametrize("entry,expected", [
    ("kafka-v2", ("kafka-v2", None, None)),
    ("zuul:v1.3.1-96b24b0d72-39", ("zuul", "v1.3.1-96b24b0d72-39", None)),
    ("egovio/egov-user:v1.3.0-6cfa52c1f9-2", ("egov-user", "v1.3.0-6cfa52c1f9-2", "egovio")),
    ("registry.local:5000/egovio/egov-user:v1", ("egov-user", "v1", "registry.local:5000/egovio")),
])
def test_service_entry_forms(entry: str, expected: tuple) -> None:
    assert parse_service_entry(entry) == expected


@pytest.mark.parametrize("entry", ["", "egov-user:", "a b:v1", "egov-user@sha256:abc", "x:y:z"])
def test_bad_service_entries_are_rejected(entry: str) -> None:
    with pytest.raises(ValueError):
        parse_service_entry(entry)


def test_bad_entry_points_at_its_line(tmp_path: Path) -> None:
    path = write_manifest(tmp_path, RELEASE.replace('"zuul:v1.3.1-96b24b0d72-39"', '"zuul:"'))
    with pytest.raises(InputError) as info:
        load_manifest(path)
    assert info.value.line == 14 and "zuul:" in str(info.value)


def test_db_entry_sets_the_migration_tag_and_is_not_a_service(tmp_path: Path) -> None:
    release = load_manifest(write_manifest(tmp_path, RELEASE))
    services = {s.name: s for s in release.services()}
    assert "pgr-services-db" not in services
    assert services["pgr-services"].tag == "v1.1.7-3d7f744977-1"
    assert services["pgr-services"].migration_tag == "v1.1.7-3d7f744977-2"
    # Without a -db entry the Flyway image uses the service's own tag.
    assert services["egov-user"].migration_tag == "v1.3.0-6cfa52c1f9-2"
    assert services["kafka-v2"].tag is None and services["kafka-v2"].migration_tag is None
    assert services["egov-user"].registry == "egovio"


def test_platform_modules_come_first_in_conventional_order(tmp_path: Path) -> None:
    release = load_manifest(write_manifest(tmp_path, RELEASE))
    assert release.selectable() == ["m_pgr", "m_tl", "m_finance"]
    assert release.resolve([]) == ["backbone", "authn-authz", "core", "business", "frontend"]
    assert release.resolve(None) == ["backbone", "authn-authz", "core", "business", "frontend",
                                     "m_pgr", "m_tl", "m_finance"]


def test_selected_module_pulls_in_its_dependencies_transitively(tmp_path: Path) -> None:
    release = load_manifest(write_manifest(tmp_path, RELEASE))
    assert release.resolve(["m_tl"]) == ["backbone", "authn-authz", "core", "business", "frontend", "m_pgr", "m_tl"]
    names = [s.name for s in release.services(release.resolve(["m_finance"]))]
    assert "finance-collections" in names and "pgr-services" not in names
    assert names[:3] == ["zookeeper-v2", "kafka-v2", "elasticsearch-data-v1"]


def test_unknown_module_lists_the_selectable_ones(tmp_path: Path) -> None:
    release = load_manifest(write_manifest(tmp_path, RELEASE))
    with pytest.raises(InputError) as info:
        release.resolve(["m_pgr", "m_property"])
    assert "m_property" in str(info.value)
    assert "selectable modules: m_pgr, m_tl, m_finance" in str(info.value)


def test_cycle_is_broken_at_the_edge_that_closes_it_with_a_warning(tmp_path: Path) -> None:
    text = RELEASE.replace("  - name: core\n    dependencies: [backbone, authn-authz]",
                           "  - name: core\n    dependencies: [backbone, authn-authz, business]")
    release = load_manifest(write_manifest(tmp_path, text))
    [note] = [n for n in release.notes if n.kind == CYCLE]
    # Walked in file order from m_pgr: core -> business, then business -> core closes the cycle.
    assert "module dependency cycle core -> business -> core" in note.message
    assert "dependency of business on core" in note.message and note.line == 21
    assert any(w.startswith("line 21: module dependency cycle core -> business -> core") for w in release.warnings)
    assert release.resolve(["m_tl"]) == ["backbone", "authn-authz", "business", "core", "frontend", "m_pgr", "m_tl"]


def test_unknown_dependency_is_ignored_with_a_warning_naming_its_line(tmp_path: Path) -> None:
    path = write_manifest(tmp_path, RELEASE.replace("dependencies: [core]\n  - name: m_tl",
                                                    "dependencies: [kore]\n  - name: m_tl"))
    release = load_manifest(path)
    [note] = [n for n in release.notes if n.kind == UNKNOWN_DEPENDENCY]
    assert note.line == 21 and "business depends on kore" in note.message and "did you mean core?" in note.message
    assert release.modules["business"].dependencies == ()
    assert "business" in release.resolve([])


def test_yaml_error_names_file_and_line(tmp_path: Path) -> None:
    path = write_manifest(tmp_path, RELEASE.replace("services: [zookeeper-v2,", "services: [zookeeper-v2,]]"))
    with pytest.raises(InputError) as info:
        load_manifest(path)
    assert str(info.value).startswith(f"{path}:12: release manifest: YAML syntax error at line 12: ")


def test_indentation_error_gives_the_line_an_editor_shows(tmp_path: Path) -> None:
    # go-yaml's parser counts this line from 0; the message must not.
    path = write_manifest(tmp_path, RELEASE.replace("  - name: business\n", "   - name: business\n"))
    with pytest.raises(InputError) as info:
        load_manifest(path)
    assert "YAML syntax error at line 20: did not find expected '-' indicator" in str(info.value)
    assert info.value.line == 20


def test_what_helm_reads_is_accepted_though_pyyaml_refuses_it(tmp_path: Path) -> None:
    import yaml

    text = RELEASE.replace("services: [redis, nginx-ingress,", "services: [redis, nginx-ingress,\t")
    text = text.replace("  - name: business\n", "  - name: business\t\n")
    with pytest.raises(yaml.YAMLError):
        yaml.safe_load(text)
    release = parse_manifest(text)
    assert "nginx-ingress" in [s.name for s in release.services()]
    assert release.resolve(["m_tl"])[-1] == "m_tl"


def test_reading_a_release_and_its_charts_loads_no_helm_sdk() -> None:
    """What a rerun reads (the manifest, every Chart.yaml) loads no Helm: its native library costs
    a converged rerun 50-300 ms. A fresh interpreter, as the CLI is."""
    import subprocess
    import sys

    from digit_tui.answers.model import BUNDLED_SOURCE

    code = ("import sys; from pathlib import Path; from digit_tui.digit.manifest import find_manifests, load_manifest; "
            "from digit_tui.digit.chart_index import ChartIndex; "
            f"src = Path({str(BUNDLED_SOURCE)!r}); [m] = find_manifests(src); "
            "services = load_manifest(m).services(); "
            "index = ChartIndex.build(src / 'deploy-as-code/helm/charts'); [index.lookup(s.name) for s in services]; "
            "print(len(services), 'helm_python' in sys.modules)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120, check=True)
    count, helm = out.stdout.split()
    assert int(count) > 10 and helm == "False"


def test_not_a_mapping_and_empty_files_are_named(tmp_path: Path) -> None:
    with pytest.raises(InputError, match="release manifest is not a mapping"):
        load_manifest(write_manifest(tmp_path, "- a\n- b\n"))
    with pytest.raises(InputError, match="release manifest is empty"):
        load_manifest(write_manifest(tmp_path, "\n"))


def test_missing_module_name_is_a_validation_error_with_line(tmp_path: Path) -> None:
    path = write_manifest(tmp_path, RELEASE.replace("  - name: m_finance", "  - nam: m_finance"))
    with pytest.raises(InputError) as info:
        load_manifest(path)
    assert "modules.7.name" in str(info.value) and info.value.line == 25


def test_service_graph_follows_module_dependencies(tmp_path: Path) -> None:
    release = load_manifest(write_manifest(tmp_path, RELEASE))
    graph = release.service_dependencies(release.resolve(["m_tl"]), cluster_configs="cluster-configs")
    assert graph["cluster-configs"] == []
    assert graph["kafka-v2"] == ["cluster-configs"]
    # core depends on backbone and authn-authz: every service of both
    assert set(graph["egov-user"]) == {"cluster-configs", "zookeeper-v2", "kafka-v2", "elasticsearch-data-v1",
                                       "redis", "nginx-ingress", "zuul"}
    # business has no services: frontend is ordered after core through it
    assert set(graph["digit-ui"]) == {"cluster-configs", "egov-user", "egov-mdms-service"}
    assert set(graph["tl-services"]) == {"cluster-configs", "pgr-services"}
    # services of one module do not wait for each other
    assert "egov-mdms-service" not in graph["egov-user"]


def test_service_listed_twice_keeps_its_place_and_takes_the_later_tag(tmp_path: Path) -> None:
    text = RELEASE.replace('services: ["tl-services:v1.0.0-1234567-1"]',
                           'services: ["tl-services:v1.0.0-1234567-1", "egov-user:v9"]')
    release = load_manifest(write_manifest(tmp_path, text))
    [note] = [n for n in release.notes if n.kind == DUPLICATE_SERVICE]
    assert note.lines == (18, 24) and note.services == ("egov-user",)
    assert "line 18 (core, v1.3.0-6cfa52c1f9-2), line 24 (m_tl, v9)" in note.message
    every = release.services()
    user = next(s for s in every if s.name == "egov-user")
    assert (user.tag, user.migration_tag, user.module, user.line) == ("v9", "v9", "core", 24)
    assert [s.name for s in every].count("egov-user") == 1
    assert [s.name for s in every].index("egov-user") < [s.name for s in every].index("tl-services")
    # Without m_tl deployed, the core entry is the only one.
    alone = {s.name: s for s in release.services(release.resolve(["m_finance"]))}
    assert alone["egov-user"].tag == "v1.3.0-6cfa52c1f9-2"


def test_a_later_untagged_entry_keeps_the_earlier_tag(tmp_path: Path) -> None:
    # The deployer reads the tag back from the Deployment the earlier entry just created.
    text = RELEASE.replace('services: ["tl-services:v1.0.0-1234567-1"]',
                           'services: ["tl-services:v1.0.0-1234567-1", "egov-user"]')
    release = load_manifest(write_manifest(tmp_path, text))
    user = next(s for s in release.services() if s.name == "egov-user")
    assert user.tag == "v1.3.0-6cfa52c1f9-2" and user.module == "core"


def test_untagged_services_are_one_warning_naming_each_line(tmp_path: Path) -> None:
    release = load_manifest(write_manifest(tmp_path, RELEASE))
    [note] = [n for n in release.notes if n.kind == UNTAGGED]
    assert note.services == ("zookeeper-v2", "kafka-v2", "elasticsearch-data-v1", "redis", "nginx-ingress")
    assert note.lines == (12, 12, 12, 14, 14)
    assert [e.name for e in release.untagged()] == list(note.services)


def test_flyway_image_without_its_service_is_a_warning(tmp_path: Path) -> None:
    release = parse_manifest(RELEASE + '  - name: m_x\n    services: ["egovio/lonely-db:v1"]\n')
    assert any("lonely-db" in w for w in release.warnings)
    assert "lonely" not in [s.name for s in release.services()]
