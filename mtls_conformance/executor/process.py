"""Running external commands behind a small interface, so tool logic is tested with a fake runner."""

from __future__ import annotations

import os
import shlex
import subprocess
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Protocol

from mtls_conformance.executor.errors import CommandError, HarnessError


@dataclass(frozen=True)
class CommandResult:
    argv: tuple[str, ...]
    returncode: int
    stdout: str
    stderr: str

    @property
    def ok(self) -> bool:
        return self.returncode == 0

    def check(self, fix: str = "") -> CommandResult:
        if self.returncode != 0:
            raise CommandError(self.argv, self.returncode, self.stdout, self.stderr, fix)
        return self


class CommandRunner(Protocol):
    def run(self, argv: Sequence[str], *, env: Mapping[str, str] | None = None, timeout: float | None = None,
            stream: bool = False) -> CommandResult:
        """Run ``argv``; ``env`` adds to the current environment; ``stream`` shows output live (long work)."""
        ...


class SubprocessRunner:
    """The real runner. A missing executable and a timeout become results, not exceptions, except where noted."""

    def run(self, argv: Sequence[str], *, env: Mapping[str, str] | None = None, timeout: float | None = None,
            stream: bool = False) -> CommandResult:
        full_env = {**os.environ, **(env or {})}
        args = tuple(argv)
        try:
            if stream:
                # Long work (cluster create, helm install): let the user see progress; keep stderr for errors.
                proc = subprocess.run(args, env=full_env, timeout=timeout, check=False, stdout=None,
                                      stderr=subprocess.PIPE, text=True)
                return CommandResult(args, proc.returncode, "", proc.stderr or "")
            proc = subprocess.run(args, env=full_env, timeout=timeout, check=False, capture_output=True, text=True)
            return CommandResult(args, proc.returncode, proc.stdout, proc.stderr)
        except FileNotFoundError:
            return CommandResult(args, 127, "", f"{args[0]}: command not found")
        except subprocess.TimeoutExpired:
            return CommandResult(args, 124, "", f"timed out after {timeout}s: {shlex.join(args)}")
        except PermissionError as exc:
            raise HarnessError(args[0], f"cannot execute ({exc.strerror})", f"check the file's permissions: chmod +x {args[0]}") from None
