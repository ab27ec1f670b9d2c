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

# One example per command: the epilog of its --help (unless the command writes its own) and of the top-level --help.
EXAMPLES = {
    "expect": "mtls-conformance expect my-bug.yaml --istio-version 1.30",
    "explain": "mtls-conformance explain my-bug.yaml --from legacy/curl --to foo/httpbin --port 8000",
    "plan": "mtls-conformance plan --profile standard",
    "render": "mtls-conformance render --profile smoke --out rendered/",
    "diff": "mtls-conformance diff --expected 1.29 1.30",
    "report": "mtls-conformance report results/<run-id>",
}

DESCRIPTION = """\
Prove what Istio's mutual TLS really does. Every command works offline (no cluster needed); to test a real mesh, \
run the pytest suites (see the last example)."""

EPILOG = (
    "examples:\n"
    + "".join(f"  {example}\n" for example in EXAMPLES.values())
    + "  pytest suites --istio-version 1.30 --profile smoke    # on a cluster (see README)\n\n"
    "Run 'mtls-conformance COMMAND --help' for a command's options."
)


def plural(count: int, word: str, many: str | None = None) -> str:
    """``1 probe``, ``2 probes`` (``many`` for irregular plurals)."""
    return f"{count} {word if count == 1 else (many or word + 's')}"


class _Formatter(argparse.HelpFormatter):
    """Wraps prose paragraphs to the terminal; keeps paragraphs with indented lines (examples) exactly as written."""

    def _fill_text(self, text: str, width: int, indent: str) -> str:
        paragraphs = []
        for para in text.strip("\n").split("\n\n"):
            lines = para.splitlines()
            if any(line.startswith(" ") for line in lines):
                paragraphs.append("\n".join(indent + line for line in lines))
            else:
                paragraphs.append(super()._fill_text(para, width, indent))
        return "\n\n".join(paragraphs)


class _Parser(argparse.ArgumentParser):
    """argparse that reports bad flags in one line with exit status 2."""

    def error(self, message: str) -> NoReturn:
        self.exit(2, f"{self.prog}: error: {message}; see '{self.prog} --help'\n")


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(prog="mtls-conformance", description=DESCRIPTION, epilog=EPILOG, formatter_class=_Formatter)
    from mtls_conformance import __version__

    parser.add_argument("--version", action="version", version=f"mtls-conformance {__version__}")
    sub = parser.add_subparsers(title="commands", dest="command", metavar="COMMAND", parser_class=_Parser)
    for name in COMMANDS:
        try:
            module = importlib.import_module(f"mtls_conformance.cli.{name}")
        except ModuleNotFoundError as exc:
            if exc.name == f"mtls_conformance.cli.{name}":
                continue  # command not built yet
            raise
        module.register(sub)
    for name, command in sub.choices.items():
        command.formatter_class = _Formatter
        if command.epilog is None and name in EXAMPLES:
            command.epilog = f"example:\n  {EXAMPLES[name]}"
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
