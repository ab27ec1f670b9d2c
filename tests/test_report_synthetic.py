"""A SYNTHETIC conformance run for the report, HTML, JUnit and diff tests.

The scenarios are real (loaded by the real loader) and every expectation comes from the real engine;
only the observations are MADE UP here: they follow the engine except for a few deliberate deviations
(a failure, an inconclusive probe), so every verdict path of the report is exercised. Reports built from
this module are marked ``synthetic: true``.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from typing import Any

import yaml

from mtls_conformance.engine import Expectation, expect_all
from mtls_conformance.observe.model import Evidence, ProbeObservation
from mtls_conformance.outcomes import ProbeOutcome
from mtls_conformance.plan.model import Case
from mtls_conformance.report import RunMeta
from mtls_conformance.scenario import parse_scenario
from mtls_conformance.verdict import Status, Verdict, judge
from mtls_conformance.versions import parse_version

MESH = ("none", "PERMISSIVE", "STRICT")
DR = ("none", "DISABLE", "ISTIO_MUTUAL")
CLIENT = ("sidecar", "plaintext")
# The deliberate deviations of the synthetic run (observed behaviour that contradicts the engine).
WRONG_PLAINTEXT = "mesh-STRICT/ns-none/wl-none/port-none/dr-none/auto-on/sidecar->sidecar"
INCONCLUSIVE = "mesh-PERMISSIVE/ns-none/wl-none/port-none/dr-ISTIO_MUTUAL/auto-on/plaintext->sidecar"
HOSTILE_ID = 'named/<script>alert("x")</script>&amp;'  # a case whose ID must come out escaped everywhere


def case_id(mesh: str, dr: str, client: str) -> str:
    return f"mesh-{mesh}/ns-none/wl-none/port-none/dr-{dr}/auto-on/{client}->sidecar"


def _scenario_doc(mesh: str, dr: str, client: str) -> dict[str, Any]:
    cns = "client-mesh" if client == "sidecar" else "client-legacy"
    config: list[dict[str, Any]] = []
    if mesh != "none":
        config.append({"apiVersion": "security.istio.io/v1", "kind": "PeerAuthentication",
                       "metadata": {"name": "default", "namespace": "istio-system"}, "spec": {"mtls": {"mode": mesh}}})
    if dr != "none":
        config.append({"apiVersion": "networking.istio.io/v1", "kind": "DestinationRule", "metadata": {"name": "backend", "namespace": "srv"},
                       "spec": {"host": "backend.srv.svc.cluster.local", "trafficPolicy": {"tls": {"mode": dr}}}})
    return {
        "name": case_id(mesh, dr, client).replace("/", "_").replace(">", ""),
        "workloads": [
            {"name": "backend", "namespace": "srv", "ports": [{"name": "http", "port": 8000, "targetPort": 8080},
                                                              {"name": "tcp", "port": 9000, "protocol": "tcp"}]},
            {"name": "curl", "namespace": cns, "sidecar": client == "sidecar", "ports": []},
        ],
        "config": config,
        "probes": [{"from": f"{cns}/curl", "to": "srv/backend", "port": 8000}, {"from": f"{cns}/curl", "to": "srv/backend", "port": 9000}],
    }


def cases() -> list[Case]:
    out = []
    for mesh in MESH:
        for dr in DR:
            for client in CLIENT:
                scenario = parse_scenario(yaml.safe_dump(_scenario_doc(mesh, dr, client)), "<synthetic>")
                dims = {"mesh": mesh, "ns": "none", "wl": "none", "port": "none", "dr": dr, "auto": "on", "client": client, "server": "sidecar"}
                suite = "plaintext-clients" if client == "plaintext" else ("destination-rule" if dr != "none" else "peer-authentication")
                out.append(Case(case_id(mesh, dr, client), suite, ("peer-authentication",), scenario, "synthetic matrix case", dims))
    hostile = parse_scenario(yaml.safe_dump(_scenario_doc("STRICT", "none", "plaintext")), "<synthetic>")
    out.append(Case(HOSTILE_ID, "peer-authentication", ("peer-authentication",), hostile, "escaping check",
                    {"mesh": "<b>STRICT</b>", "client": "plaintext", "server": "sidecar"}))
    return out


def made_up_observation(e: Expectation) -> tuple[ProbeObservation, list[Evidence]]:
    """What a faithful mesh would show for ``e`` (MADE UP: no cluster involved)."""
    pid = e.probe.id
    http = e.protocol == "http"
    if not e.connect:
        if e.failure is ProbeOutcome.HTTP_503:
            return ProbeObservation(pid, ProbeOutcome.HTTP_503, http_status=503, curl_exit=0, raw=f"SYNTHETIC {pid} 503 upstream connect error"), []
        if e.failure is ProbeOutcome.HTTP_403:
            return ProbeObservation(pid, ProbeOutcome.HTTP_403, http_status=403, curl_exit=0, raw=f"SYNTHETIC {pid} 403 RBAC: access denied"), []
        return ProbeObservation(pid, ProbeOutcome.RESET, curl_exit=56, raw=f"SYNTHETIC {pid} curl: (56) Recv failure: Connection reset by peer"), []
    xfcc = (f'By={e.server_principal};Hash=0;Subject="";URI={e.client_principal}' if e.mtls and http else None)
    obs = ProbeObservation(pid, ProbeOutcome.OK, http_status=200 if http else None, curl_exit=0, xfcc=xfcc,
                           client_identity=e.client_principal if xfcc else None, server_identity=e.server_principal if xfcc else None,
                           raw=f"SYNTHETIC {pid} 200", duration_s=0.012)
    label = "mutual_tls" if e.mtls else "none"
    evidence = [Evidence("metrics", bool(e.mtls), f'istio_requests_total{{reporter="destination",connection_security_policy="{label}"}} +1',
                         artefact=f"SYNTHETIC scrape line for {pid}")]
    return obs, evidence


def _deviate(case: str, e: Expectation, obs: ProbeObservation, ev: list[Evidence]) -> tuple[ProbeObservation, list[Evidence]]:
    if case == WRONG_PLAINTEXT and e.probe.port == 8000:
        wrong = replace(ev[0], says_mtls=False, detail='istio_requests_total{reporter="destination",connection_security_policy="none"} +1')
        return replace(obs, xfcc=None, client_identity=None, server_identity=None), [wrong]
    if case == INCONCLUSIVE and e.probe.port == 9000:
        return ProbeObservation(e.probe.id, ProbeOutcome.INCONCLUSIVE, raw="SYNTHETIC exec: error dialing backend"), []
    return obs, ev


def verdicts(case_list: list[Case], version: str = "1.30", deviations: bool = True) -> Iterator[Verdict]:
    v = parse_version(version)
    for i, case in enumerate(case_list):
        for e in expect_all(case.scenario, v):
            obs, ev = made_up_observation(e)
            if deviations:
                obs, ev = _deviate(case.id, e, obs, ev)
            yield judge(case.id, e, obs, ev, convergence_s=1.5 + i / 10)


def meta(version: str = "1.30.4", run_id: str = "synthetic-1") -> RunMeta:
    start = datetime(2026, 11, 26, 2, 0, tzinfo=UTC)
    return RunMeta(run_id=run_id, istio_version=version, kubernetes_version="v1.33.1", profile="standard",
                   started=start, finished=start + timedelta(minutes=7), synthetic=True)


SKIPPED = [("rotation/plugin-ca", "needs the plugin-ca feature: not in this synthetic run")]


# ---- the synthetic run itself is checked, so the other tests stand on solid ground -----------------------


def test_synthetic_run_follows_the_engine_except_the_marked_deviations() -> None:
    all_verdicts = list(verdicts(cases()))
    bad = {(v.case_id, v.expected.probe.port, v.status) for v in all_verdicts if v.status is not Status.PASS}
    assert bad == {(WRONG_PLAINTEXT, 8000, Status.FAIL), (INCONCLUSIVE, 9000, Status.ERROR)}
    assert all(v.observed.raw.startswith("SYNTHETIC") for v in all_verdicts)


def test_synthetic_run_covers_mtls_plaintext_and_refusals() -> None:
    outcomes = {(v.expected.connect, v.expected.mtls, v.expected.failure) for v in verdicts(cases())}
    assert (True, True, None) in outcomes
    assert (True, False, None) in outcomes
    assert any(not connect for connect, _, _ in outcomes)
