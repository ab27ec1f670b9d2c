"""The one outcome vocabulary: every layer's names come from mtls_conformance/outcomes.py, and the report schema
lists exactly its values."""

from __future__ import annotations

import pytest

from mtls_conformance import verdict
from mtls_conformance.outcomes import (
    EXPECTED_CATEGORIES,
    PREDICTED_REFUSALS,
    Category,
    Outcome,
    ProbeOutcome,
    Status,
    describe,
    vocabulary,
)
from mtls_conformance.report import compact
from mtls_conformance.report.schema import report_schema


def test_every_probe_outcome_has_exactly_one_outcome() -> None:
    for probe in ProbeOutcome:
        for mtls in (True, False, None):
            outcome = Outcome.of(probe, mtls)
            assert outcome.probe_outcome is probe
    assert {Outcome.of(p, m) for p in ProbeOutcome for m in (True, False, None)} == set(Outcome)


@pytest.mark.parametrize(("probe", "mtls", "text", "category"), [
    (ProbeOutcome.OK, True, "mtls", Category.MTLS),
    (ProbeOutcome.OK, False, "plaintext", Category.PLAINTEXT),
    (ProbeOutcome.OK, None, "connected", Category.CONNECTED),
    (ProbeOutcome.RESET, None, "refused:reset", Category.REFUSED),
    (ProbeOutcome.HTTP_503, True, "refused:503", Category.REFUSED),  # a refusal says nothing about encryption
    (ProbeOutcome.TIMEOUT, None, "refused:timeout", Category.REFUSED),
    (ProbeOutcome.INCONCLUSIVE, None, "error:inconclusive", Category.ERROR),
])
def test_outcome_strings_are_the_report_strings(probe: ProbeOutcome, mtls: bool | None, text: str, category: Category) -> None:
    outcome = Outcome.of(probe, mtls)
    assert outcome == text and outcome.category is category


def test_the_engine_predicts_only_named_refusals_and_known_encryption() -> None:
    assert Outcome.expected(True, True, None) is Outcome.MTLS and Outcome.expected(True, None, None) is Outcome.PLAINTEXT
    assert {Outcome.expected(False, None, r) for r in PREDICTED_REFUSALS} == {Outcome.REFUSED_RESET, Outcome.REFUSED_503, Outcome.REFUSED_403}
    assert {Outcome.expected(False, None, r).category for r in PREDICTED_REFUSALS} | {Category.MTLS, Category.PLAINTEXT} == set(EXPECTED_CATEGORIES)
    for bad in (None, ProbeOutcome.TIMEOUT, ProbeOutcome.OK):
        with pytest.raises(ValueError, match="expected refusal"):
            Outcome.expected(False, None, bad)


def test_words_for_users() -> None:
    assert describe("refused:reset") == "refused (connection reset)" and describe("mtls") == "mTLS"
    assert describe("error:inconclusive").startswith("not observed")
    assert describe("something-newer") == "something-newer"  # a newer report's string is shown as is
    words = vocabulary()
    assert set(words["outcomes"]) == {o.value for o in Outcome} and all(words["outcomes"].values())
    assert set(words["categories"]) == {c.value for c in Category} and set(words["statuses"]) == {"pass", "fail", "error"}


def test_no_skip_verdict_and_verdict_reexports_status() -> None:
    assert {s.value for s in Status} == {"pass", "fail", "error"}
    assert verdict.Status is Status and callable(verdict.Verdict) and callable(verdict.judge)


def test_report_schema_lists_exactly_the_vocabulary() -> None:
    defs = report_schema()["$defs"]
    assert defs["outcome"]["enum"] == [o.value for o in Outcome]
    assert defs["category"]["enum"] == [c.value for c in Category]
    assert defs["probeOutcome"]["enum"] == [p.value for p in ProbeOutcome]
    # schema 2.x: the expected block is pooled; a row's status is checked by the reader (report/compact.py)
    assert defs["expected"]["properties"]["failure"]["enum"] == [*(r.value for r in PREDICTED_REFUSALS), None]
    assert defs["expected"]["properties"]["category"]["enum"] == [c.value for c in EXPECTED_CATEGORIES]
    assert tuple(s.value for s in Status) == compact.STATUSES
    old = report_schema(1)["$defs"]  # 1.x reports are still read, against the same vocabulary
    assert old["outcome"]["enum"] == defs["outcome"]["enum"] and old["result"]["properties"]["status"]["enum"] == [s.value for s in Status]
