"""Suite 1: PeerAuthentication. The plan's matrix for the chosen --profile, precedence, UNSET inheritance,
same-scope conflicts, root-namespace selectors, and the refuted "most restrictive policy wins" claim.

Every expectation comes from the engine at run time; a test only runs its check and compares.
"""

from __future__ import annotations

from fixtures.cases import Check, cases
from fixtures.plugin import Conformance
from mtls_conformance.verdict import Status
from suites.matrix import layered, named, single_scope

SUITE = "peer-authentication"


@cases(suite=SUITE, origin="matrix", where=single_scope)
def test_peer_authentication_matrix(check: Check, conformance: Conformance) -> None:
    verdict = conformance.run(check)
    assert verdict.status is Status.PASS, verdict.failure_message()


# Precedence is clearest seen from plaintext clients too, so both suites' layered cases run here.
@cases(suite=(SUITE, "plaintext-clients"), origin="matrix", where=layered)
def test_precedence_narrowest_policy_wins(check: Check, conformance: Conformance) -> None:
    verdict = conformance.run(check)
    assert verdict.status is Status.PASS, verdict.failure_message()


@cases(suite=SUITE, origin="named", where=named("unset-"))
def test_unset_inherits_from_parent_scope(check: Check, conformance: Conformance) -> None:
    verdict = conformance.run(check)
    assert verdict.status is Status.PASS, verdict.failure_message()


@cases(suite=SUITE, origin="named", where=named("conflict-"))
def test_same_scope_conflict_oldest_policy_wins(check: Check, conformance: Conformance) -> None:
    verdict = conformance.run(check)
    assert verdict.status is Status.PASS, verdict.failure_message()


@cases(suite=SUITE, origin="named", where=named("root-selector-"))
def test_root_namespace_selector_is_ignored(check: Check, conformance: Conformance) -> None:
    verdict = conformance.run(check)
    assert verdict.status is Status.PASS, verdict.failure_message()


@cases(suite=SUITE, origin="named", where=named("most-restrictive-wins-refuted"))
def test_most_restrictive_wins_claim_is_refuted(check: Check, conformance: Conformance) -> None:
    verdict = conformance.run(check)
    assert verdict.status is Status.PASS, verdict.failure_message()
