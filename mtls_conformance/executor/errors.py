"""Errors of the harness: a missing prerequisite, a failed tool, a wait that ran out."""

from __future__ import annotations

from collections.abc import Sequence

from mtls_conformance.errors import InputError, WaitTimeout

__all__ = ["CommandError", "HarnessError", "WaitTimeout"]


class HarnessError(InputError):
    """Something on the user's machine or cluster stops the run (no Docker, a download failed, a checksum mismatch).

    It renders as one line naming what is missing and how to fix it, like an input error, so the CLI and the pytest
    plugin can report it without a traceback.
    """


class CommandError(HarnessError):
    """A tool exited non-zero. Keeps the command line and its output (pytest-kind-ng's KindToolError does the same)."""

    def __init__(self, argv: Sequence[str], returncode: int, stdout: str, stderr: str, fix: str = "") -> None:
        self.argv = tuple(argv)
        self.returncode = returncode
        self.stdout = stdout
        self.stderr = stderr
        last = (stderr.strip() or stdout.strip()).splitlines()[-1:] or ["no output"]
        super().__init__(" ".join(self.argv[:3]), f"exited {returncode}: {last[0][:300]}",
                         fix or "run the command by hand to see its full output")
