"""Named cases: claims users repeat about Istio mTLS, checked against the engine."""

from __future__ import annotations

from pathlib import Path

from mtls_conformance.engine import ClientSends, Mode, expect_all
from mtls_conformance.outcomes import ProbeOutcome
from mtls_conformance.scenario import load_scenario

NAMED = Path(__file__).resolve().parent / "scenarios" / "named"


def test_most_restrictive_claim_refuted_narrowest_wins() -> None:
    """Seed claim 'the most restrictive policy applies' is false: mesh STRICT + workload PERMISSIVE accepts plaintext."""
    scenario = load_scenario(NAMED / "most-restrictive-claim-refuted.yaml")
    by_probe = {(e.probe.source, e.probe.target): e for e in expect_all(scenario)}

    refuted = by_probe[("legacy/curl", "foo/httpbin")]
    assert refuted.server_mode is Mode.PERMISSIVE
    assert refuted.client_sends is ClientSends.PLAINTEXT
    assert refuted.connect is True and refuted.mtls is False and refuted.failure is None
    narrowest = next(s for s in refuted.steps if s.rule.id == "pa.narrowest-wins")
    assert "httpbin-permissive" in narrowest.detail and "istio-system/default" in narrowest.detail
    assert "most restrictive" in narrowest.rule.contradiction

    control = by_probe[("legacy/curl", "foo/strict-neighbour")]
    assert control.server_mode is Mode.STRICT and control.connect is False and control.failure is ProbeOutcome.RESET

    sidecar = by_probe[("foo/curl", "foo/httpbin")]
    assert sidecar.connect and sidecar.mtls is True


def test_most_restrictive_claim_refuted_for_disable_too() -> None:
    # The claim also names DISABLE: a workload DISABLE under mesh STRICT is plaintext-only, not STRICT.
    text = (NAMED / "most-restrictive-claim-refuted.yaml").read_text().replace("mode: PERMISSIVE", "mode: DISABLE")
    from mtls_conformance.scenario import parse_scenario

    scenario = parse_scenario(text, "<disable variant>")
    by_probe = {(e.probe.source, e.probe.target): e for e in expect_all(scenario)}
    assert by_probe[("legacy/curl", "foo/httpbin")].server_mode is Mode.DISABLE
    assert by_probe[("legacy/curl", "foo/httpbin")].connect is True
    # Auto mTLS sees the endpoint's DISABLE and sends plaintext, so the sidecar client still connects.
    assert by_probe[("foo/curl", "foo/httpbin")].client_sends is ClientSends.PLAINTEXT
    assert by_probe[("foo/curl", "foo/httpbin")].connect is True
