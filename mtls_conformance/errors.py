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
