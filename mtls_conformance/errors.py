"""Errors users can fix. Each renders as one line: what is wrong, where, and how to fix it."""

from __future__ import annotations


class InputError(Exception):
    """Bad user input (scenario file, flag, version). The CLI prints it as one line and exits 2."""

    def __init__(self, where: str, problem: str, fix: str) -> None:
        self.where = where
        self.problem = problem
        self.fix = fix
        super().__init__(self.one_line())

    def one_line(self) -> str:
        text = f"{self.where}: {self.problem}"
        if self.fix:
            text += f"; fix: {self.fix}"
        return " ".join(text.split())


class WaitTimeout(Exception):
    """A bounded wait ran out. ``evidence`` carries what was last seen (config dump excerpt, proxy status, outcomes).

    Defined here (not in the executor) so the run loop can tell a phase that never converged from a bug, without
    importing the executor."""

    def __init__(self, what: str, waited_s: float, evidence: str = "") -> None:
        self.what = what
        self.waited_s = waited_s
        self.evidence = evidence
        text = f"timed out after {waited_s:.1f}s waiting for {what}"
        if evidence:
            text += "\n" + evidence
        super().__init__(text)
