"""Two conformance reports -> every probe whose observed behaviour changed, each classified. Pure.

Classes:
  expected     the engine's expectation changed between the two runs' Istio versions, and the new run observed it
  regression   the new observation disagrees with what the engine expects for the new version
  fixed        the expectation did not change; the old run disagreed with it and the new run agrees
  inconclusive the new run could not observe the probe (exec/transport error), so nothing can be said
Also listed: predicted changes that did not happen (the engine's expectation changed, the observation did not).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from mtls_conformance.outcomes import Status

CLASSES = ("regression", "expected", "fixed", "inconclusive")


@dataclass(frozen=True)
class FactChange:
    id: str
    change: str  # "added" (holds only for the new version) or "removed" (only for the old one)
    kind: str
    says: str
    source: str

    def as_dict(self) -> dict[str, str]:
        return {"id": self.id, "change": self.change, "kind": self.kind, "says": self.says, "source": self.source}


@dataclass(frozen=True)
class ProbeChange:
    case: str
    probe: str
    old_observed: str
    new_observed: str
    old_expected: str
    new_expected: str
    old_status: str
    new_status: str
    classification: str  # one of CLASSES, or "missed" for predicted changes that were not observed
    reason: str
    rules: tuple[dict[str, str], ...] = ()  # the engine rules behind the new expectation that the old one lacked (or all)

    def as_dict(self) -> dict[str, Any]:
        return {
            "case": self.case, "probe": self.probe, "classification": self.classification, "reason": self.reason,
            "observed": {"old": self.old_observed, "new": self.new_observed},
            "expected": {"old": self.old_expected, "new": self.new_expected},
            "status": {"old": self.old_status, "new": self.new_status},
            "rules": list(self.rules),
        }


@dataclass(frozen=True)
class RunDiff:
    old: Mapping[str, Any]  # the report's run and mesh identity
    new: Mapping[str, Any]
    compared: int
    changes: tuple[ProbeChange, ...]
    missed: tuple[ProbeChange, ...]
    only_old: tuple[str, ...]
    only_new: tuple[str, ...]
    facts: tuple[FactChange, ...]
    counts: Mapping[str, int] = field(default_factory=dict)

    def as_dict(self) -> dict[str, Any]:
        return {
            "old": dict(self.old), "new": dict(self.new), "compared_probes": self.compared, "counts": dict(self.counts),
            "changes": [c.as_dict() for c in self.changes], "predicted_but_not_observed": [c.as_dict() for c in self.missed],
            "only_in_old": list(self.only_old), "only_in_new": list(self.only_new),
            "version_facts_changed": [f.as_dict() for f in self.facts],
        }


def fact_changes(old_facts: Sequence[Mapping[str, str]], new_facts: Sequence[Mapping[str, str]]) -> tuple[FactChange, ...]:
    old_by_id = {f["id"]: f for f in old_facts}
    new_by_id = {f["id"]: f for f in new_facts}
    changes = [FactChange(i, "added", f["kind"], f["says"], f["source"]) for i, f in new_by_id.items() if i not in old_by_id]
    changes += [FactChange(i, "removed", f["kind"], f["says"], f["source"]) for i, f in old_by_id.items() if i not in new_by_id]
    return tuple(sorted(changes, key=lambda c: c.id))


def _identity(doc: Mapping[str, Any]) -> dict[str, Any]:
    return {"run": doc["run"]["id"], "istio_version": doc["mesh"]["istio_version"], "profile": doc["mesh"]["profile"],
            "data_plane_mode": doc["mesh"]["data_plane_mode"], "synthetic": doc["run"]["synthetic"]}


def _rule_delta(old: Mapping[str, Any], new: Mapping[str, Any], table: Mapping[str, Mapping[str, str]]) -> tuple[dict[str, str], ...]:
    """The rules behind the new expectation that the old one did not use (all of them if none is new), with text and source."""
    old_ids = set(old["expected"]["rules"])
    ids = [i for i in new["expected"]["rules"] if i not in old_ids] or list(new["expected"]["rules"])
    return tuple({"id": i, "says": table.get(i, {}).get("says", ""), "source": table.get(i, {}).get("source", "")} for i in ids)


def _classify(old: Mapping[str, Any], new: Mapping[str, Any]) -> tuple[str, str]:
    oe, ne = old["expected"]["outcome"], new["expected"]["outcome"]
    no = new["observed"]["outcome"]
    if new["status"] == Status.ERROR:
        return "inconclusive", "the new run could not observe this probe; re-run it before drawing conclusions"
    if oe != ne:
        if new["status"] == Status.PASS:
            return "expected", f"the engine's expectation changed from {oe} to {ne} for this version, and the new run observed it"
        return "regression", f"the engine's expectation changed from {oe} to {ne}, but the new run observed {no}"
    if new["status"] == Status.PASS:
        before = "could not observe it" if old["status"] == Status.ERROR else "disagreed"
        return "fixed", f"the engine expects {ne} in both versions; the old run {before}, the new run agrees"
    return "regression", f"the engine expects {ne} in both versions; the new run observed {no}"


WHOLE_CASE = "(whole case)"  # the probe column of a check judged as a whole (certificate rotation)


def _check_changes(old_doc: Mapping[str, Any], new_doc: Mapping[str, Any]) -> list[ProbeChange]:
    """Whole-case checks: there is no engine outcome to compare, the check must pass in every version. A failing check
    in the new run is a regression (it fails the pre-upgrade gate); one that failed before and passes now is fixed."""
    old = {c["case"]: c for c in old_doc.get("checks", ())}
    changes = []
    for n in new_doc.get("checks", ()):
        o = old.get(n["case"])
        old_status = o["status"] if o else "absent"
        if n["status"] == Status.PASS and old_status in (Status.PASS, "absent"):
            continue
        if n["status"] == Status.PASS:
            cls, reason = "fixed", f"the {n['kind']} check failed in the old run and passes in the new one"
        elif n["status"] == Status.ERROR:
            cls, reason = "inconclusive", f"the {n['kind']} check could not be completed in the new run"
        else:
            cls = "regression"
            reason = f"the {n['kind']} check fails in the new run: " + "; ".join(n["problems"][:3])
        changes.append(ProbeChange(case=n["case"], probe=WHOLE_CASE, old_observed=old_status, new_observed=n["status"],
                                   old_expected="pass", new_expected="pass", old_status=old_status, new_status=n["status"],
                                   classification=cls, reason=reason))
    return changes


def diff_reports(old_doc: Mapping[str, Any], new_doc: Mapping[str, Any]) -> RunDiff:
    old = {(r["case"], r["probe"]): r for r in old_doc["results"]}
    new = {(r["case"], r["probe"]): r for r in new_doc["results"]}
    changes: list[ProbeChange] = []
    missed: list[ProbeChange] = []
    common = [k for k in new if k in old]
    for key in common:
        o, n = old[key], new[key]
        observed_changed = o["observed"]["outcome"] != n["observed"]["outcome"]
        expected_changed = o["expected"]["outcome"] != n["expected"]["outcome"]
        if not observed_changed and not expected_changed:
            continue
        if observed_changed:
            cls, reason = _classify(o, n)
        else:
            cls = "missed"
            reason = (f"the engine's expectation changed from {o['expected']['outcome']} to {n['expected']['outcome']}, "
                      f"but both runs observed {n['observed']['outcome']}")
        change = ProbeChange(
            case=key[0], probe=key[1], old_observed=o["observed"]["outcome"], new_observed=n["observed"]["outcome"],
            old_expected=o["expected"]["outcome"], new_expected=n["expected"]["outcome"], old_status=o["status"],
            new_status=n["status"], classification=cls, reason=reason,
            rules=_rule_delta(o, n, new_doc["rules"]) if expected_changed or cls == "regression" else (),
        )
        (changes if observed_changed else missed).append(change)
    changes += _check_changes(old_doc, new_doc)
    order = {c: i for i, c in enumerate(CLASSES)}
    changes.sort(key=lambda c: (order[c.classification], c.case, c.probe))
    counts = {c: sum(1 for ch in changes if ch.classification == c) for c in CLASSES}
    counts["predicted_but_not_observed"] = len(missed)
    return RunDiff(
        old=_identity(old_doc), new=_identity(new_doc), compared=len(common), changes=tuple(changes), missed=tuple(missed),
        only_old=tuple(sorted({k[0] + " " + k[1] for k in old if k not in new})),
        only_new=tuple(sorted({k[0] + " " + k[1] for k in new if k not in old})),
        facts=fact_changes(old_doc["version_facts"], new_doc["version_facts"]), counts=counts,
    )
