"""`digit-tui sandbox up|down|status|fault`: the embedded cluster as a background process."""

from __future__ import annotations

import argparse
import json
import math
import sys
from pathlib import Path
from typing import Any

from digit_tui import exitcodes
from digit_tui.errors import InputError


def register(subparsers: Any) -> None:
    p = subparsers.add_parser("sandbox", help="the embedded sandbox Kubernetes cluster",
                              description="Start, stop and inspect the embedded sandbox cluster; inject faults.")
    p.add_argument("--state-dir", help="state directory (default: $XDG_STATE_HOME/digit-tui/sandbox)")
    sub = p.add_subparsers(dest="sandbox_cmd", required=True)

    up = sub.add_parser("up", help="start the sandbox in the background and print its kubeconfig path")
    up.add_argument("--nodes", type=int, default=3, help="number of simulated nodes (default 3)")
    up.add_argument("--node-cpu", default="8", help="allocatable CPU per node (default 8)")
    up.add_argument("--node-memory", default="16Gi", help="allocatable memory per node (default 16Gi)")
    up.add_argument("--speed", type=float, default=1.0, help="divides simulated delays (default 1 = realistic)")
    up.add_argument("--port", type=int, default=0, help="port on 127.0.0.1 (default 0: any free port)")
    up.add_argument("--timeout", type=float, default=60.0, help="seconds to wait until it is ready")
    up.set_defaults(func=run)

    down = sub.add_parser("down", help="stop the sandbox")
    down.set_defaults(func=run)
    status = sub.add_parser("status", help="is the sandbox running; its URL and nodes")
    status.add_argument("--json", action="store_true", help="machine-readable output")
    status.set_defaults(func=run)

    fault = sub.add_parser("fault", help="inject API faults into the running sandbox")
    fsub = fault.add_subparsers(dest="fault_kind", required=True)
    lat = fsub.add_parser("latency", help="add latency to every API request")
    lat.add_argument("--ms", type=int, required=True)
    lat.add_argument("--seconds", type=float)
    err = fsub.add_parser("errors", help="fail a share of API requests")
    err.add_argument("--rate", type=float, default=0.3)
    err.add_argument("--code", default="503", help="500|502|503|504|429 or reset (connection reset)")
    err.add_argument("--seconds", type=float)
    part = fsub.add_parser("partition", help="drop all API traffic (existing watches too) for N seconds")
    part.add_argument("--seconds", type=float, required=True)
    part.add_argument("--mode", choices=("drop", "refuse"), default="drop",
                      help="drop: requests hang until the partition ends; refuse: connections are reset")
    fsub.add_parser("cut-watches", help="break every open watch stream")
    nnr = fsub.add_parser("node-not-ready", help="make a node NotReady")
    nnr.add_argument("node")
    nnr.add_argument("--seconds", type=float)
    fsub.add_parser("clear", help="remove all faults")
    fsub.add_parser("show", help="print the active faults")
    for fp in (lat, err, part, nnr):
        fp.set_defaults(func=run)
    for name in ("cut-watches", "clear", "show"):
        fsub.choices[name].set_defaults(func=run)
    fault.set_defaults(func=run)
    # Operators type the option after the verb too (`sandbox up --state-dir D`); SUPPRESS keeps
    # a value given before the verb from being overwritten by the sub-parser's default.
    for sp in (up, down, status, fault, *fsub.choices.values()):
        sp.add_argument("--state-dir", default=argparse.SUPPRESS, help=argparse.SUPPRESS)


def _state_dir(args: argparse.Namespace) -> Path:
    from digit_tui import paths

    return paths.state_dir("sandbox", getattr(args, "state_dir", None))


def run(args: argparse.Namespace) -> int:
    from digit_tui.sandbox import runtime

    state = _state_dir(args)
    cmd = args.sandbox_cmd
    if cmd == "up":
        _check_up(args)
        info = runtime.running_info(state)
        if info is None:
            opts = runtime.SandboxOptions(state_dir=state, nodes=args.nodes, node_cpu=args.node_cpu,
                                          node_memory=args.node_memory, speed=args.speed, port=args.port)
            try:
                info = runtime.launch_background(opts, timeout=args.timeout)
            except (RuntimeError, TimeoutError) as exc:
                print(f"sandbox: {exc}", file=sys.stderr)
                return exitcodes.FAILED
        print(info["kubeconfig"])
        return exitcodes.OK
    if cmd == "down":
        stopped = runtime.stop_background(state)
        print("sandbox stopped" if stopped else "sandbox was not running", file=sys.stderr)
        return exitcodes.OK
    if cmd == "status":
        return _status(state, args.json)
    if cmd == "fault":
        return _fault(state, args)
    return exitcodes.BAD_INPUT


MAX_NODES = 500        # simulated nodes: past a few hundred the sandbox is no longer quick
MAX_LATENCY_MS = 600_000


def _number(value: float, option: str, low: float, high: float, *, low_ok: bool = False) -> None:
    """Finite and within (low, high] (or [low, high] with ``low_ok``): NaN and inf fail every comparison."""
    ok = math.isfinite(value) and (value >= low if low_ok else value > low) and value <= high
    if not ok:
        lower = f"at least {low:g}" if low_ok else f"more than {low:g}"
        raise InputError(f"{option} {value:g} is out of range", expected=f"a number {lower} and at most {high:g}")


def _check_up(args: argparse.Namespace) -> None:
    from digit_tui.sandbox.simconfig import cpu_millis, memory_bytes

    _number(args.nodes, "--nodes", 1, MAX_NODES, low_ok=True)
    _number(args.speed, "--speed", 0, 10_000)
    _number(args.timeout, "--timeout", 0, 3600)
    _number(args.port, "--port", 0, 65535, low_ok=True)
    for option, value, parse, example in (("--node-cpu", args.node_cpu, cpu_millis, "8 or 3500m"),
                                          ("--node-memory", args.node_memory, memory_bytes, "16Gi")):
        try:
            amount = parse(value)
        except (ValueError, ArithmeticError):
            amount = 0
        if amount <= 0:
            raise InputError(f"{option} {value!r} is not a positive quantity", expected=f"a quantity such as {example}")


def _check_fault(args: argparse.Namespace) -> None:
    """Refuse a bad fault before looking for the sandbox: nothing is sent, nothing changes."""
    from digit_tui.sandbox.faults import MAX_FAULT_SECONDS, check_seconds

    seconds = getattr(args, "seconds", None)
    if seconds is not None:
        try:
            check_seconds(seconds)
        except ValueError:
            raise InputError(f"--seconds {seconds:g} is not a duration", expected=f"seconds more than 0 and at most "
                             f"{MAX_FAULT_SECONDS:g}; leave --seconds out to keep the fault until `fault clear`") from None
    kind = args.fault_kind
    if kind == "latency":
        _number(args.ms, "--ms", 0, MAX_LATENCY_MS, low_ok=True)
    elif kind == "errors":
        _number(args.rate, "--rate", 0, 1, low_ok=True)
        if args.code != "reset" and args.code not in ("500", "502", "503", "504", "429"):
            raise InputError(f"unsupported --code {args.code}", expected="500|502|503|504|429|reset")
    elif kind == "node-not-ready" and not args.node.strip():
        raise InputError("the node name is empty", expected="a node name from `digit-tui sandbox status`")


def _status(state: Path, as_json: bool) -> int:
    from digit_tui.sandbox import runtime

    info = runtime.running_info(state)
    if info is None:
        if as_json:
            print(json.dumps({"running": False}))
        else:
            print("sandbox: not running")
        return exitcodes.FAILED
    nodes: list[dict[str, str]] = []
    try:
        nodes = _nodes(info, state)
    except (OSError, RuntimeError, ValueError) as exc:
        print(f"sandbox: running but not answering: {exc}", file=sys.stderr)
    if as_json:
        print(json.dumps({"running": True, "pid": info["pid"], "url": info["url"], "kubeconfig": info["kubeconfig"],
                          "nodes": nodes}))
        return exitcodes.OK
    print(f"sandbox: running (pid {info['pid']})")
    print(f"url: {info['url']}")
    print(f"kubeconfig: {info['kubeconfig']}")
    ready = sum(1 for n in nodes if n["ready"] == "True")
    print(f"nodes: {len(nodes)} ({ready} ready)")
    for n in nodes:
        print(f"  {n['name']}  {'Ready' if n['ready'] == 'True' else 'NotReady'}")
    return exitcodes.OK


def _nodes(info: dict[str, Any], state: Path) -> list[dict[str, str]]:
    import ssl
    import urllib.request

    token = (state / "token").read_text().strip()
    req = urllib.request.Request(info["url"] + "/api/v1/nodes", headers={"Authorization": f"Bearer {token}"})
    ctx = ssl.create_default_context(cafile=info["ca"])
    with urllib.request.urlopen(req, timeout=5, context=ctx) as resp:
        data = json.loads(resp.read())
    out = []
    for n in data.get("items", []):
        conds = {c.get("type"): c.get("status") for c in (n.get("status") or {}).get("conditions") or []}
        out.append({"name": n["metadata"]["name"], "ready": conds.get("Ready", "Unknown")})
    return out


def _fault(state: Path, args: argparse.Namespace) -> int:
    from digit_tui.sandbox import runtime

    _check_fault(args)
    info = runtime.running_info(state)
    if info is None:
        print("sandbox: not running", file=sys.stderr)
        return exitcodes.FAILED
    token = (state / "token").read_text().strip()
    kind = args.fault_kind
    body: dict[str, Any] | None
    method = "POST"
    if kind == "latency":
        body = {"kind": "latency", "ms": args.ms, "seconds": args.seconds}
    elif kind == "errors":
        body = {"kind": "errors", "rate": args.rate, "code": args.code, "seconds": args.seconds}
    elif kind == "partition":
        body = {"kind": "partition", "seconds": args.seconds, "mode": args.mode}
    elif kind == "cut-watches":
        body = {"kind": "cut-watches"}
    elif kind == "node-not-ready":
        body = {"kind": "node-not-ready", "node": args.node, "seconds": args.seconds}
    elif kind == "clear":
        body, method = None, "DELETE"
    else:
        body, method = None, "GET"
    try:
        out = runtime.control_request(info["url"], token, Path(info["ca"]), method, body)
    except (RuntimeError, OSError) as exc:
        print(f"sandbox: {exc}", file=sys.stderr)
        return exitcodes.FAILED
    print(json.dumps(out, indent=2))
    return exitcodes.OK
