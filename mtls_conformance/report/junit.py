"""JUnit properties of one verdict; the pytest plugin records them with ``record_property``.

They are per-test properties (``<testcase><properties>``), which the JUnit family ``xunit1`` allows and ``xunit2``
(pytest's default) does not: under xunit2 pytest warns once per test ("record_property is incompatible with
junit_family 'xunit2'"). So the suites' ini (``[tool.pytest.ini_options]`` in pyproject.toml, the inifile of
``pytest suites``) sets ``junit_family = xunit1``; Jenkins, GitLab and GitHub test reporters read both families.
"""

from __future__ import annotations

from mtls_conformance.verdict import Verdict

JUNIT_FAMILY = "xunit1"  # the family that allows per-test properties; pyproject.toml's junit_family (a self-test checks)


def properties(verdict: Verdict) -> list[tuple[str, str]]:
    e = verdict.expected
    convergence = "" if verdict.convergence_s is None else f"{verdict.convergence_s:.3f}"
    props = [
        ("case_id", verdict.case_id),
        ("probe", e.probe.id),
        ("convergence_s", convergence),
        ("expected", e.outcome.value),
        ("observed", verdict.outcome.value),
        ("verdict", verdict.status.value),
        ("rules", ",".join(r.id for r in e.rules)),
    ]
    props += [("problem", p) for p in verdict.problems]
    return props
