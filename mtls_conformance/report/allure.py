"""Allure steps and attachments for one verdict (called by the pytest plugin inside the test).

Steps follow the run: the engine's expectation, the configuration applied, the probe, each evidence
source, the verdict. Attachments carry the applied YAML, the raw probe output, the engine's explanation
and the verdict as JSON, so an Allure report alone is enough to understand a failure.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from typing import Any

import allure
import yaml

from mtls_conformance.outcomes import says
from mtls_conformance.report.document import result_doc
from mtls_conformance.verdict import Verdict


def explanation_text(verdict: Verdict) -> str:
    e = verdict.expected
    lines = [f"expected: {e.outcome.words} for {e.probe.id}"]
    lines += [f"{i}. {s.detail} [{s.rule.id}: {s.rule.source}]" for i, s in enumerate(e.steps, 1)]
    return "\n".join(lines)


def _yaml_text(applied: str | Sequence[Mapping[str, Any]]) -> str:
    if isinstance(applied, str):
        return applied
    return yaml.safe_dump_all([dict(d) for d in applied], sort_keys=False)


def attach_case(verdict: Verdict, applied: str | Sequence[Mapping[str, Any]] | None = None) -> None:
    """Record ``verdict`` in the running Allure test: steps, attachments, parameters."""
    e, o = verdict.expected, verdict.observed
    text, yaml_type, json_type = allure.attachment_type.TEXT, allure.attachment_type.YAML, allure.attachment_type.JSON
    allure.dynamic.parameter("case", verdict.case_id)
    allure.dynamic.parameter("probe", e.probe.id)
    with allure.step(f"engine expects {e.outcome.words}"):
        allure.attach(explanation_text(verdict), name="engine explanation", attachment_type=text)
    if applied:
        with allure.step("configuration applied"):
            allure.attach(_yaml_text(applied), name="applied.yaml", attachment_type=yaml_type)
    with allure.step(f"probe {e.probe.id}: observed {verdict.outcome.words}"):
        allure.attach(o.raw or "(empty)", name="probe output", attachment_type=text)
    for ev in verdict.evidence:
        opinion = says(ev.says_mtls)
        with allure.step(f"evidence {ev.source}: {opinion if ev.says_mtls is None else 'says ' + opinion}"):
            allure.attach(ev.detail + ("\n\n" + ev.artefact if ev.artefact else ""), name=f"evidence {ev.source}", attachment_type=text)
    with allure.step(f"verdict: {verdict.status.value}"):
        allure.attach(json.dumps(result_doc(verdict, None), indent=2), name="verdict.json", attachment_type=json_type)
        if verdict.problems:
            allure.attach(verdict.failure_message(), name="failure", attachment_type=text)
