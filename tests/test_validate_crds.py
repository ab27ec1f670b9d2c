"""The validator against Istio's real CRDs (schema + CEL) and Kubernetes' schemas, and every rendered object."""

from __future__ import annotations

import copy
from pathlib import Path
from typing import Any

import pytest
import yaml

from mtls_conformance.plan import PROFILES, build_plan
from mtls_conformance.plan.build import run_plan
from mtls_conformance.plan.render import render_phase
from mtls_conformance.validate import CrdValidator, kubernetes_errors, validate_objects
from mtls_conformance.versions import resolve_version

CRD_FILES = ("crd-all.gen.1.30.3.yaml", "crd-all.gen.master-2026-08-22.yaml")
_VALIDATORS: dict[Path, CrdValidator] = {}


@pytest.fixture(params=CRD_FILES)
def crds(request: pytest.FixtureRequest, shared_dir: Path) -> CrdValidator:
    path = shared_dir / "istio" / "crds" / request.param
    if path not in _VALIDATORS:
        _VALIDATORS[path] = CrdValidator(path)
    return _VALIDATORS[path]


def _examples(shared_dir: Path, name: str) -> list[tuple[str | None, dict[str, Any]]]:
    docs = [d for d in yaml.safe_load_all((shared_dir / "istio" / "crd-validation-testdata" / name).read_text()) if d]
    out = []
    for d in docs:
        err = d.pop("_err", None)  # test metadata: the expected error substring
        d.setdefault("metadata", {}).setdefault("namespace", "default")
        out.append((err, d))
    return out


@pytest.mark.parametrize("name", ["peerauth-valid.yaml", "destinationrule-valid.yaml", "authz-valid.yaml"])
def test_upstream_valid_examples_pass(name: str, crds: CrdValidator, shared_dir: Path) -> None:
    for _, doc in _examples(shared_dir, name):
        errors = crds.errors(doc)
        if "1.30.3" in crds.path.name:
            # The examples come from Istio's main branch; 1.30.3's schema lacks fields added since, and strict field
            # validation (kubectl's default) reports exactly those as unknown.
            assert all("unknown field" in e for e in errors), errors
        else:
            assert errors == [], (doc["metadata"]["name"], errors)


@pytest.mark.parametrize("name", ["peerauth-invalid.yaml", "destinationrule-invalid.yaml", "authz-invalid.yaml"])
def test_upstream_invalid_examples_fail_with_the_expected_error(name: str, crds: CrdValidator, shared_dir: Path) -> None:
    examples = _examples(shared_dir, name)
    assert examples
    for expected, doc in examples:
        errors = crds.errors(doc)
        assert expected is not None
        assert any(expected in e for e in errors), (doc["metadata"]["name"], expected, errors)


def _pa(spec: dict[str, Any]) -> dict[str, Any]:
    return {"apiVersion": "security.istio.io/v1", "kind": "PeerAuthentication", "metadata": {"name": "p", "namespace": "ns"}, "spec": spec}


@pytest.mark.parametrize(("doc", "expected"), [
    (_pa({"mtls": {"mode": "STRIC"}}), 'Unsupported value: "STRIC"'),
    (_pa({"portLevelMtls": {"8080": {"mode": "DISABLE"}}}), "portLevelMtls requires selector"),
    (_pa({"mtls": {"mode": "STRICT"}, "mtlss": {}}), 'unknown field "mtlss"'),
    (_pa({"selector": {"matchLabels": {"app": "a*"}}}), "wildcard not allowed in label value match"),
    ({**_pa({}), "metadata": {"name": "Bad_Name", "namespace": "ns"}}, "metadata.name"),
    ({**_pa({}), "apiVersion": "security.istio.io/v2"}, "no such resource"),
    ({"apiVersion": "networking.istio.io/v1", "kind": "DestinationRule", "metadata": {"name": "d", "namespace": "n"},
      "spec": {"trafficPolicy": {"tls": {"mode": "ISTIO_MUTUAL"}}}}, "spec.host: Required value"),
])
def test_validator_rejects_bad_istio_objects(doc: dict[str, Any], expected: str, crds: CrdValidator) -> None:
    errors = crds.errors(doc)
    assert any(expected in e for e in errors), errors


def test_validator_rejects_bad_kubernetes_objects() -> None:
    good = {"apiVersion": "v1", "kind": "Service", "metadata": {"name": "s", "namespace": "n"},
            "spec": {"selector": {"app": "a"}, "ports": [{"name": "http", "port": 8000, "targetPort": 8080}]}}
    assert kubernetes_errors(good) == []
    bad = copy.deepcopy(good)
    bad["spec"]["ports"][0]["port"] = "8000"
    bad["spec"]["selectr"] = {}
    errors = kubernetes_errors(bad)
    assert any("spec.ports.0.port" in e for e in errors) and any("selectr" in e for e in errors)
    deployment = {"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": "d"}, "spec": {"template": {}}}
    assert any("selector" in e for e in kubernetes_errors(deployment))


def test_rendered_mistakes_are_caught(crds: CrdValidator) -> None:
    objects = render_phase(build_plan("smoke", resolve_version(None)).phases[0], "r")
    assert validate_objects(objects, crds) == []
    broken = copy.deepcopy(objects)
    pa = next(o for o in broken if o["kind"] == "PeerAuthentication" and "portLevelMtls" in o["spec"])
    del pa["spec"]["selector"]
    ns = next(o for o in broken if o["kind"] == "Namespace")
    ns["metadata"]["labels"]["mtls-conformance/case"] = "x" * 64
    problems = validate_objects(broken, crds)
    assert any(p.startswith("PeerAuthentication ") and "portLevelMtls requires selector" in p for p in problems)
    assert any(p.startswith("Namespace ") and "63" in p for p in problems)


@pytest.mark.parametrize("profile", PROFILES)
def test_every_rendered_resource_validates(profile: str, crds: CrdValidator) -> None:
    plan = run_plan(profile, resolve_version(None), suites_dir=Path(__file__).resolve().parents[1] / "suites")
    objects = [o for phase in plan.phases for o in render_phase(phase, "ci-0123")]
    assert {o["kind"] for o in objects} >= {"Namespace", "ServiceAccount", "Service", "Deployment", "PeerAuthentication", "DestinationRule"}
    problems = validate_objects(objects, crds)
    assert problems == [], problems[:10]
