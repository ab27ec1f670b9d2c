"""Suite 7: user scenarios. `pytest suites --scenario FILE.yaml` runs the user's own scenario on the cluster and
compares every probe with the engine: the bug-reproduction path. Without --scenario this test is deselected.
"""

from __future__ import annotations

from fixtures.cases import Check, UserScenarios
from fixtures.plugin import Conformance
from mtls_conformance.verdict import Status


@UserScenarios()
def test_user_scenario(check: Check, conformance: Conformance) -> None:
    verdict = conformance.run(check)
    assert verdict.status is Status.PASS, verdict.failure_message()
