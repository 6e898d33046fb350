"""`python -m simulator`: render the chart, bring a scenario's stack up on a backend, check it.

Every command is a small function taking the parsed arguments and returning an exit code.
Progress goes to stderr as things start; stdout carries only results (``--json``: ONE object).
Client secrets reach stdout only with ``up --json`` and never a log.

Errors are handled in one place, ``main()``: a user's mistake (a bad value, an unknown run, a
backend that cannot run here) prints one ``Error:`` line and exits 1 (2 for usage and missing
tools); anything else is a bug and keeps its traceback.

Exit codes: 0 done; 1 failed (a check, a bad value, a run that does not start); 2 usage or a
backend that cannot run on this machine; 130 interrupted.
"""
from __future__ import annotations

import argparse
import json
import signal
import sys
from collections.abc import Callable, Sequence
from typing import Any

from simulator import render as rendering
from simulator.backends import BACKENDS, DEFAULT_BACKEND, BackendUnavailable
from simulator.images import ImageError
from simulator.run import RunError
from simulator.scenarios import ScenarioError
from simulator.topology import TopologyError

# What a user (or the machine) got wrong: one line that says what to do, no traceback. A pod
# that never gets ready is a RunError too (ReadinessError: the probe, the log tail, a hint).
USER_ERRORS = (RunError, ScenarioError, rendering.RenderError, TopologyError, ImageError)


class CheckFailed(Exception):
    """A check ran and found something wrong (already reported): exit 1, nothing more."""


# ------------------------------------------------------------------ shared flags
def _values_flags(p: argparse.ArgumentParser) -> None:
    p.add_argument("-f", "--values", dest="values_files", action="append", default=[],
                   metavar="FILE", help="values file (repeatable, later files win)")
    p.add_argument("--set", dest="set_values", action="append", default=[], metavar="K=V",
                   help="set a value like helm --set (repeatable)")
    p.add_argument("--set-string", dest="set_string_values", action="append", default=[],
                   metavar="K=V", help="set a string value like helm --set-string (repeatable)")


def _backend_flag(p: argparse.ArgumentParser) -> None:
    p.add_argument("--backend", choices=BACKENDS, default=DEFAULT_BACKEND,
                   help=f"where the pods run (default {DEFAULT_BACKEND})")


def _sigterm_as_interrupt() -> None:
    """Teardown on failure must also run when we are told to stop (tox, CI cancel)."""
    def handler(signum: int, _frame: Any) -> None:
        raise KeyboardInterrupt(f"signal {signum}")
    signal.signal(signal.SIGTERM, handler)


# ------------------------------------------------------------------ render, lint
def cmd_render(args: argparse.Namespace) -> int:
    """Print the manifests like `helm template`."""
    result = rendering.render(args.chart, args.values_files, args.set_values,
                              set_string_values=args.set_string_values,
                              set_json_values=args.set_json_values,
                              set_file_values=args.set_file_values,
                              release=args.release, namespace=args.namespace,
                              kube_version=args.kube_version, openshift=args.openshift,
                              api_versions=args.api_versions,
                              validate=not args.skip_validation)
    sys.stdout.write(result.to_yaml())
    if args.show_notes and result.notes:
        print(f"\nNOTES:\n{result.notes}", file=sys.stderr)
    return 0


def cmd_lint(args: argparse.Namespace) -> int:
    """Lint the umbrella and each subchart (helm's with_subcharts does not reach them)."""
    findings = rendering.lint(args.chart, kube_version=args.kube_version)
    for line in findings:
        print(line, file=sys.stderr)
    print(f"linted {args.chart}: {len(findings)} finding(s)", file=sys.stderr)
    return 1 if findings else 0


# ------------------------------------------------------------------ the stack commands
def _new_stack(args: argparse.Namespace):
    from simulator.scenarios import load
    from simulator.stack import Stack
    scenario = load(args.scenario)
    stack = Stack.create(scenario, args.set_values, args.backend,
                         values_files=args.values_files,
                         set_string_values=args.set_string_values,
                         dry_run=getattr(args, "dry_run", False))
    return scenario, stack


def _load(run_id: str):
    from simulator.stack import Stack
    return Stack.load(run_id)


def _up_payload(stack) -> dict[str, Any]:
    out = stack.outputs()
    out["backend"] = stack.state.backend
    out["clients"] = [{"id": c.id, "secret": c.secret, "scopes": c.scopes.split(),
                       "kind": c.kind} for c in stack.clients()] if "api_url" in out else []
    out["not_honored"] = stack.state.notes
    return out


def _with_teardown(stack, body: Callable[[], int]) -> int:
    """Run ``body``; on failure or interrupt tear the run down before the error goes on."""
    _sigterm_as_interrupt()
    try:
        return body()
    except BaseException as exc:
        print(f"{type(exc).__name__}: {exc}\ncleaning up run {stack.state.run_id}",
              file=sys.stderr)
        stack.down()
        raise


def cmd_up(args: argparse.Namespace) -> int:
    from simulator import report
    _, stack = _new_stack(args)

    def body() -> int:
        stack.up()
        return 0

    _with_teardown(stack, body)
    if stack.dry_run:
        print(f"# dry run: nothing was started; `python -m simulator down "
              f"{stack.state.run_id}` prints the teardown", file=sys.stderr)
        return 0
    report.summary(stack, sys.stderr)
    if args.json:
        print(json.dumps(_up_payload(stack)))
    else:
        print(stack.state.run_id)
        print(f"(stop it with: python -m simulator down {stack.state.run_id})", file=sys.stderr)
    return 0


def _reconcile(stack, change: Callable[[], Any]) -> int:
    from simulator import report
    result = change()
    report.summary(stack, sys.stderr)
    print(json.dumps({"started": result.started, "stopped": result.stopped,
                      "kept": result.kept}))
    return 0


def _extra_values(stack, args: argparse.Namespace) -> None:
    """-f and --set-string given to scale/upgrade join the run's values for good."""
    stack.state.values_files += [f for f in args.values_files
                                 if f not in stack.state.values_files]
    stack.state.set_string_values += args.set_string_values


def cmd_scale(args: argparse.Namespace) -> int:
    stack = _load(args.run_id)
    _extra_values(stack, args)
    changed = bool(args.values_files or args.set_string_values)  # read again: render
    return _reconcile(stack, lambda: stack.scale(args.what, args.replicas, args.set_values,
                                                 rerender=changed))


def cmd_upgrade(args: argparse.Namespace) -> int:
    stack = _load(args.run_id)
    _extra_values(stack, args)
    return _reconcile(stack, lambda: stack.upgrade(args.set_values))


def cmd_status(args: argparse.Namespace) -> int:
    from simulator import report
    from simulator.stack import status
    stack = _load(args.run_id)
    if args.json:
        print(json.dumps(status(stack), default=str))
    else:
        report.summary(stack, sys.stdout)
    return 0


def cmd_down(args: argparse.Namespace) -> int:
    left = _load(args.run_id).down()
    if left:
        raise RunError(f"still running after down: {left}")
    return 0


def cmd_check(args: argparse.Namespace) -> int:
    """up + every expectation + down (down also on failure and Ctrl-C); 1 on any failure."""
    from simulator.check import check_scenario
    from simulator.scenarios import load
    _sigterm_as_interrupt()
    result = check_scenario(load(args.scenario), args.backend, args.set_values,
                            values_files=args.values_files,
                            set_string_values=args.set_string_values)
    if not result.passed:
        raise CheckFailed()
    return 0


def cmd_chaos(args: argparse.Namespace) -> int:
    """One fault by hand on a live run (the actions of a scenario's `faults:`), then wait until
    the component answers again; a summary (what, PID/container, when it answered) to stdout."""
    from simulator import faults
    stack = _load(args.run_id)
    if args.action == "scale":
        if len(args.target) != 2 or args.target[0] != "workers" or not args.target[1].isdigit():
            raise RunError("chaos scale: write `chaos RUN_ID scale workers N`")
        stack.progress(f"chaos: scaling workers to {args.target[1]}")
        action = faults.scale(stack, int(args.target[1]))
    else:
        if len(args.target) != 1:
            raise RunError(f"chaos {args.action}: give one of master, api, oauth, worker, "
                           f"worker[N]")
        pod = faults.resolve(stack, args.target[0])
        stack.progress(f"chaos: {args.action} {pod}")
        action = (faults.kill if args.action == "kill" else faults.restart)(stack, pod)
    stack.progress(f"chaos: {action.verb} {action.target} ({action.detail}) at {action.wall} "
                   f"UTC; waiting up to {args.wait:g}s for it to answer again")
    faults.recovered(stack, action, args.wait, stack.progress)
    summary = action.summary()
    stack.progress("chaos: " + (f"{action.target} answered again after "
                                f"{action.recovered_after:.1f}s" if action.recovered_after
                                is not None else f"{action.target} did NOT answer within "
                                                 f"{args.wait:g}s") + f" ({action.recovery})")
    print(json.dumps(summary))
    return 0 if action.recovered_after is not None else 1


# ------------------------------------------------------------------ parser and main
def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m simulator",
                                     description=__doc__.split("\n")[0],
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    p = sub.add_parser("render", help="render the chart like `helm template`, validated")
    _values_flags(p)
    p.add_argument("--set-json", dest="set_json_values", action="append", default=[],
                   metavar="K=JSON", help="set a JSON value like helm --set-json (repeatable)")
    p.add_argument("--set-file", dest="set_file_values", action="append", default=[],
                   metavar="K=PATH", help="set a value from a file like helm --set-file")
    p.add_argument("--chart", default=str(rendering.CHART_DIR), help="chart directory")
    p.add_argument("--release", default="release", help="release name")
    p.add_argument("--namespace", default=rendering.DEFAULT_NAMESPACE)
    p.add_argument("--kube-version", default=rendering.DEFAULT_KUBE_VERSION)
    p.add_argument("--openshift", action="store_true",
                   help="render as on OpenShift (Route and SCC APIs present)")
    p.add_argument("--api-versions", action="append", default=[], metavar="GROUP/VERSION[/KIND]",
                   help="extra API versions the cluster serves (repeatable)")
    p.add_argument("--skip-validation", action="store_true",
                   help="print the manifests even if they fail strict schema validation")
    p.add_argument("--show-notes", action="store_true", help="print NOTES.txt to stderr")
    p.set_defaults(func=cmd_render)

    p = sub.add_parser("lint", help="lint the umbrella chart and each subchart")
    p.add_argument("--chart", default=str(rendering.CHART_DIR))
    p.add_argument("--kube-version", default=rendering.DEFAULT_KUBE_VERSION)
    p.set_defaults(func=cmd_lint)

    p = sub.add_parser("up", help="bring a scenario's stack up and leave it running")
    p.add_argument("scenario", help="scenario name (scenarios/NAME.yaml) or a .yaml path")
    _backend_flag(p)
    _values_flags(p)
    p.add_argument("--json", action="store_true",
                   help="print ONE JSON object (run_id, URLs, clients with secrets) to stdout")
    p.add_argument("--dry-run", action="store_true",
                   help="kind backend: print every command (kind, docker, helm, kubectl) and "
                        "the values files instead of running them")
    p.set_defaults(func=cmd_up)

    p = sub.add_parser("check", help="up + every expectation of the scenario + down")
    p.add_argument("scenario")
    _backend_flag(p)
    _values_flags(p)
    p.set_defaults(func=cmd_check)

    p = sub.add_parser("scale", help="scale a running stack (re-render + reconcile)")
    p.add_argument("run_id")
    p.add_argument("what", choices=["workers", "api"])
    p.add_argument("replicas", type=int)
    _values_flags(p)
    p.set_defaults(func=cmd_scale)

    p = sub.add_parser("upgrade", help="re-render a running stack with more values, reconcile")
    p.add_argument("run_id")
    _values_flags(p)
    p.set_defaults(func=cmd_upgrade)

    p = sub.add_parser("status", help="pods, readiness, workers of a run")
    p.add_argument("run_id")
    p.add_argument("--json", action="store_true")
    p.set_defaults(func=cmd_status)

    p = sub.add_parser("chaos", help="a fault by hand on a live run: kill master|api|oauth|"
                                     "worker[N], restart one, or scale workers N",
                       description="kill (SIGKILL) or restart a component of a live run, or "
                                   "scale its workers; then wait until it answers again and "
                                   "print what was done as one JSON object")
    p.add_argument("run_id")
    p.add_argument("action", choices=["kill", "restart", "scale"])
    p.add_argument("target", nargs="+", metavar="TARGET",
                   help="master | api | oauth | worker | worker[N]; for scale: workers N")
    p.add_argument("--wait", type=float, default=120, metavar="SECONDS",
                   help="how long to wait for it to answer again (default 120)")
    p.set_defaults(func=cmd_chaos)

    p = sub.add_parser("down", help="remove everything of a run (also after a crash)")
    p.add_argument("run_id")
    p.set_defaults(func=cmd_down)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """The one error boundary of the CLI."""
    args = build_parser().parse_args(argv)
    try:
        return int(args.func(args))
    except CheckFailed:
        return 1
    except BackendUnavailable as exc:
        print(f"Error: {exc}", file=sys.stderr)
        return 2
    except USER_ERRORS as exc:
        print(f"Error: {exc}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
