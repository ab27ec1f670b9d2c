"""A small suites project for pytester runs of the plugin: ``suites/<folder>/cases.yaml`` records, their scenario
files, and ``suites/test_<folder>.py``, planned with ``--profile records`` (the suites' records, no matrix)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import pytest
import yaml

RECORDS_TEST = """\
from fixtures.cases import Check, cases
from fixtures.plugin import Conformance
from mtls_conformance.verdict import Status


@cases(suite={suite!r}, origin="record")
def test_{folder}(check: Check, conformance: Conformance) -> None:
    verdict = conformance.run(check)
    assert verdict.status is Status.PASS, verdict.failure_message()
"""


def make_suites(pytester: pytest.Pytester, records: Sequence[Mapping[str, Any]], scenarios: Mapping[str, str], *,
                suite: str = "demo", folder: str = "demo", test_source: str | None = None,
                plugins: Sequence[str] = ("fixtures.plugin", "fixtures.testing"), profile: str = "records") -> pytest.Pytester:
    pytester.makeconftest(f"pytest_plugins = {list(plugins)!r}\n")
    pytester.makeini(f"[pytest]\naddopts = --profile {profile}\n")
    case_dir = pytester.path / "suites" / folder
    case_dir.mkdir(parents=True, exist_ok=True)
    for name, text in scenarios.items():
        (case_dir / name).write_text(text)
    (case_dir / "cases.yaml").write_text(yaml.safe_dump({"suite": suite, "cases": [dict(r) for r in records]}, sort_keys=False))
    source = test_source if test_source is not None else RECORDS_TEST.format(suite=suite, folder=folder.replace("-", "_"))
    (pytester.path / "suites" / f"test_{folder.replace('-', '_')}.py").write_text(source)
    return pytester
