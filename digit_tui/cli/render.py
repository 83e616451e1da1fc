"""``digit-tui render``: write the release's rendered manifests, like DIGIT's deployer print mode.

One YAML file per service (``<out>/<service>.yaml``, CRDs first) plus
``<out>/index.yaml`` listing the order, modules, tags and digests. The files
hold rendered Secrets, so they are written 0600 in a 0700 directory.

Inputs come from an answers file (``--answers``, whose ``digit.tags`` override the
manifest's tags), or directly from a DIGIT tree
(``--source DIR|URL [--ref REF] --manifest FILE --env-file F --secrets-file F``).

Objects of APIs that Kubernetes ``--kube-version`` (default 1.30) no longer
serves are converted to their successors, as the install converts them for the
cluster it applies to, and what was converted is printed on stderr;
``--no-convert`` writes Helm's output as it is.
"""

from __future__ import annotations

import argparse
import atexit
import os
import shutil
import sys
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from digit_tui.digit.atomic import atomic_write
from digit_tui import exitcodes

DEFAULT_KUBE_VERSION = "1.30"     # the sandbox's, and the oldest release still in upstream support


def register(subparsers: Any) -> None:
    parser = subparsers.add_parser(
        "render",
        help="render the DIGIT release to YAML files (changes nothing in a cluster)",
        description=(
            "Render cluster-configs and every service of the release with Helm, using DIGIT's inputs "
            "(environment file, secrets file, the service's values file, name, image.tag and the Flyway "
            "migration tag). Writes one YAML file per service plus index.yaml into --out."
        ),
    )
    parser.add_argument("--answers", metavar="FILE", help="answers file naming the source, release and modules")
    parser.add_argument("--out", metavar="DIR", required=True, help="directory to write the manifests into")
    parser.add_argument("--engine", choices=("auto", "sdk", "helm"), default="auto",
                        help="auto: helm binary via pyhelm3 when on PATH, else the embedded Helm SDK (default)")
    parser.add_argument("--source", metavar="DIR|URL", help="a DIGIT-DevOps tree: a directory or a git URL")
    parser.add_argument("--ref", metavar="REF", help="branch, tag or commit of a git --source")
    parser.add_argument("--manifest", metavar="FILE",
                        help="release manifest (dependancy_chart-*.yaml); relative paths are tried against "
                             "the source's product-release-charts folder too")
    parser.add_argument("--env-file", metavar="FILE", help="environments/<env>.yaml")
    parser.add_argument("--secrets-file", metavar="FILE", help="environments/<env>-secrets.yaml (sops files are decrypted)")
    parser.add_argument("--modules", metavar="m_a,m_b",
                        help="m_ modules to include besides the platform ones (default: all modules)")
    parser.add_argument("--no-cluster-configs", dest="cluster_configs", action="store_false",
                        help="do not render the cluster-configs chart")
    parser.add_argument("--state-dir", metavar="DIR", help="where git sources are cloned (and answers' env files live)")
    parser.add_argument("--timeout", type=float, default=60.0, metavar="SECONDS",
                        help="deadline for rendering one chart (default 60)")
    parser.add_argument("--kube-version", metavar="X.Y", default=DEFAULT_KUBE_VERSION,
                        help="convert objects of APIs this Kubernetes version no longer serves to their "
                             f"successors (default {DEFAULT_KUBE_VERSION}; no cluster is contacted)")
    parser.add_argument("--no-convert", dest="convert", action="store_false",
                        help="write Helm's output as it is, removed APIs included")
    parser.set_defaults(func=run)


@dataclass
class RenderInputs:
    source: Any                 # DigitSource
    manifest: Path
    modules: list[str] | None
    env_file: Path
    secrets_file: Path | None
    tags: dict[str, str] | None = None      # the answers' digit.tags
    skip_services: tuple[str, ...] = ()     # the answers' digit.skip_services


def run(args: argparse.Namespace) -> int:
    from digit_tui.engine.errors import TaskError, remedy_for
    from digit_tui.errors import InputError

    if not args.answers and not args.source:
        raise InputError("render needs --answers FILE, or --source with --manifest and --env-file",
                         expected="digit-tui render --answers FILE --out DIR")
    _check_out(Path(args.out))  # before the render's seconds of work, not after
    if args.convert:
        from digit_tui.infra.kubeconvert import parse_minor

        try:
            parse_minor(args.kube_version)
        except InputError as exc:
            raise InputError(f"--kube-version: {exc.message}", expected="a Kubernetes version like 1.30") from None
    try:
        inputs = _inputs_from_answers(args) if args.answers else _inputs_from_args(args)
        return _render(args, inputs)
    except TaskError as exc:
        remedy = remedy_for(exc)
        print(f"digit-tui: {exc}" + (f" ({remedy})" if remedy else ""), file=sys.stderr)
        return exitcodes.FAILED


def _check_out(out: Path) -> None:
    """--out must be a directory we can write, or a path where one can be made."""
    from digit_tui.errors import InputError
    from digit_tui.paths import check_dir_path

    expected = "a directory for the rendered files (created if missing)"
    check_dir_path(out, "--out", expected)
    probe = next((p for p in (out, *out.absolute().parents) if p.exists()), None)
    if probe is not None and not os.access(probe, os.W_OK | os.X_OK):
        raise InputError(f"cannot write into {probe}", path=out, expected=expected)


def _progress(line: str) -> None:
    print(f"  {line}", file=sys.stderr)


def _state_dir(args: argparse.Namespace, environment: str | None = None) -> Path:
    from digit_tui.paths import state_dir

    return state_dir(environment or "default", args.state_dir)


def _inputs_from_args(args: argparse.Namespace) -> RenderInputs:
    from digit_tui.digit.selection import find_manifest
    from digit_tui.digit.source import open_source
    from digit_tui.errors import InputError

    if not args.manifest or not args.env_file:
        raise InputError("--source needs --manifest and --env-file (and usually --secrets-file)",
                         expected="--source DIR --manifest FILE --env-file F --secrets-file F")
    source = open_source(args.source, args.ref, state_dir=_state_dir(args), progress=_progress)
    manifest = find_manifest(source, args.manifest)
    modules = [m.strip() for m in args.modules.split(",") if m.strip()] if args.modules is not None else None
    return RenderInputs(source=source, manifest=manifest, modules=modules, env_file=Path(args.env_file),
                        secrets_file=Path(args.secrets_file) if args.secrets_file else None)


def _inputs_from_answers(args: argparse.Namespace) -> RenderInputs:
    """Source, release and modules from the answers file; env and secrets files generated from it."""
    from digit_tui.answers import load_answers
    from digit_tui.answers.config import InstallConfig
    from digit_tui.digit.skips import check_skipped

    answers = load_answers(args.answers)
    state = _state_dir(args, answers.environment)
    config = InstallConfig.from_answers(answers, args.answers, state_dir=state)
    modules = [m.strip() for m in args.modules.split(",") if m.strip()] if args.modules is not None else None
    release = config.open_release(progress=_progress, manifest=args.manifest, modules=modules)
    skip = check_skipped(release.manifest, release.modules, config.skip_services, config.answers_file)
    if args.env_file:
        env_file = Path(args.env_file)
        secrets_file = Path(args.secrets_file) if args.secrets_file else None
    else:
        env_file, secrets_file = _generated_env_files(config, state)
    return RenderInputs(source=release.source, manifest=release.manifest_path, modules=release.modules,
                        env_file=env_file, secrets_file=secrets_file, tags=config.tags or None, skip_services=skip)


def _generated_env_files(config: Any, state: Path) -> tuple[Path, Path | None]:
    """The env and secrets files an install generated into the state directory; when there are
    none yet, a preview pair generated from the answers (over the operator's own files when the
    answers name them, as the install does) into a private temporary directory."""
    from digit_tui.digit.envfile import env_file_path
    from digit_tui.digit.secretsfile import secrets_file_path
    from digit_tui.digit.selection import HELM_DIR

    env_file = env_file_path(state / HELM_DIR, config.environment)
    secrets_file = secrets_file_path(state / HELM_DIR, config.environment)
    if env_file.is_file():
        return env_file, secrets_file if secrets_file.is_file() else None
    env = config.operator_env(config.env_inputs(preview=True))
    preview = Path(tempfile.mkdtemp(prefix="digit-tui-render-env-"))
    atexit.register(shutil.rmtree, preview, True)
    print(f"digit-tui: no generated environment in {state} yet; rendering with a preview environment "
          "(dynamic storage, freshly generated secrets)", file=sys.stderr)
    return env.write(preview, {}, encrypt=False)


def _render(args: argparse.Namespace, inputs: RenderInputs) -> int:
    from digit_tui.digit.manifest import load_manifest
    from digit_tui.digit.pipeline import render_release
    from digit_tui.digit.render import make_renderer

    manifest = load_manifest(inputs.manifest)
    for warning in manifest.warnings:
        print(f"digit-tui: {inputs.manifest}: warning: {warning}", file=sys.stderr)
    with make_renderer(args.engine, timeout=args.timeout) as renderer:
        rendered = render_release(inputs.source, manifest, inputs.modules, inputs.env_file, inputs.secrets_file,
                                  renderer, cluster_configs=args.cluster_configs, tags=inputs.tags,
                                  skip_services=inputs.skip_services)
        engine = renderer.engine
    if args.convert:
        rendered = _converted(rendered, args.kube_version)

    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True, mode=0o700)
    index: list[dict[str, Any]] = []
    for order, svc in enumerate(rendered, start=1):
        name = f"{svc.name}.yaml"
        atomic_write(out / name, svc.manifest_yaml, mode=0o600)
        index.append({"order": order, "name": svc.name, "module": svc.module, "image_tag": svc.image_tag,
                      "chart": str(svc.chart_dir), "file": name, "digest": f"sha256:{svc.digest}",
                      "objects": len(svc.objects), "crds": len(svc.crds)})
    doc = {"release": manifest.version, "manifest": str(inputs.manifest), "source": inputs.source.origin,
           "commit": inputs.source.commit, "engine": engine, "services": index}
    from digit_tui import yamldump

    atomic_write(out / "index.yaml", yamldump.safe_dump(doc, sort_keys=False), mode=0o600)
    print(f"rendered {len(rendered)} services ({sum(i['objects'] + i['crds'] for i in index)} objects) "
          f"with the {engine} engine into {out}")
    return exitcodes.OK


def _converted(rendered: list[Any], kube_version: str) -> list[Any]:
    """Each service with the objects of removed APIs converted for ``kube_version`` (digest of the
    converted text); the summary of the whole release and every warning printed on stderr."""
    from dataclasses import replace

    from digit_tui.digit.pipeline import digest_of
    from digit_tui.infra.kubeconvert import ConversionResult, ServedAPIs, convert_objects

    served = ServedAPIs.for_kube_version(kube_version)
    total = ConversionResult(objects=[])
    out = []
    for svc in rendered:
        crds, objects = convert_objects(svc.crds, served), convert_objects(svc.objects, served)
        for part in (crds, objects):
            total.converted += part.converted
            total.dropped += part.dropped
            total.unserved += part.unserved
        out.append(replace(svc, crds=crds.objects, objects=objects.objects,
                           digest=digest_of(crds.objects, objects.objects)))
    print(f"digit-tui: {total.summary()} (for Kubernetes {kube_version})", file=sys.stderr)
    for line in ConversionResult(objects=[], dropped=total.dropped, unserved=total.unserved).warnings():
        print(f"digit-tui: warning: {line}", file=sys.stderr)
    for line in ConversionResult(objects=[], converted=total.converted).warnings():
        print(f"digit-tui: note: {line}", file=sys.stderr)
    return out


