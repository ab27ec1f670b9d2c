"""Suite 7: user scenarios. `pytest suites --scenario FILE.yaml` runs the user's own scenario on the cluster and
compares every probe with the engine: the bug-reproduction path. With --scenario the plan holds only these cases;
without it this test has nothing to run and is deselected.
"""

from __future__ import annotations

from fixtures.cases import Check, cases
from fixtures.plugin import Conformance
from mtls_conformance.verdict import Status


@cases(origin="scenario")
def test_user_scenario(check: Check, conformance: Conformance) -> None:
    verdict = conformance.run(check)
    assert verdict.status is Status.PASS, verdict.failure_message()
