"""Suite 6 offline: the rotation driver against a fake cluster serving certificates minted here.

The fake rotates the workload certificate every half lifetime (Istio's default grace ratio) and serves it the way
Envoy's admin answers the path the driver asks for: ``config_dump?resource=dynamic_active_secrets`` gets the
resource-filtered list (each entry an Any of SecretsConfigDump.DynamicSecret), built from the artefact
../shared/istio/proxy-artifacts/istioctl-secret/istio.dynamic_active_secrets.resource-filtered.DERIVED.json with only
the certificates swapped for minted ones (tests/support/sds_answers.py cites Envoy's docs and source for the shape).
It also answers the traffic loop; the analysis (serial change, chain to root, SPIFFE ID, grace window, failed
requests and longest gap) is observe.rotation's, fed by the driver.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import serialization
from support.sds_answers import FILTERED, envelope, sds_answer

from fixtures.rotation import (
    PROXY_CONFIG_ANNOTATION,
    Rotation,
    RotationRecord,
    parse_traffic,
    traffic_script,
    ttl_seconds,
    watch_seconds,
    with_secret_ttl,
)
from mtls_conformance.executor.kube import ExecResult
from mtls_conformance.observe.pki import Issued, cacerts_bundle, mint_ca, mint_workload
from mtls_conformance.plan.records import load_folder
from mtls_conformance.scenario import Workload

EPOCH = dt.datetime(2026, 11, 26, 3, 0, tzinfo=dt.UTC)
TTL = dt.timedelta(minutes=5)
BACKDATE = dt.timedelta(minutes=2)
SPIFFE = "spiffe://cluster.local/ns/rot-ttl/sa/httpbin"
ROTATION_CASES = load_folder(Path(__file__).resolve().parents[1] / "suites" / "rotation")  # the suite's own records
CASE, PLUGIN_CASE = ROTATION_CASES
RECORD, PLUGIN_RECORD = RotationRecord.of(CASE), RotationRecord.of(PLUGIN_CASE)
RECORD_PATH = "config_dump?resource=dynamic_active_secrets"  # Envoy admin docs, "/config_dump?resource={}"


class FakeClock:
    def __init__(self) -> None:
        self.t = 0.0

    def now(self) -> float:
        return self.t

    def wait(self, seconds: float) -> None:
        self.t += seconds


def _pem(issued: Issued) -> bytes:
    return issued.cert.public_bytes(serialization.Encoding.PEM)


@dataclass
class FakeKube:
    """Serves the workload certificate current at the fake clock's time, and the traffic loop's output."""

    clock: FakeClock
    ca: Issued
    root_pem: bytes
    renew_fraction: float = 0.5
    failed_requests: tuple[int, ...] = ()  # seconds (since start) at which a request fails
    spiffe_after_first: str = SPIFFE
    answer: Any = None  # when set, what istio-proxy prints instead of the SDS answer (a str is printed as is)
    applied: list[dict[str, Any]] = field(default_factory=list)
    certs: list[tuple[float, Issued]] = field(default_factory=list)

    def _cert_at(self, t: float) -> Issued:
        period = TTL.total_seconds() * self.renew_fraction
        index = int(t // period)
        while len(self.certs) <= index:
            k = len(self.certs)
            issued_at = EPOCH + dt.timedelta(seconds=k * period)
            spiffe = SPIFFE if k == 0 else self.spiffe_after_first
            self.certs.append((k * period, mint_workload(spiffe, self.ca, not_before=issued_at - BACKDATE, lifetime=TTL + BACKDATE)))
        return self.certs[index][1]

    def apply(self, objects: list[dict[str, Any]]) -> list[Any]:
        self.applied += objects
        return []

    def wait_rollouts(self, namespaces: Any, selector: str, timeout_s: float) -> None:
        assert selector.endswith("=run-1")

    def get_configmap(self, namespace: str, name: str) -> dict[str, str]:
        assert (namespace, name) == ("rot-ttl", "istio-ca-root-cert")
        return {"root-cert.pem": self.root_pem.decode()}

    def exec(self, pod: str, container: str, command: list[str], timeout_s: float) -> ExecResult:
        if container == "istio-proxy":
            assert command[:-1] == ["pilot-agent", "request", "GET"] and pod == "rot-ttl/httpbin"
            if self.answer is not None:
                return ExecResult(self.answer if isinstance(self.answer, str) else json.dumps(self.answer), "", 0)
            leaf = self._cert_at(self.clock.now())
            return ExecResult(json.dumps(sds_answer(command[-1], _pem(leaf) + _pem(self.ca), self.root_pem), indent=2), "", 0)
        assert container == "curl" and pod == "rot-ttl/curl" and "httpbin.rot-ttl.svc.cluster.local:8000" in command[-1]
        seconds = int(command[-1].split("+ ", 1)[1].split(" ", 1)[0])
        lines = [f"{EPOCH.timestamp() + s}.250000000 {'000' if s in self.failed_requests else '200'}" for s in range(seconds)]
        return ExecResult("\n".join(lines), "", 0)


class FakeSession:
    run_id = "run-1"

    def __init__(self, kube: FakeKube) -> None:
        self.kube = kube
        self.installed: dict[str, bytes] | None = None

    def pod_of(self, workload: Workload) -> str:
        return workload.key


def _rotation(kube: FakeKube, session: FakeSession | None = None, alone: bool = True) -> tuple[Rotation, dict[str, object]]:
    props: dict[str, object] = {}
    clock = kube.clock
    rotation = Rotation(session or FakeSession(kube), clock, lambda: EPOCH + dt.timedelta(seconds=clock.now()),
                        props.__setitem__, plugin_ca_alone=alone, poll_s=10.0)
    return rotation, props


def _kube(**kw: Any) -> FakeKube:
    root = mint_ca("root", not_before=EPOCH - dt.timedelta(days=1), lifetime=dt.timedelta(days=3650))
    ca = mint_ca("intermediate", not_before=EPOCH - dt.timedelta(days=1), lifetime=dt.timedelta(days=365), issuer=root)
    return FakeKube(FakeClock(), ca, _pem(root), **kw)


def test_rotations_under_traffic_pass_and_report_counts() -> None:
    kube = _kube()
    rotation, props = _rotation(kube)
    report = rotation.run(CASE)
    assert report.passed, report.describe()
    assert len(report.rotations) >= 2
    assert all(0.49 <= r.fraction <= 0.51 for r in report.rotations)
    assert props["rotations"] == len(report.rotations) and props["failed_requests"] == 0
    assert props["requests"] == int(watch_seconds(RECORD)) and float(str(props["longest_gap_s"])) <= 1.0
    deployments = [o for o in kube.applied if o["kind"] == "Deployment"]
    assert deployments and all(
        "SECRET_TTL: 5m" in d["spec"]["template"]["metadata"]["annotations"][PROXY_CONFIG_ANNOTATION] for d in deployments)


def test_the_driver_sees_certificates_in_the_resource_filtered_answer() -> None:
    """Envoy answers resource=dynamic_active_secrets with DynamicSecret entries, not a SecretsConfigDump (issue 11)."""
    kube = _kube()
    report = _rotation(kube)[0].run(CASE)
    assert "no certificate was observed" not in report.problems
    assert report.passed and len(report.rotations) >= 2, report.describe()


@pytest.mark.parametrize(("answer", "named"), [
    ({"configs": [{"@type": "type.googleapis.com/envoy.admin.v3.ListenersConfigDump.DynamicListener"}]},
     "envoy.admin.v3.ListenersConfigDump.DynamicListener"),
    ("dynamic_active_secrets not found in config dump", "not JSON"),  # Envoy's own 404 text (addResourceToDump)
])
def test_an_answer_of_another_shape_fails_in_one_line(answer: Any, named: str) -> None:
    kube = _kube(answer=answer)
    with pytest.raises(pytest.fail.Exception, match=r"config_dump\?resource=dynamic_active_secrets") as err:
        _rotation(kube)[0].run(CASE)
    assert named in str(err.value) and "\n" not in str(err.value)


def _without_certificates(doc: Any) -> Any:
    """``doc`` without the certificate bytes (certificate_chain and trusted_ca); private_key and the rest stay."""
    if isinstance(doc, dict):
        return {k: ({} if k in ("certificate_chain", "trusted_ca") else _without_certificates(v)) for k, v in doc.items()}
    return [_without_certificates(v) for v in doc] if isinstance(doc, list) else doc


def test_the_fake_keeps_the_artefact_envelope() -> None:
    """Every field the driver gets is the artefact's but the certificate bytes."""
    kube = _kube()
    served = json.loads(kube.exec("rot-ttl/httpbin", "istio-proxy", ["pilot-agent", "request", "GET", RECORD_PATH], 1).stdout)
    assert served != envelope(FILTERED) and _without_certificates(served) == _without_certificates(envelope(FILTERED))


def test_failed_requests_and_the_longest_gap_are_reported() -> None:
    kube = _kube(failed_requests=(200, 201, 202))
    report = _rotation(kube)[0].run(CASE)
    assert not report.passed
    assert any("3 of" in p and "failed" in p for p in report.problems)
    assert report.traffic is not None and report.traffic.longest_gap == dt.timedelta(seconds=4)


def test_a_certificate_from_another_root_fails() -> None:
    kube = _kube()
    kube.root_pem = _pem(mint_ca("someone else", not_before=EPOCH, lifetime=dt.timedelta(days=1)))
    report = _rotation(kube)[0].run(CASE)
    assert any("does not chain to the root" in p for p in report.problems)


def test_a_changed_spiffe_id_fails() -> None:
    kube = _kube(spiffe_after_first="spiffe://cluster.local/ns/rot-ttl/sa/intruder")
    report = _rotation(kube)[0].run(CASE)
    assert any("SPIFFE ID changed" in p for p in report.problems)


def test_renewal_outside_the_grace_window_fails() -> None:
    kube = _kube(renew_fraction=0.8)
    report = _rotation(kube)[0].run(CASE)
    assert any("renewed at 80.0%" in p for p in report.problems) or any("need at least 2" in p for p in report.problems)


def test_plugin_ca_variant_chains_to_the_suite_made_root() -> None:
    kube = _kube()
    session = FakeSession(kube)

    def install(files: dict[str, bytes]) -> None:
        # istiod would now sign with the suite's intermediate: so does the fake.
        session.installed = files
        key = serialization.load_pem_private_key(files["ca-key.pem"], None)
        kube.ca = Issued(x509.load_pem_x509_certificate(files["ca-cert.pem"]), key)  # type: ignore[arg-type]
        kube.certs.clear()

    session.install_plugin_ca = install  # type: ignore[attr-defined]
    case = dataclasses.replace(PLUGIN_CASE, scenario=CASE.scenario,
                               params={**PLUGIN_CASE.params, "server": RECORD.server, "client": RECORD.client})
    report = _rotation(kube, session)[0].run(case)
    assert report.passed, report.describe()
    assert session.installed is not None and set(session.installed) == set(cacerts_bundle(now=EPOCH))


def test_plugin_ca_variant_skips_with_a_reason_when_the_session_cannot_install_it() -> None:
    with pytest.raises(pytest.skip.Exception, match="install_plugin_ca"):
        _rotation(_kube())[0].run(PLUGIN_CASE)


def test_plugin_ca_variant_runs_only_on_its_own() -> None:
    """A new root of trust would break every other case still to run, so it skips unless selected alone."""
    with pytest.raises(pytest.skip.Exception, match="-m plugin_ca"):
        _rotation(_kube(), alone=False)[0].run(PLUGIN_CASE)


def test_small_pieces() -> None:
    assert ttl_seconds("5m") == 300 and ttl_seconds("1h30m") == 5400 and ttl_seconds("90s") == 90
    with pytest.raises(ValueError, match="not a duration"):
        ttl_seconds("5 minutes")
    script = traffic_script("http://h:8000/get", 30)
    assert '%{http_code}' in script and "+ 30 ))" in script
    results = parse_traffic("1764126000.5 200\n1764126001 000\ngarbage\n1764126002.N 200\n")
    assert [r.ok for r in results] == [True, False, True]
    objects = with_secret_ttl([{"kind": "Service"}, {"kind": "Deployment", "spec": {"template": {"metadata": {}}}}], "2m")
    assert "annotations" not in objects[0] and objects[1]["spec"]["template"]["metadata"]["annotations"]
