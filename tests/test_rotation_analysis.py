"""Rotation analysis on certificates minted here: 5-minute TTL, rotations, wrong root, SPIFFE change, late rotation.

Samples come the way the driver takes them: from Envoy's answer to ``config_dump?resource=dynamic_active_secrets``,
the envelope of ../shared/istio/proxy-artifacts/istioctl-secret/istio.dynamic_active_secrets.resource-filtered.DERIVED.json
with only the certificates swapped for minted ones (tests/support/sds_answers.py), read by observe.secrets.
"""

from __future__ import annotations

import datetime as dt

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import serialization
from support.sds_answers import sds_answer

from mtls_conformance.observe.pki import Issued, cacerts_bundle, mint_ca, mint_workload
from mtls_conformance.observe.rotation import (
    CertSample,
    GracePolicy,
    RequestResult,
    analyse_rotation,
    chains_to_root,
    detect_rotations,
    traffic_report,
)
from mtls_conformance.observe.secrets import ACTIVE_SECRETS_DUMP, parse_secrets, workload_secret

T0 = dt.datetime(2026, 11, 26, 3, 0, tzinfo=dt.UTC)
TTL = dt.timedelta(minutes=5)
BACKDATE = dt.timedelta(minutes=2)
SPIFFE = "spiffe://cluster.local/ns/rot/sa/httpbin"


@pytest.fixture(scope="module")
def root() -> Issued:
    return mint_ca("istio root", not_before=T0 - dt.timedelta(days=1), lifetime=dt.timedelta(days=3650))


@pytest.fixture(scope="module")
def other_root() -> Issued:
    return mint_ca("someone else", not_before=T0 - dt.timedelta(days=1), lifetime=dt.timedelta(days=3650))


def issue(issuer: Issued, at: dt.datetime, spiffe: str = SPIFFE) -> Issued:
    """Like istiod: NotBefore back-dated by 2 minutes, NotAfter = issue + TTL."""
    return mint_workload(spiffe, issuer, not_before=at - BACKDATE, lifetime=TTL + BACKDATE)


def sample(chain_pem: bytes, root_pem: bytes, at: dt.datetime) -> CertSample:
    """What the driver records from one look at Envoy's active secrets."""
    item = workload_secret(parse_secrets(sds_answer(ACTIVE_SECRETS_DUMP, chain_pem, root_pem)))
    assert item is not None
    return CertSample.from_secret(item, at)


def observe(certs: list[tuple[dt.datetime, Issued, Issued]], until: dt.datetime, step: dt.timedelta = dt.timedelta(seconds=10)) -> list[CertSample]:
    """Poll every ``step``: at each instant the newest certificate issued so far is served (leaf + its issuer)."""
    samples, t = [], certs[0][0]
    while t <= until:
        _at, leaf, ca = max((c for c in certs if c[0] <= t), key=lambda c: c[0])
        samples.append(sample(leaf.cert_pem + ca.cert_pem, ca.cert_pem, t))
        t += step
    return samples


def renewals(issuer: Issued, count: int, fraction: float = 0.5, spiffe_at: dict[int, str] | None = None) -> list[tuple[dt.datetime, Issued, Issued]]:
    out, at = [], T0
    for i in range(count + 1):
        out.append((at, issue(issuer, at, (spiffe_at or {}).get(i, SPIFFE)), issuer))
        at += TTL * fraction
    return out


def steady_traffic(until: dt.datetime, fail_at: tuple[dt.datetime, ...] = ()) -> list[RequestResult]:
    results, t = [], T0
    while t <= until:
        results.append(RequestResult(t, t not in fail_at))
        t += dt.timedelta(seconds=1)
    return results


def test_two_rotations_at_half_life_pass(root: Issued) -> None:
    certs = renewals(root, 2)
    end = T0 + dt.timedelta(minutes=6)
    report = analyse_rotation(observe(certs, end), root.cert_pem, steady_traffic(end), expected_spiffe=SPIFFE)
    assert report.passed, report.describe()
    assert len(report.rotations) == 2
    assert [round(r.fraction, 3) for r in report.rotations] == [0.5, 0.5]
    assert report.rotations[0].renewed_at == T0 + TTL / 2
    assert report.traffic is not None and report.traffic.failures == 0 and report.traffic.longest_gap == dt.timedelta(seconds=1)
    assert "2 rotation(s)" in report.describe()


def test_late_rotation_is_reported(root: Issued) -> None:
    certs = renewals(root, 2, fraction=0.9)
    end = T0 + dt.timedelta(minutes=10)
    report = analyse_rotation(observe(certs, end), root.cert_pem)
    assert not report.passed
    assert any("renewed at 90.0% of the certificate's life, expected 45.7%-54.3%" in p for p in report.problems), report.problems


def test_jitter_inside_window_passes(root: Issued) -> None:
    certs = renewals(root, 2, fraction=0.508)  # 1 - (0.5 - 0.008): inside +-0.01 jitter
    report = analyse_rotation(observe(certs, T0 + dt.timedelta(minutes=6)), root.cert_pem, policy=GracePolicy(tolerance=dt.timedelta(0)))
    assert report.passed, report.describe()


def test_wrong_root_is_reported(root: Issued, other_root: Issued) -> None:
    certs = renewals(root, 2)
    certs[1] = (certs[1][0], issue(other_root, certs[1][0]), other_root)
    report = analyse_rotation(observe(certs, T0 + dt.timedelta(minutes=6)), root.cert_pem)
    assert any("does not chain to the root" in p for p in report.problems), report.problems


def test_spiffe_change_is_reported(root: Issued) -> None:
    certs = renewals(root, 2, spiffe_at={2: "spiffe://cluster.local/ns/rot/sa/intruder"})
    report = analyse_rotation(observe(certs, T0 + dt.timedelta(minutes=6)), root.cert_pem)
    assert any("SPIFFE ID changed on rotation" in p and "sa/intruder" in p for p in report.problems), report.problems


def test_too_few_rotations_and_expiry_are_reported(root: Issued) -> None:
    certs = renewals(root, 0)
    report = analyse_rotation(observe(certs, T0 + dt.timedelta(minutes=6)), root.cert_pem)
    assert "observed 0 rotation(s), need at least 2" in report.problems
    assert any("expired certificate" in p for p in report.problems)
    assert analyse_rotation([], root.cert_pem).problems == ("no certificate was observed",)


def test_a_sample_from_the_sds_answer_is_the_sample_of_its_pem(root: Issued) -> None:
    _at, leaf, ca = renewals(root, 0)[0]
    assert sample(leaf.cert_pem + ca.cert_pem, ca.cert_pem, T0) == CertSample.from_pem(leaf.cert_pem + ca.cert_pem, T0)


def test_traffic_gap_accounting() -> None:
    end = T0 + dt.timedelta(seconds=60)
    fails = tuple(T0 + dt.timedelta(seconds=s) for s in (10, 11, 12, 40))
    report = traffic_report(steady_traffic(end, fails))
    assert (report.total, report.failures) == (61, 4)
    assert report.longest_gap == dt.timedelta(seconds=4)
    assert report.gap_from == T0 + dt.timedelta(seconds=9) and report.gap_to == T0 + dt.timedelta(seconds=13)
    all_failed = traffic_report([RequestResult(T0, False), RequestResult(T0 + dt.timedelta(seconds=5), False)])
    assert all_failed.failures == 2 and all_failed.longest_gap == dt.timedelta(seconds=5)


def test_detect_rotations_orders_samples(root: Issued) -> None:
    samples = observe(renewals(root, 1), T0 + dt.timedelta(minutes=3))
    assert len(detect_rotations(list(reversed(samples)))) == 1


def test_plugin_ca_bundle_layout_and_chain(root: Issued) -> None:
    bundle = cacerts_bundle(now=T0)
    assert sorted(bundle) == ["ca-cert.pem", "ca-key.pem", "cert-chain.pem", "root-cert.pem"]
    assert bundle["cert-chain.pem"] == bundle["ca-cert.pem"] + bundle["root-cert.pem"]
    ca_cert = x509.load_pem_x509_certificate(bundle["ca-cert.pem"])
    ca_key = serialization.load_pem_private_key(bundle["ca-key.pem"], None)
    assert ca_cert.extensions.get_extension_for_class(x509.BasicConstraints).value.ca
    intermediate = Issued(ca_cert, ca_key)  # type: ignore[arg-type]
    leaf = issue(intermediate, T0)
    ok, why = chains_to_root([leaf.cert_pem, bundle["cert-chain.pem"]], bundle["root-cert.pem"], at=T0)
    assert ok, why
    ok, why = chains_to_root([leaf.cert_pem, bundle["ca-cert.pem"]], root.cert_pem)  # the cluster's old root must not verify it
    assert not ok and "not the given root" in why
    stranger = issue(root, T0)
    assert not chains_to_root([stranger.cert_pem], bundle["root-cert.pem"])[0]
