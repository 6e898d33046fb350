"""The stack subcommands of ``python -m simulator``: up, scale, upgrade, status, down, check.

Progress goes to stderr as things start; stdout carries only results (``--json``: ONE object).
Client secrets reach stdout only with ``--json`` and never a log.
"""
from __future__ import annotations

import argparse
import json
import signal
import sys
from collections.abc import Callable
from typing import Any

from simulator import render as rendering
from simulator import report
from simulator.run import RunError
from simulator.scenarios import Scenario, ScenarioError, load
from simulator.stack import BACKENDS, Stack, status
from simulator.topology import TopologyError

_ERRORS = (RunError, ScenarioError, rendering.RenderError, TopologyError, RuntimeError)


def _err(msg: str) -> int:
    print(f"Error: {msg}", file=sys.stderr)
    return 1


def _sets(p: argparse.ArgumentParser) -> None:
    p.add_argument("--set", dest="set_values", action="append", default=[], metavar="K=V",
                   help="helm --set on top of the scenario's values (repeatable)")


def _sigterm_as_interrupt() -> None:
    """`down` on failure must also run when we are told to stop (tox, CI cancel)."""
    def handler(signum: int, _frame: Any) -> None:
        raise KeyboardInterrupt(f"signal {signum}")
    signal.signal(signal.SIGTERM, handler)


def _up_payload(stack: Stack) -> dict[str, Any]:
    out = stack.outputs()
    out["clients"] = [{"id": c.id, "secret": c.secret, "scopes": c.scopes.split(),
                       "kind": c.kind} for c in stack.clients()] if "api_url" in out else []
    out["not_honored"] = stack.state.notes
    return out


def _new_stack(args: argparse.Namespace) -> tuple[Scenario, Stack]:
    """The scenario named on the command line and a (not yet started) stack for it."""
    if args.backend != "process":
        raise RunError(f"--backend {args.backend} is not implemented yet; use --backend process")
    scenario = load(args.scenario)
    return scenario, Stack.create(scenario, args.set_values, args.backend)


def cmd_up(args: argparse.Namespace) -> int:
    try:
        _, stack = _new_stack(args)
    except _ERRORS as exc:
        return _err(str(exc))
    _sigterm_as_interrupt()
    try:
        stack.up()
    except (KeyboardInterrupt, *_ERRORS) as exc:
        print(f"up failed: {exc}\ncleaning up run {stack.state.run_id}", file=sys.stderr)
        stack.down()
        return 130 if isinstance(exc, KeyboardInterrupt) else 1
    report.summary(stack, sys.stderr)
    if args.json:
        print(json.dumps(_up_payload(stack)))
    else:
        print(stack.state.run_id)
        print(f"(stop it with: python -m simulator down {stack.state.run_id})", file=sys.stderr)
    return 0


def _reconcile(run_id: str, change: Callable[[Stack], Any]) -> int:
    """Load a run, apply a change that re-renders and reconciles, report what moved."""
    try:
        stack = Stack.load(run_id)
        result = change(stack)
    except _ERRORS as exc:
        return _err(str(exc))
    report.summary(stack, sys.stderr)
    print(json.dumps({"started": result.started, "stopped": result.stopped,
                      "kept": result.kept}))
    return 0


def cmd_scale(args: argparse.Namespace) -> int:
    return _reconcile(args.run_id, lambda stack: stack.scale(args.what, args.replicas))


def cmd_upgrade(args: argparse.Namespace) -> int:
    return _reconcile(args.run_id, lambda stack: stack.upgrade(args.set_values))


def cmd_status(args: argparse.Namespace) -> int:
    try:
        stack = Stack.load(args.run_id)
    except _ERRORS as exc:
        return _err(str(exc))
    if args.json:
        print(json.dumps(status(stack), default=str))
    else:
        report.summary(stack, sys.stdout)
    return 0


def cmd_down(args: argparse.Namespace) -> int:
    try:
        stack = Stack.load(args.run_id)
    except _ERRORS as exc:
        return _err(str(exc))
    left = stack.down()
    if left:
        return _err(f"still running after down: {left}")
    return 0


def cmd_check(args: argparse.Namespace) -> int:
    """up + every expectation + down (down also on failure and Ctrl-C); non-zero on any failure."""
    try:
        scenario, stack = _new_stack(args)
    except _ERRORS as exc:
        return _err(str(exc))
    from simulator.check import evaluate
    _sigterm_as_interrupt()
    results = []
    code = 1
    try:
        stack.up()
        print(f"checking {scenario.name}: {len(scenario.expect.jobs)} job(s), "
              f"{len(scenario.expect.auth)} auth call(s)", file=sys.stderr)
        results = evaluate(stack, scenario)
        report.summary(stack, sys.stderr, results)
        code = 0 if all(r.ok for r in results) else 1
    except KeyboardInterrupt:
        print("interrupted: tearing down", file=sys.stderr)
        code = 130
    except (*_ERRORS, OSError) as exc:
        print(f"check {scenario.name} failed: {exc}", file=sys.stderr)
    finally:
        left = stack.down()
        if left:
            print(f"LEAK after down: {left}", file=sys.stderr)
            code = code or 1
    print(f"check {scenario.name}: {'PASSED' if code == 0 else 'FAILED'}", file=sys.stderr)
    return code


def add_commands(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("up", help="bring a scenario's stack up and leave it running")
    p.add_argument("scenario", help="scenario name (scenarios/NAME.yaml) or a .yaml path")
    p.add_argument("--backend", choices=BACKENDS, default="process")
    _sets(p)
    p.add_argument("--json", action="store_true",
                   help="print ONE JSON object (run_id, URLs, clients with secrets) to stdout")
    p.set_defaults(func=cmd_up)

    p = sub.add_parser("scale", help="scale a running stack's workers (re-render + reconcile)")
    p.add_argument("run_id")
    p.add_argument("what", choices=["workers", "api"])
    p.add_argument("replicas", type=int)
    p.set_defaults(func=cmd_scale)

    p = sub.add_parser("upgrade", help="re-render a running stack with more --set and reconcile")
    p.add_argument("run_id")
    _sets(p)
    p.set_defaults(func=cmd_upgrade)

    p = sub.add_parser("status", help="pods, readiness, workers of a run")
    p.add_argument("run_id")
    p.add_argument("--json", action="store_true")
    p.set_defaults(func=cmd_status)

    p = sub.add_parser("down", help="stop every process of a run (also after a crash)")
    p.add_argument("run_id")
    p.set_defaults(func=cmd_down)

    p = sub.add_parser("check", help="up + every expectation of the scenario + down")
    p.add_argument("scenario")
    p.add_argument("--backend", choices=BACKENDS, default="process")
    _sets(p)
    p.set_defaults(func=cmd_check)
