"""Version gates: whether a case can run on an Istio version (a ``requires_istio`` range or a feature named after a
version fact that does not hold). Decided in the plan, so a gated case is skipped with its reason before any apply."""

from __future__ import annotations

import re
from collections.abc import Iterable

from mtls_conformance.errors import InputError
from mtls_conformance.versions import IstioVersion, VersionFact, catalog, parse_version

_CLAUSE = re.compile(r"^\s*(>=|<=|==|!=|>|<)\s*(\S+)\s*$")


def version_matches(spec: str, version: IstioVersion, where: str = "requires_istio") -> bool:
    """True when the version's minor line satisfies every comma-separated clause of ``spec``."""
    line = version.line()
    for clause in spec.split(","):
        m = _CLAUSE.match(clause)
        if not m:
            raise InputError(where, f"{clause.strip()!r} is not a version clause", "write e.g. '>=1.28' or '>=1.26,<1.31'")
        op, bound = m.group(1), parse_version(m.group(2), where).line()
        ok = {">=": line >= bound, "<=": line <= bound, "==": line == bound, "!=": line != bound,
              ">": line > bound, "<": line < bound}[op]
        if not ok:
            return False
    return True


def missing_facts(features: Iterable[str], version: IstioVersion) -> tuple[VersionFact, ...]:
    """Features named after a catalog fact that does not hold for ``version``."""
    facts = {f.id: f for f in catalog().facts}
    return tuple(facts[f] for f in features if f in facts and not facts[f].holds_for(version))


def gate_reason(features: Iterable[str], requires: str | None, version: IstioVersion) -> str | None:
    """Why a case cannot run on ``version`` (None when it can)."""
    if requires and not version_matches(requires, version):
        return f"needs Istio {requires}; this run uses {version}"
    lacking = missing_facts(features, version)
    if lacking:
        fact = lacking[0]
        since = f" (since {fact.since})" if fact.since else ""
        return f"Istio {version} lacks {fact.id}{since}: {fact.says} [{fact.source}]"
    return None
