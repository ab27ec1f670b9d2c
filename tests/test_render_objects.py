"""Rendering: apply order, ownership labels, injection labels, determinism, and the render/plan commands."""

from __future__ import annotations

import json
from collections.abc import Callable, Sequence
from pathlib import Path
from subprocess import CompletedProcess
from typing import Any

import pytest
import yaml

from mtls_conformance.errors import InputError
from mtls_conformance.plan import build_plan
from mtls_conformance.plan.build import run_plan
from mtls_conformance.plan.manifests import images
from mtls_conformance.plan.render import CASE_ANNOTATION, CASE_LABEL, MANAGED_BY, RUN_LABEL, label_value, render_phase, render_scenario
from mtls_conformance.versions import resolve_version

VERSION = resolve_version(None)
ORDER = ["Namespace", "ServiceAccount", "Service", "Deployment", "PeerAuthentication", "DestinationRule", "AuthorizationPolicy"]
Cli = Callable[[Sequence[str]], CompletedProcess[str]]


def _kinds_in_order(objects: list[dict[str, Any]]) -> bool:
    k8s = [ORDER.index(o["kind"]) for o in objects if o["kind"] in ORDER[:4]]
    if k8s != sorted(k8s):
        return False
    first_istio = next((i for i, o in enumerate(objects) if o["kind"] not in ORDER[:4]), len(objects))
    return all(o["kind"] not in ORDER[:4] for o in objects[first_istio:])


@pytest.mark.parametrize("profile", ["smoke", "standard"])
def test_every_object_is_labelled_and_in_apply_order(profile: str) -> None:
    plan = run_plan(profile, VERSION, suites_dir=Path(__file__).resolve().parents[1] / "suites")
    for phase in plan.phases:
        objects = render_phase(phase, "run-1")
        assert _kinds_in_order(objects)
        for o in objects:
            labels = o["metadata"]["labels"]
            assert labels[MANAGED_BY] == "mtls-conformance" and labels[RUN_LABEL] == "run-1"
            if CASE_LABEL in labels:
                assert len(labels[CASE_LABEL]) <= 63
                assert labels[CASE_LABEL] == label_value(o["metadata"]["annotations"][CASE_ANNOTATION])
        # Istio config keeps the phase's creation order.
        istio = [(o["kind"], o["metadata"]["namespace"], o["metadata"]["name"]) for o in objects if o["kind"] in ORDER[4:]]
        expected = [(r.kind, r.namespace, r.name) for r in sorted(phase.scenario.config, key=lambda r: r.created_rank)]
        assert istio == expected


def test_objects_of_one_case_carry_its_id() -> None:
    phase = build_plan("smoke", VERSION).phases[0]
    objects = render_phase(phase, "r")
    drs = [o for o in objects if o["kind"] == "DestinationRule"]
    assert drs and all(CASE_ANNOTATION in o["metadata"]["annotations"] for o in drs)  # one DR per case
    ids = {c.id for c in phase.cases}
    assert all(o["metadata"]["annotations"][CASE_ANNOTATION] in ids for o in drs)
    shared = next(o for o in objects if o["kind"] == "Namespace" and o["metadata"]["name"] == "mc-client")
    assert CASE_LABEL not in shared["metadata"]["labels"]  # used by many cases


def test_injection_labels_follow_sidecars() -> None:
    objects = render_phase(build_plan("smoke", VERSION).phases[0], "r")
    namespaces = {o["metadata"]["name"]: o["metadata"]["labels"] for o in objects if o["kind"] == "Namespace"}
    assert namespaces["mc-client"]["istio-injection"] == "enabled"
    assert "istio-injection" not in namespaces["mc-legacy"] and "istio-injection" not in namespaces["mc-nosidecar"]
    assert "istio-system" not in namespaces  # Istio's root namespace is never ours


def test_backend_pods_serve_every_port_with_pinned_images() -> None:
    objects = render_phase(build_plan("smoke", VERSION).phases[0], "r")
    deployment = next(o for o in objects if o["kind"] == "Deployment" and o["metadata"]["name"] == "wl-none-port-none")
    pod = deployment["spec"]["template"]
    containers = pod["spec"]["containers"]
    ports = sorted(p["containerPort"] for c in containers for p in c.get("ports", []))
    assert ports == [8080, 9080, 9090, 18080]
    assert {c["image"] for c in containers} <= set(images().values())
    assert all(":" in i and not i.endswith(":latest") for i in images().values())
    assert pod["metadata"]["annotations"]["sidecar.istio.io/proxyCPU"] == "10m"
    service = next(o for o in objects if o["kind"] == "Service" and o["metadata"]["name"] == "wl-none-port-none")
    assert [(p["port"], p["targetPort"]) for p in service["spec"]["ports"]] == [(8000, 8080), (9000, 9080), (9001, 9090)]
    # DestinationRule variants are distinct Services over the same pods.
    variant = next(o for o in objects if o["kind"] == "Service" and o["metadata"]["name"] == "wl-none-port-none-dr-disable")
    assert variant["spec"]["selector"] == service["spec"]["selector"]
    plain = next(o for o in objects if o["kind"] == "Deployment" and o["metadata"]["namespace"] == "mc-legacy")
    assert plain["spec"]["template"]["metadata"]["labels"]["sidecar.istio.io/inject"] == "false"


def test_render_scenario_labels_everything_with_the_case() -> None:
    case = build_plan("smoke", VERSION).cases[0]
    objects = render_scenario(case.scenario, "r", case.id)
    assert objects and all(o["metadata"]["annotations"][CASE_ANNOTATION] == case.id for o in objects)
    assert {o["kind"] for o in render_scenario(case.scenario, "r")} >= {"Namespace", "Deployment", "Service"}


def test_label_values_are_bounded_and_stable() -> None:
    long_id = "mesh-PERMISSIVE/ns-PERMISSIVE/wl-PERMISSIVE/port-svcport-DISABLE/dr-ISTIO_MUTUAL/auto-off/plaintext->sidecar"
    value = label_value(long_id)
    assert len(value) <= 63 and value == label_value(long_id) and value != label_value(long_id + "x")
    assert label_value("named/most-restrictive-wins-refuted") == "named.most-restrictive-wins-refuted"


def test_bad_run_id_is_an_input_error() -> None:
    with pytest.raises(InputError, match="run-id"):
        render_phase(build_plan("smoke", VERSION).phases[0], "not a label!")


def test_render_command_is_deterministic(tmp_path: Path, cli: Cli) -> None:
    outs = []
    for name in ("a", "b"):
        result = cli(["render", "--profile", "smoke", "--out", str(tmp_path / name), "--run-id", "nightly"])
        assert result.returncode == 0, result.stderr
        outs.append({p.name: p.read_bytes() for p in sorted((tmp_path / name).iterdir())})
    assert outs[0] == outs[1] and len(outs[0]) == 3  # smoke: the plan's 3 phases, numbered from 1 as everywhere
    docs = list(yaml.safe_load_all(outs[0]["phase-01-mesh-none-auto-on.yaml"]))
    assert docs[0]["kind"] == "Namespace" and all(d["metadata"]["labels"][RUN_LABEL] == "nightly" for d in docs)


def test_plan_command_json_contract(cli: Cli) -> None:
    result = cli(["plan", "--profile", "smoke", "--format", "json"])
    assert result.returncode == 0, result.stderr
    doc = json.loads(result.stdout)
    for key in ("cases", "probes", "phases", "namespaces", "pods", "services", "resources"):
        assert isinstance(doc[key], int) and not isinstance(doc[key], bool)
    assert len(doc["phase_list"]) == doc["phases"] and doc["phase_list"][0]["name"] == "mesh-none/auto-on"
    table = cli(["plan", "--profile", "smoke"])
    assert table.returncode == 0 and "mesh-STRICT/auto-on" in table.stdout


@pytest.mark.parametrize("argv", [
    ["plan", "--profile", "huge"],
    ["plan", "--suites", "/nonexistent/suites"],
    ["plan", "--profile", "smoke", "--istio-version", "0.9"],
    ["plan", "--profile", "smoke", "--format", "xml"],
    ["render", "--profile", "smoke"],
    ["render", "--profile", "nope", "--out", "x"],
    ["render", "--profile", "smoke", "--out", "/tmp/mtls-render-test", "--run-id", "bad id"],
])
def test_bad_flags_exit_2_with_one_line(argv: list[str], cli: Cli) -> None:
    result = cli(argv)
    assert result.returncode == 2
    assert len(result.stderr.strip().splitlines()) == 1 and "Traceback" not in result.stderr


def test_render_out_must_be_a_directory(tmp_path: Path, cli: Cli) -> None:
    target = tmp_path / "file"
    target.write_text("x")
    result = cli(["render", "--profile", "smoke", "--out", str(target)])
    assert result.returncode == 2 and "not a directory" in result.stderr
