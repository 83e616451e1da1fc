"""``digit-tui size``: the capacity plan as a table or JSON, optionally checked
against real capacity (a node list, preflight VM facts or a cluster)."""

from __future__ import annotations

import argparse
import sys
from typing import Any

from digit_tui import exitcodes


def _csv(text: str) -> list[str]:
    return [p.strip() for p in text.split(",") if p.strip()]


def register(subparsers: Any) -> None:
    p = subparsers.add_parser(
        "size",
        help="plan nodes, CPU, memory, disks and Postgres for a DIGIT release",
        description=(
            "Derive the cluster size from what the release's charts request: scale request-path services with "
            "peak users, bin-pack onto a flavor with per-node reservation, DaemonSets and headroom, add the N+1 "
            "spare, and size Kafka/ES/ZooKeeper/filestore disks and Postgres from ULBs, growth and retention "
            "(never below DIGIT's published minimums). Every assumption is printed with its source."
        ),
    )
    p.add_argument("--ulbs", type=int, metavar="N", help="number of ULBs (default: the preset's)")
    p.add_argument("--tier", choices=("dev", "uat", "prod"), help="environment tier (selects the generic preset)")
    p.add_argument("--preset", metavar="NAME", help="sizing preset: sdc-dev, sdc-prod, dev, uat, prod, quickstart")
    p.add_argument("--modules", metavar="m_a,m_b", help="m_ modules to include (default: all in the release)")
    p.add_argument("--users", type=int, metavar="N", help="peak concurrent users (default: per tier and ULBs)")
    p.add_argument("--flavor", metavar="8C/16G|suggest", help="worker flavor, or 'suggest' (default: the preset's)")
    p.add_argument("--retention-days", type=int, metavar="N", help="days Kafka (and ES, unless given) keep data")
    p.add_argument("--es-retention-days", type=int, metavar="N", help="days Elasticsearch keeps data")
    p.add_argument("--ha", action=argparse.BooleanOptionalAction, default=None,
                   help="N+1 workers and 3 masters (default: the preset's)")
    p.add_argument("--managed-control-plane", action=argparse.BooleanOptionalAction, default=None,
                   help="the cloud runs the control plane: no master VMs")
    p.add_argument("--db-mode", choices=("vm", "managed", "in-cluster"), help="where Postgres runs")
    p.add_argument("--json", action="store_true", help="print the plan as JSON")
    p.add_argument("--no-services", dest="services", action="store_false", help="leave out the per-service table")
    src = p.add_argument_group("release (default: the bundled sample)")
    src.add_argument("--source", metavar="DIR", help="a DIGIT-DevOps tree to read the charts from")
    src.add_argument("--manifest", metavar="FILE", help="release manifest (dependancy_chart-*.yaml)")
    src.add_argument("--env-file", metavar="FILE", help="environments/<env>.yaml")
    src.add_argument("--secrets-file", metavar="FILE", help="environments/<env>-secrets.yaml")
    src.add_argument("--synthetic", action="store_true",
                     help="plan a built-in DIGIT-shaped release instead of rendering charts")
    fit = p.add_argument_group("fit check (optional)")
    fit.add_argument("--check-nodes", metavar="6x8C/16G[,..]", help="check the plan against these VMs")
    fit.add_argument("--check-facts", metavar="FILE", help="check against preflight VM facts (JSON or YAML list)")
    fit.add_argument("--check-kubeconfig", metavar="FILE", help="check against the nodes of this cluster")
    fit.add_argument("--check-context", metavar="NAME", help="kubeconfig context for --check-kubeconfig")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    import json
    from pathlib import Path

    from digit_tui.errors import InputError
    from digit_tui.sizing import fit as fitmod
    from digit_tui.sizing import presets, report
    from digit_tui.sizing.model import SizingInputs
    from digit_tui.sizing.planner import check_bounds
    from digit_tui.sizing.planner import plan as make_plan

    preset = presets.load(args.preset) if args.preset else presets.default_for_tier(args.tier or "dev")
    if args.tier and args.preset and args.tier != preset.tier:
        raise InputError(f"--tier {args.tier} contradicts preset {preset.name} (tier {preset.tier})",
                         expected=f"--tier {preset.tier} or no --tier")
    modules = _csv(args.modules) if args.modules else None
    if args.modules is not None and not modules:
        raise InputError("--modules is empty", expected="m_a,m_b")
    inputs = SizingInputs(
        ulbs=args.ulbs if args.ulbs is not None else preset.ulbs.value,
        tier=preset.tier,
        modules=tuple(modules) if modules else None,
        users=args.users,
        flavor=args.flavor or preset.flavor.value,
        kafka_retention_days=args.retention_days,
        es_retention_days=args.es_retention_days,
        ha=args.ha,
        managed_control_plane=args.managed_control_plane,
        db_mode=args.db_mode,
    )
    check_bounds(inputs)                    # before validate: it parses the flavor, which may overflow
    inputs.validate()                       # bad numbers fail before any rendering
    nodes = None                            # hand-written capacity: checked before rendering too
    if args.check_nodes:
        _check_node_list(args.check_nodes)
        nodes = fitmod.nodes_from_spec(args.check_nodes)
    elif args.check_facts:
        nodes = fitmod.nodes_from_facts(_read_facts(Path(args.check_facts)))
    workloads, deps, namespaces = _workloads(args, preset)
    plan = make_plan(workloads, inputs, preset, module_deps=deps)

    if args.check_kubeconfig and nodes is None:
        try:
            nodes = fitmod.nodes_from_cluster(args.check_kubeconfig, args.check_context, namespaces)
        except fitmod.ClusterReadError as exc:  # unreachable, certificate, credentials: a failed check
            print(f"digit-tui: {exc}", file=sys.stderr)
            return exitcodes.FAILED
    fit = fitmod.check(workloads, inputs, preset, nodes, flavor=plan.flavor, module_deps=deps) if nodes else None

    if args.json:
        data = plan.to_dict()
        if fit is not None:
            data["fit"] = fit.to_dict()
        print(json.dumps(data, indent=2, sort_keys=False))
    else:
        print(report.render(plan, fit, services=args.services))
    return check_exit_code(fit)


# A fit check replays the release onto every VM: it stays in seconds up to this many.
MAX_CHECK_NODES = 1000


def _check_node_list(text: str) -> None:
    """Bound --check-nodes (6x8C/16G[,...]) before the fit check expands it into one entry per VM."""
    import re

    from digit_tui.errors import InputError
    from digit_tui.sizing.planner import check_flavor, parse_flavor

    total = 0
    for part in (p for p in text.split(",") if p.strip()):
        m = re.match(r"^\s*(?:(\d+)\s*[x×*]\s*)?(.+?)\s*$", part)
        if m is None:
            continue  # the fit check reports the syntax
        total += int(m[1]) if m[1] else 1
        if total > MAX_CHECK_NODES:
            raise InputError(f"--check-nodes lists more than {MAX_CHECK_NODES} VMs", expected=f"at most "
                             f"{MAX_CHECK_NODES} VMs, e.g. 6x8C/16G")
        check_flavor(parse_flavor(m[2], "--check-nodes"), "--check-nodes")


def check_exit_code(fit: Any) -> int:
    """1 when the capacity is short, or when pods would stay Pending applied in release order
    even though the capacity alone fits: that is what the operator would see after buying the VMs."""
    if fit is not None and (not fit.fits or (fit.replay is not None and fit.replay.pending)):
        return exitcodes.FAILED
    return exitcodes.OK


def _workloads(args: argparse.Namespace, preset: Any) -> tuple[list[Any], dict[str, tuple[str, ...]] | None, list[str]]:
    from pathlib import Path

    from digit_tui.errors import InputError
    from digit_tui.sizing import release, synthetic

    if args.synthetic:
        ws = synthetic.digit_like()
        return ws, None, sorted({w.namespace for w in ws})
    if args.source:
        if not (args.manifest and args.env_file):
            raise InputError("--source needs --manifest and --env-file", expected="all three, or none for the sample")
        inputs = release.ReleaseInputs(Path(args.source), _manifest_path(args), Path(args.env_file),
                                       Path(args.secrets_file) if args.secrets_file else None)
    else:
        inputs = release.bundled_inputs()
    rp = frozenset(r.service for r in preset.request_path.services)
    from digit_tui.sizing.diskcache import DiskCache

    got = release.WorkloadCache(disk=DiskCache()).get(inputs, rp)
    return list(got.workloads), dict(got.module_deps), sorted({w.namespace for w in got.workloads})


def _manifest_path(args: argparse.Namespace) -> Any:
    from pathlib import Path

    path = Path(args.manifest)
    if path.exists() or path.is_absolute():
        return path
    for base in (Path(args.source) / "deploy-as-code/helm/product-release-charts", Path(args.source) / "product-release-charts"):
        if (base / path).exists():
            return base / path
    return path


def _read_facts(path: Any) -> list[dict[str, Any]]:
    import yaml

    from digit_tui.errors import InputError
    from digit_tui.yamlload import TooDeep, safe_load

    try:
        if path.stat().st_size > 16 << 20:
            raise InputError("VM facts are larger than 16 MiB", path=path, expected="a list of VMs")
        data = safe_load(path.read_text(encoding="utf-8"))
    except OSError as exc:
        raise InputError(f"cannot read VM facts: {exc.strerror}", path=path,
                         expected="a readable JSON or YAML list of VMs") from None
    except UnicodeDecodeError:
        raise InputError("VM facts are not UTF-8 text", path=path, expected="JSON or YAML") from None
    except TooDeep as exc:
        raise InputError(f"VM facts are {exc.problem}", path=path,
                         line=exc.problem_mark.line + 1 if exc.problem_mark is not None else None,
                         expected="[{name, cpus, memory_bytes}, ...]") from None
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        raise InputError("VM facts are not valid JSON/YAML", path=path,
                         line=mark.line + 1 if mark is not None else None,
                         expected="[{name, cpus, memory_bytes}, ...]") from None
    if isinstance(data, dict):
        data = data.get("vms") or data.get("hosts") or data.get("nodes") or list(data.values())
    if not isinstance(data, list) or not all(isinstance(d, dict) for d in data):
        raise InputError("VM facts must be a list of VMs", path=path, expected="[{name, cpus, memory_bytes}, ...]")
    if len(data) > MAX_CHECK_NODES:
        raise InputError(f"VM facts list {len(data)} VMs, more than {MAX_CHECK_NODES}", path=path,
                         expected=f"at most {MAX_CHECK_NODES} VMs")
    return data
