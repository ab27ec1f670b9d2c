"""Progress of a run, from the plan and the checks judged so far: phase k/N, checks done/total, failures, an ETA.

Pure bookkeeping: the pytest adapter feeds it each finished check (in the process that sees every report, so it is
right under xdist too) and prints ``line()``; ``snapshot()`` is what ``results/<run>/progress.json`` holds.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from mtls_conformance.plan.model import Plan


def _duration(seconds: float) -> str:
    seconds = max(0, round(seconds))
    if seconds < 60:
        return f"{seconds}s"
    minutes, seconds = divmod(seconds, 60)
    if minutes < 60:
        return f"{minutes}m{seconds:02d}s"
    hours, minutes = divmod(minutes, 60)
    return f"{hours}h{minutes:02d}m"


@dataclass
class Progress:
    plan: Plan
    started: float  # monotonic seconds when the first check began
    total: int = 0  # checks selected for this run (probes, plus one per isolated case)
    done: int = 0
    failed: int = 0
    skipped: int = 0
    phase: str = ""  # what the latest finished check belonged to, as shown
    _last_shown_phase: str = ""
    _last_shown_fraction: float = 0.0
    _last_written: float = field(default=-1.0)

    def where(self, case_id: str) -> str:
        phase = self.plan.phase_of(case_id)
        if phase is not None:
            return f"phase {phase.number}/{len(self.plan.phases)} {phase.name}"
        return "isolated (rotation)" if case_id not in self.plan.skipped else "skipped by the plan"

    def finished(self, case_id: str, outcome: str) -> None:
        """A check ended: ``outcome`` is pytest's passed / failed / skipped."""
        self.done += 1
        self.failed += outcome == "failed"
        self.skipped += outcome == "skipped"
        self.phase = self.where(case_id)

    def eta_s(self, now: float) -> float | None:
        ran = self.done - self.skipped
        if ran <= 0 or self.done >= self.total:
            return None
        return (now - self.started) / max(1, self.done) * (self.total - self.done)

    def line(self, now: float) -> str:
        eta = self.eta_s(now)
        parts = [f"mtls-conformance: {self.phase}", f"checks {self.done}/{self.total}",
                 f"{self.failed} failed" if self.failed else "no failures", f"elapsed {_duration(now - self.started)}"]
        if eta is not None:
            parts.append(f"ETA {_duration(eta)}")
        return " · ".join(parts)

    def worth_showing(self) -> bool:
        """Show a line when the phase changes and at every tenth of the run (never per check: the run stays readable)."""
        fraction = self.done / self.total if self.total else 1.0
        if self.phase != self._last_shown_phase or fraction >= self._last_shown_fraction + 0.1 or self.done == self.total:
            self._last_shown_phase, self._last_shown_fraction = self.phase, fraction
            return True
        return False

    def worth_writing(self, now: float) -> bool:
        """progress.json at most once a second (and at the end)."""
        if now - self._last_written >= 1.0 or self.done == self.total:
            self._last_written = now
            return True
        return False

    def snapshot(self, now: float) -> dict[str, Any]:
        return {"phase": self.phase, "phases": len(self.plan.phases), "done": self.done, "total": self.total,
                "failed": self.failed, "skipped": self.skipped, "elapsed_s": round(now - self.started, 1),
                "eta_s": None if (eta := self.eta_s(now)) is None else round(eta, 1)}
