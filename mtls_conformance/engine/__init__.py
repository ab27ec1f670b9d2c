"""The expectation engine (pure): scenario + Istio version -> expected outcome per probe, with cited rules."""

from mtls_conformance.engine.expect import expect, expect_all, spiffe
from mtls_conformance.engine.model import ClientSends, Expectation, Mode, Step
from mtls_conformance.engine.rules import RULES, Rule, rule

__all__ = [
    "RULES",
    "ClientSends",
    "Expectation",
    "Mode",
    "Rule",
    "Step",
    "expect",
    "expect_all",
    "rule",
    "spiffe",
]
