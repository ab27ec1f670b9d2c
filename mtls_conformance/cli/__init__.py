"""The ``mtls-conformance`` command. Each subcommand lives in its own module with ``register(subparsers)``."""

from __future__ import annotations

import argparse
import importlib
import sys
from collections.abc import Sequence
from typing import NoReturn

from mtls_conformance.errors import InputError

# Subcommand modules, in the order --help lists them.
COMMANDS = ("expect", "explain", "plan", "render", "diff", "report")

DESCRIPTION = """\
Prove what Istio's mutual TLS really does.

Offline (no cluster needed):
  expect    what Istio must do for every probe of a scenario file, with the rules and sources
  explain   the reasoning for one probe, step by step
  plan      the conformance matrix of a profile as phases, with counts
  render    every phase of a profile as plain Kubernetes/Istio YAML
  diff      what changed between two conformance reports, or what the engine predicts between versions
  report    re-render the HTML/JSON report of a results directory

On a cluster, run the pytest suites (see README):
  pytest suites --istio-version 1.30 --profile smoke
"""


class _Parser(argparse.ArgumentParser):
    """argparse that reports bad flags in one line with exit status 2."""

    def error(self, message: str) -> NoReturn:
        self.exit(2, f"{self.prog}: error: {message}; see '{self.prog} --help'\n")


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(prog="mtls-conformance", description=DESCRIPTION, formatter_class=argparse.RawDescriptionHelpFormatter)
    from mtls_conformance import __version__

    parser.add_argument("--version", action="version", version=f"mtls-conformance {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", parser_class=_Parser)
    for name in COMMANDS:
        try:
            module = importlib.import_module(f"mtls_conformance.cli.{name}")
        except ModuleNotFoundError as exc:
            if exc.name == f"mtls_conformance.cli.{name}":
                continue  # command not built yet
            raise
        module.register(sub)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if not getattr(args, "handler", None):
        parser.print_help()
        return 2
    try:
        return int(args.handler(args))
    except InputError as exc:
        print(f"mtls-conformance: error: {exc.one_line()}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("mtls-conformance: interrupted", file=sys.stderr)
        return 130
    except BrokenPipeError:
        return 0


if __name__ == "__main__":
    sys.exit(main())
