"""What the engine predicts will change between two Istio versions, without a cluster. Pure.

The engine runs on the same cases for both versions (the standard profile's plan, or the user's scenario
files); every probe whose expected outcome or reasoning differs is listed, and so are the version facts
(with their sources) that hold for one version and not the other.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import mtls_conformance
from mtls_conformance import plan as plan_package
from mtls_conformance.engine import expect_all
from mtls_conformance.errors import InputError
from mtls_conformance.outcomes import Outcome
from mtls_conformance.report.diff import FactChange
from mtls_conformance.scenario import load_scenario
from mtls_conformance.scenario.model import Scenario
from mtls_conformance.versions import IstioVersion, VersionFact, catalog

DEFAULT_PROFILE = "standard"


@dataclass(frozen=True)
class PredictedChange:
    case: str
    probe: str
    old_outcome: Outcome
    new_outcome: Outcome
    old_rules: tuple[str, ...]
    new_rules: tuple[str, ...]
    new_steps: tuple[tuple[str, str, str], ...]  # (rule id, detail, source) of the new version's reasoning

    @property
    def outcome_changed(self) -> bool:
        return self.old_outcome != self.new_outcome

    def as_dict(self) -> dict[str, Any]:
        return {
            "case": self.case, "probe": self.probe, "outcome_changed": self.outcome_changed,
            "outcome": {"old": self.old_outcome.value, "new": self.new_outcome.value},
            "rules": {"old": list(self.old_rules), "new": list(self.new_rules)},
            "explanation": [{"rule": r, "detail": d, "source": s} for r, d, s in self.new_steps],
        }


@dataclass(frozen=True)
class Prediction:
    old: IstioVersion
    new: IstioVersion
    source: str  # where the cases came from
    cases: int
    probes: int
    changes: tuple[PredictedChange, ...]
    only_old: tuple[str, ...]  # cases the planner offers for the old version only (feature gating)
    only_new: tuple[str, ...]
    facts_compared: tuple[tuple[VersionFact, bool, bool], ...]  # fact, holds for old, holds for new
    fact_changes: tuple[FactChange, ...]

    def as_dict(self) -> dict[str, Any]:
        return {
            "old": str(self.old), "new": str(self.new), "cases_from": self.source, "cases": self.cases, "probes": self.probes,
            "behaviour_changes": sum(1 for c in self.changes if c.outcome_changed),
            "reasoning_changes": sum(1 for c in self.changes if not c.outcome_changed),
            "changes": [c.as_dict() for c in self.changes],
            "cases_only_old": list(self.only_old), "cases_only_new": list(self.only_new),
            "version_facts_changed": [f.as_dict() for f in self.fact_changes],
            "version_facts_compared": [
                {"id": f.id, "kind": f.kind, "says": f.says, "source": f.source, "holds_old": a, "holds_new": b}
                for f, a, b in self.facts_compared
            ],
        }


NamedScenarios = Sequence[tuple[str, Scenario]]


def _scenario_dirs() -> list[Path]:
    project = Path(mtls_conformance.__file__).resolve().parents[1]
    return [project / "tests" / "scenarios", Path.cwd() / "tests" / "scenarios"]


def standard_cases(version: IstioVersion) -> tuple[str, NamedScenarios]:
    """The standard profile's cases from the planner; before the planner exists, the scenario files under tests/scenarios."""
    build_plan: Callable[[str, IstioVersion], Any] | None = getattr(plan_package, "build_plan", None)
    if build_plan is not None:
        plan = build_plan(DEFAULT_PROFILE, version)
        return f"the {DEFAULT_PROFILE} profile", [(c.id, c.scenario) for c in plan.cases]
    for directory in _scenario_dirs():
        files = sorted(directory.rglob("*.yaml")) if directory.is_dir() else []
        named, others = [], []
        for f in files:
            try:
                named.append((str(f.relative_to(directory)), load_scenario(f)))
            except InputError:
                others.append(f.name)  # data files beside the scenarios (e.g. expected tables)
        if named:
            note = f" ({len(others)} other YAML files ignored: {', '.join(others)})" if others else ""
            return f"the scenario files under {directory}{note}", named
    return "no cases (neither the planner nor tests/scenarios is available)", []


def scenario_files(paths: Iterable[str | Path]) -> NamedScenarios:
    named = []
    for p in paths:
        scenario = load_scenario(p)  # InputError (one line) on a bad file
        named.append((str(p), scenario))
    return named


def _fact_rows(old: IstioVersion, new: IstioVersion) -> tuple[tuple[VersionFact, bool, bool], ...]:
    return tuple((f, f.holds_for(old), f.holds_for(new)) for f in catalog().facts)


def ensure_distinct(old: IstioVersion, new: IstioVersion) -> None:
    if old.line() == new.line():
        raise InputError("diff --expected", f"both versions are on the {old.minor_line} line",
                         "give two different minor versions, e.g. --expected 1.29 1.30")


def predict(old: IstioVersion, new: IstioVersion, old_cases: NamedScenarios, new_cases: NamedScenarios, source: str) -> Prediction:
    ensure_distinct(old, new)
    changes: list[PredictedChange] = []
    probes = 0
    before_by_id = dict(old_cases)
    common = [(case_id, before_by_id[case_id], scenario) for case_id, scenario in new_cases if case_id in before_by_id]
    for case_id, old_scenario, scenario in common:
        old_by_probe = {e.probe.id: e for e in expect_all(old_scenario, old)}
        for after in expect_all(scenario, new):
            before = old_by_probe.get(after.probe.id)
            if before is None:
                continue  # a probe the old version's case does not make: nothing to compare
            probes += 1
            old_rules = tuple(r.id for r in before.rules)
            new_rules = tuple(r.id for r in after.rules)
            if before.outcome is after.outcome and old_rules == new_rules:
                continue
            changes.append(PredictedChange(
                case=case_id, probe=after.probe.id, old_outcome=before.outcome, new_outcome=after.outcome,
                old_rules=old_rules, new_rules=new_rules,
                new_steps=tuple((s.rule.id, s.detail, s.rule.source) for s in after.steps),
            ))
    rows = _fact_rows(old, new)
    fact_changes = tuple(
        FactChange(f.id, "added" if b else "removed", f.kind, f.says, f.source) for f, a, b in rows if a != b
    )
    new_ids = {case_id for case_id, _ in new_cases}
    return Prediction(
        old, new, source, len(common), probes, tuple(changes),
        only_old=tuple(sorted(set(before_by_id) - new_ids)), only_new=tuple(sorted(new_ids - set(before_by_id))),
        facts_compared=rows, fact_changes=fact_changes,
    )
