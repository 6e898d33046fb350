"""`python -m simulator`: render the chart, bring the stack up, check it.

Each subcommand is a small function taking the parsed arguments and returning an exit code;
progress goes to stderr, results to stdout.
"""
from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence

from simulator import render as rendering


def _add_values_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("-f", "--values", dest="values_files", action="append", default=[],
                   metavar="FILE", help="values file (repeatable, later files win)")
    p.add_argument("--set", dest="set_values", action="append", default=[], metavar="K=V",
                   help="set a value like helm --set (repeatable)")
    p.add_argument("--set-string", dest="set_string_values", action="append", default=[],
                   metavar="K=V", help="set a string value like helm --set-string")


def cmd_render(args: argparse.Namespace) -> int:
    """Print the manifests like `helm template`; errors to stderr, exit 1."""
    try:
        result = rendering.render(args.chart, args.values_files, args.set_values,
                                  set_string_values=args.set_string_values,
                                  release=args.release, namespace=args.namespace,
                                  kube_version=args.kube_version, openshift=args.openshift,
                                  api_versions=args.api_versions,
                                  validate=not args.skip_validation)
    except rendering.RenderError as exc:
        print(f"Error: {exc}", file=sys.stderr)
        return 1
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


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m simulator", description=__doc__.split("\n")[0])
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    p = sub.add_parser("render", help="render the chart like `helm template`, validated")
    _add_values_args(p)
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

    from simulator import sim_cli  # the stack subcommands (simulator engineer)
    sim_cli.add_commands(sub)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    return int(args.func(args))


if __name__ == "__main__":
    sys.exit(main())
