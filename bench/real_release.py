"""The real DIGIT-DevOps v2.8 with every m_ module: render time and install time.

    .venv/bin/python bench/real_release.py [--tarball T] [--rounds 3] [--speed 5] [--concurrency 4] [--no-install]

Render: digit-tui's pipeline (``render_release`` with the embedded Helm SDK: the
deployer's values, Helm's YAML, charts staged with their file:// dependencies,
objects sorted, canonical text and digests), then the same plus the conversion
for Kubernetes 1.30 (what ``digit-tui render`` writes), against a plain loop over
the same services calling helm-python-sdk directly with the same values and
parsing its output into objects (one service after another, ``yaml.safe_load_all``
as such a script would). Measured in the same run, alternating, ``--rounds``
rounds: the best time of each, and the median of the rounds' ratios (a round's
load falls on both); the issue's target is digit-tui <= 1.0x the plain loop.

Install: ``digit-tui install --headless`` on a fresh sandbox (5 nodes: the release
asks for 53 Gi of memory) at the default concurrency and at 1 (DIGIT's own
deployer goes one service after another), through the real CLI.

The snapshot is ../shared/real-digit (or ``$DIGIT_REAL_TREE_TARBALL``, or ``--tarball``).
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import subprocess
import sys
import tarfile
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import yaml

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

TARBALL = REPO.parent / "shared" / "real-digit" / "digit-devops-45790f3f3f5c.tar.gz"
MANIFEST = "deploy-as-code/helm/product-release-charts/DIGIT/dependancy_chart-digit-v2.8.yaml"
NODES = 5


def extract(tarball: Path, dest: Path) -> Path:
    with tarfile.open(tarball) as archive:
        archive.extractall(dest, filter="data")
    return dest / "DIGIT-DevOps"


def generated_env(environment: str, domain: str, out: Path) -> tuple[Path, Path]:
    """The environment and secrets files an install generates from minimal answers."""
    from digit_tui.answers.config import InstallConfig
    from digit_tui.answers.model import Answers
    from digit_tui.digit.envfile import write_env_file
    from digit_tui.digit.secretsfile import write_secrets_file

    answers = Answers.model_validate({"environment": environment, "target": {"provider": "sandbox"},
                                      "digit": {"domain": domain}}, context={"check_files": False})
    inputs = InstallConfig.from_answers(answers).env_inputs(preview=True)
    return write_env_file(inputs, out), write_secrets_file(inputs, out)


def through_digit_tui(tree: Path, modules: list[str], env: Path, secrets: Path, *, convert: bool) -> int:
    from digit_tui.digit.pipeline import render_release
    from digit_tui.digit.render import make_renderer
    from digit_tui.infra.kubeconvert import ServedAPIs, convert_objects

    with make_renderer("sdk") as renderer:
        rendered = render_release(tree, tree / MANIFEST, modules, env, secrets, renderer)
    if convert:
        served = ServedAPIs.for_kube_version("1.30")
        for svc in rendered:
            convert_objects(svc.crds, served)
            convert_objects(svc.objects, served)
    return sum(len(s.objects) + len(s.crds) for s in rendered)


def plain_loop(tree: Path, modules: list[str], env: Path, secrets: Path, work: Path) -> int:
    """What a script calling helm-python-sdk directly does: per service, env + secrets + its values
    file + --set, each chart staged once with its file:// dependencies, output parsed."""
    import helm_python

    from digit_tui.deepmerge import deep_merge
    from digit_tui.digit.chart_index import ChartIndex
    from digit_tui.digit.manifest import load_manifest
    from digit_tui.digit.pipeline import release_entries

    manifest = load_manifest(tree / MANIFEST)
    index = ChartIndex.build(tree / "deploy-as-code" / "helm" / "charts")
    base = deep_merge(helm_python.values_from_yaml(env.read_text()), helm_python.values_from_yaml(secrets.read_text()))
    staged: dict[Path, Path] = {}
    count = 0
    entries = release_entries(manifest, modules)
    names = ["cluster-configs", *(e.name for e in entries if e.name != "cluster-configs")]
    by_name = {e.name: e for e in entries}
    for name in names:
        ref = index.lookup(name)
        if ref.chart_dir not in staged:
            staged[ref.chart_dir] = stage(ref.chart_dir, work / str(len(staged)) / ref.chart_dir.name)
        values = base
        if ref.values_file is not None and ref.values_file.name != "values.yaml":
            values = deep_merge(values, helm_python.values_from_yaml(ref.values_file.read_text()))
        entry = by_name.get(name)
        sets: dict[str, Any] = {"name": name}
        if entry is not None and entry.tag:
            sets["image"] = {"tag": entry.tag}
            sets["initContainers"] = {"dbMigration": {"image": {"tag": entry.migration_tag or entry.tag}}}
        values = deep_merge(values, sets)
        with helm_python.Chart.load(staged[ref.chart_dir]) as chart:
            manifests = chart.render(values, name=name, namespace="default", is_install=True)
            crds = [str(c.get("data") or "") for c in chart.crds]
        for text in [*(manifests[p] for p in sorted(manifests) if not p.endswith("NOTES.txt")), *crds]:
            count += sum(1 for doc in yaml.safe_load_all(text) if doc)
    return count


def yaml_loader() -> str:
    """How each side parses Helm's output."""
    fast = getattr(yaml, "CSafeLoader", None) is not None
    return ("digit-tui with libyaml's CSafeLoader" if fast else "digit-tui with PyYAML's SafeLoader (no libyaml)") + \
        ", the plain loop with yaml.safe_load_all (pure Python)"


def stage(chart_dir: Path, dest: Path) -> Path:
    shutil.copytree(chart_dir, dest)
    meta = yaml.safe_load((dest / "Chart.yaml").read_text()) or {}
    for dep in meta.get("dependencies") or []:
        repo = str(dep.get("repository") or "")
        if repo.startswith("file://"):
            (dest / "charts").mkdir(exist_ok=True)
            target = dest / "charts" / dep["name"]
            if not target.exists():
                shutil.copytree((chart_dir / repo[len("file://"):]).resolve(), target)
    return dest


def best(fn: Callable[[], int], rounds: list[float]) -> int:
    start = time.perf_counter()
    n = fn()
    rounds.append(time.perf_counter() - start)
    return n


def install(tree: Path, modules: list[str], work: Path, speed: float, concurrency: int) -> float:
    from digit_tui.sandbox.runtime import start_sandbox

    handle = start_sandbox(work / "sandbox", nodes=NODES, speed=speed)
    try:
        answers = work / "answers.yaml"
        answers.write_text(yaml.safe_dump({
            "environment": "bench", "target": {"provider": "sandbox", "kubeconfig": str(handle.kubeconfig_path)},
            "digit": {"domain": "digit.local", "source": {"path": str(tree)}, "release": MANIFEST,
                      "modules": modules},
            "engine": {"concurrency": concurrency}}))
        env = dict(os.environ, PYTHONPATH=str(REPO), XDG_STATE_HOME=str(work / "xdg"))
        start = time.monotonic()
        proc = subprocess.run([sys.executable, "-m", "digit_tui.cli", "install", "--answers", str(answers),
                               "--headless", "--state-dir", str(work / "state")],
                              env=env, capture_output=True, text=True, timeout=3600, cwd=REPO)
        elapsed = time.monotonic() - start
        if proc.returncode != 0:
            raise SystemExit(f"install failed (concurrency {concurrency}):\n{proc.stderr[-2000:]}")
        return elapsed
    finally:
        handle.stop()


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--tarball", type=Path, default=Path(os.environ.get("DIGIT_REAL_TREE_TARBALL") or TARBALL))
    parser.add_argument("--rounds", type=int, default=3, help="render rounds, the best of each is kept (3)")
    parser.add_argument("--speed", type=float, default=5.0, help="sandbox speed: divides simulated delays (5)")
    parser.add_argument("--concurrency", type=int, default=4, help="the default engine concurrency (4)")
    parser.add_argument("--no-install", dest="install", action="store_false", help="measure the render only")
    args = parser.parse_args()
    if not args.tarball.is_file():
        raise SystemExit(f"the real DIGIT-DevOps snapshot is not at {args.tarball}")

    from digit_tui.digit.manifest import load_manifest

    with tempfile.TemporaryDirectory(prefix="digit-bench-real-") as tmp:
        work = Path(tmp)
        tree = extract(args.tarball, work / "src")
        modules = [m for m in load_manifest(tree / MANIFEST).selectable() if m.startswith("m_")]
        env, secrets = generated_env("bench", "digit.local", work / "helm")

        ours: list[float] = []
        converted: list[float] = []
        plain: list[float] = []
        objects = 0
        for i in range(args.rounds):
            objects = best(lambda: through_digit_tui(tree, modules, env, secrets, convert=False), ours)
            best(lambda: through_digit_tui(tree, modules, env, secrets, convert=True), converted)
            plain_objects = best(lambda i=i: plain_loop(tree, modules, env, secrets, work / f"plain{i}"), plain)
        from digit_tui.digit.pipeline import render_workers

        def ratio(a: list[float]) -> float:
            return statistics.median(x / p for x, p in zip(a, plain))

        print(f"v2.8, {len(modules)} m_ modules, {objects} objects (plain loop: {plain_objects}), {args.rounds} rounds; "
              f"{yaml_loader()}; digit-tui renders {render_workers()} services at a time")
        print(f"render through digit-tui:               {min(ours):6.2f} s (best)")
        print(f"render through digit-tui + convert 1.30: {min(converted):6.2f} s")
        print(f"plain helm-python-sdk loop:              {min(plain):6.2f} s")
        print(f"digit-tui / plain loop:                  {ratio(ours):6.2f}x median of the rounds "
              f"({', '.join(f'{x / p:.2f}' for x, p in zip(ours, plain))})   (target <= 1.0x)")
        print(f"digit-tui + convert / plain loop:        {ratio(converted):6.2f}x")

        if args.install:
            (work / "par").mkdir()
            (work / "seq").mkdir()
            t_par = install(tree, modules, work / "par", args.speed, args.concurrency)
            t_seq = install(tree, modules, work / "seq", args.speed, 1)
            print(f"install on the sandbox ({NODES} nodes, speed {args.speed:g}), concurrency {args.concurrency}: "
                  f"{t_par:7.2f} s")
            print(f"install on the sandbox ({NODES} nodes, speed {args.speed:g}), concurrency 1: {t_seq:7.2f} s")
            print(f"speed-up concurrency {args.concurrency} vs 1: {t_seq / t_par:5.2f}x")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
