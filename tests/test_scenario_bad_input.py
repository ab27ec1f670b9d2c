"""Malformed scenario files, bad flags and bad versions, through the installed console script.

Every case must exit 2 with exactly one stderr line that names the file and the offending field, and no traceback.
"""

from __future__ import annotations

import os
import subprocess
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

WORKLOADS = """\
workloads:
  - {name: httpbin, namespace: foo, ports: [{name: http, port: 8000, targetPort: 8080}]}
  - {name: curl, namespace: legacy, sidecar: false, ports: []}
"""


def with_config(*resources: str) -> str:
    return WORKLOADS + "config:\n" + "".join(f"  - {r}\n" for r in resources)


PA = "apiVersion: security.istio.io/v1, kind: PeerAuthentication, metadata: {name: p, namespace: foo}"
DR = "apiVersion: networking.istio.io/v1, kind: DestinationRule, metadata: {name: d, namespace: foo}"
AP = "apiVersion: security.istio.io/v1, kind: AuthorizationPolicy, metadata: {name: a, namespace: foo}"

# id -> (file content, text the error must name: the field path or the problem)
CASES: dict[str, tuple[str | bytes, str]] = {
    "yaml-syntax": ("workloads: [\n  - {name: httpbin\n", "not valid YAML at line"),
    "yaml-tab-indent": ("workloads:\n\t- name: x\n", "not valid YAML"),
    "empty-file": ("", "is empty"),
    "only-comments": ("# nothing here\n", "is empty"),
    "top-level-list": ("- a\n- b\n", "top level is a list"),
    "two-documents": (WORKLOADS + "---\n" + WORKLOADS, "2 YAML documents"),
    "duplicate-yaml-key": (WORKLOADS + "workloads: []\n", "duplicate key 'workloads'"),
    "unknown-top-key-did-you-mean": (WORKLOADS + "probs: []\n", "probs: unknown field; fix: did you mean 'probes'?"),
    "missing-workloads": ("config: []\n", "workloads: is missing"),
    "workloads-not-list": ("workloads: {name: x}\n", "workloads: must be a non-empty list"),
    "workload-unknown-key": ("workloads:\n  - {name: x, namespace: foo, sidecars: false}\n", "workloads[0].sidecars: unknown field; fix: did you mean 'sidecar'?"),
    "workload-bad-name": ("workloads:\n  - {name: HttpBin, namespace: foo}\n", "workloads[0].name"),
    "workload-sidecar-not-bool": ("workloads:\n  - {name: x, namespace: foo, sidecar: 'yes'}\n", "workloads[0].sidecar: must be true or false"),
    "port-out-of-range": ("workloads:\n  - {name: x, namespace: foo, ports: [{port: 70000}]}\n", "workloads[0].ports[0].port: port 70000 is out of range"),
    "port-not-number": ("workloads:\n  - {name: x, namespace: foo, ports: [{port: http}]}\n", "workloads[0].ports[0].port: must be a port number"),
    "port-bad-protocol": ("workloads:\n  - {name: x, namespace: foo, ports: [{port: 80, protocol: grpc}]}\n", "workloads[0].ports[0].protocol"),
    "duplicate-service-port": ("workloads:\n  - {name: x, namespace: foo, ports: [{name: a, port: 80}, {name: b, port: 80}]}\n", "workloads[0].ports: Service port 80 appears twice"),
    "headless-port-translation": ("workloads:\n  - {name: x, namespace: foo, headless: true, ports: [{port: 80, targetPort: 8080}]}\n",
                                  "workloads[0].ports[0].targetPort: headless Service port 80 targets 8080"),
    "duplicate-workload": ("workloads:\n  - {name: x, namespace: foo}\n  - {name: x, namespace: foo}\n", "workloads[1]: workload foo/x is declared twice"),
    "label-value-number": ("workloads:\n  - {name: x, namespace: foo, labels: {version: 1}}\n", "workloads[0].labels.version"),
    "mesh-auto-mtls-not-bool": ("mesh: {enableAutoMtls: maybe}\n" + WORKLOADS, "mesh.enableAutoMtls: must be true or false"),
    "mesh-unknown-key": ("mesh: {rootNamespce: istio-system}\n" + WORKLOADS, "mesh.rootNamespce: unknown field; fix: did you mean 'rootNamespace'?"),
    "config-not-list": (WORKLOADS + "config: {kind: PeerAuthentication}\n", "config: must be a list"),
    "unsupported-kind": (with_config("{apiVersion: networking.istio.io/v1, kind: VirtualService, metadata: {name: v, namespace: foo}}"), "config[0].kind: 'VirtualService' is not supported"),
    "wrong-api-version": (with_config("{apiVersion: security.istio.io/v1alpha1, kind: PeerAuthentication, metadata: {name: p, namespace: foo}}"),
                          "config[0].apiVersion: 'security.istio.io/v1alpha1' is not an apiVersion of PeerAuthentication"),
    "pa-under-networking-group": (with_config("{apiVersion: networking.istio.io/v1, kind: PeerAuthentication, metadata: {name: p, namespace: foo}}"), "config[0].apiVersion"),
    "missing-namespace": (with_config("{apiVersion: security.istio.io/v1, kind: PeerAuthentication, metadata: {name: p}}"), "config[0].metadata.namespace: is missing"),
    "bad-resource-name": (with_config("{apiVersion: security.istio.io/v1, kind: PeerAuthentication, metadata: {name: My_Policy, namespace: foo}}"), "config[0].metadata.name"),
    "pa-bad-mode": (with_config(f"{{{PA}, spec: {{mtls: {{mode: STRICTEST}}}}}}"), "config[0].spec.mtls.mode: 'STRICTEST' is not a valid mode"),
    "pa-mode-lowercase": (with_config(f"{{{PA}, spec: {{mtls: {{mode: strict}}}}}}"), "config[0].spec.mtls.mode"),
    "pa-unknown-spec-key": (with_config(f"{{{PA}, spec: {{mtl: {{mode: STRICT}}}}}}"), "config[0].spec.mtl"),
    "pa-port-level-without-selector": (with_config(f"{{{PA}, spec: {{mtls: {{mode: STRICT}}, portLevelMtls: {{8080: {{mode: DISABLE}}}}}}}}"),
                                       "config[0].spec.portLevelMtls: portLevelMtls requires selector"),
    "pa-port-level-bad-port": (with_config(f"{{{PA}, spec: {{selector: {{matchLabels: {{app: httpbin}}}}, portLevelMtls: {{0: {{mode: DISABLE}}}}}}}}"),
                               "config[0].spec.portLevelMtls.0"),
    "pa-port-level-bad-mode": (with_config(f"{{{PA}, spec: {{selector: {{matchLabels: {{app: httpbin}}}}, portLevelMtls: {{8080: {{mode: OFF}}}}}}}}"),
                               "config[0].spec.portLevelMtls.8080.mode"),
    "duplicate-resource": (with_config(f"{{{PA}, spec: {{}}}}", f"{{{PA}, spec: {{mtls: {{mode: STRICT}}}}}}"),
                           "config[1].metadata.name: PeerAuthentication foo/p is declared twice"),
    "bad-timestamp": (with_config("{apiVersion: security.istio.io/v1, kind: PeerAuthentication, metadata: {name: p, namespace: foo, creationTimestamp: yesterday}, spec: {}}"),
                      "config[0].metadata.creationTimestamp: 'yesterday' is not a timestamp"),
    "dr-missing-host": (with_config(f"{{{DR}, spec: {{trafficPolicy: {{tls: {{mode: DISABLE}}}}}}}}"), "config[0].spec.host: is missing"),
    "dr-bad-tls-mode": (with_config(f"{{{DR}, spec: {{host: httpbin, trafficPolicy: {{tls: {{mode: ISTIO}}}}}}}}"), "config[0].spec.trafficPolicy.tls.mode"),
    "dr-mutual-without-certs": (with_config(f"{{{DR}, spec: {{host: httpbin, trafficPolicy: {{tls: {{mode: MUTUAL}}}}}}}}"),
                                "config[0].spec.trafficPolicy.tls.clientCertificate: is required for mutual tls"),
    "dr-istio-mutual-with-san": (with_config(f"{{{DR}, spec: {{host: httpbin, trafficPolicy: {{tls: {{mode: ISTIO_MUTUAL, subjectAltNames: [x]}}}}}}}}"),
                                 "config[0].spec.trafficPolicy.tls.subjectAltNames"),
    "dr-port-level-no-number": (with_config(f"{{{DR}, spec: {{host: httpbin, trafficPolicy: {{portLevelSettings: [{{tls: {{mode: DISABLE}}}}]}}}}}}"),
                                "config[0].spec.trafficPolicy.portLevelSettings[0].port.number"),
    "dr-passthrough-lb": (with_config(f"{{{DR}, spec: {{host: httpbin, trafficPolicy: {{loadBalancer: {{simple: PASSTHROUGH}}}}}}}}"),
                          "config[0].spec.trafficPolicy.loadBalancer.simple"),
    "dr-bad-connection-pool": (with_config(f"{{{DR}, spec: {{host: httpbin, trafficPolicy: {{connectionPool: {{tcp: {{connectTimeout: soon}}}}}}}}}}"),
                               "config[0].spec.trafficPolicy.connectionPool.tcp.connectTimeout: 'soon' is not a duration"),
    "dr-bad-export-to": (with_config(f"{{{DR}, spec: {{host: httpbin, exportTo: [Foo]}}}}"), "config[0].spec.exportTo[0]"),
    "ap-unsupported-paths": (with_config(f"{{{AP}, spec: {{rules: [{{to: [{{operation: {{paths: [/ip]}}}}]}}]}}}}"),
                             "config[0].spec.rules[0].to[0].operation.paths: is not modeled"),
    "ap-unsupported-when": (with_config(f"{{{AP}, spec: {{rules: [{{when: [{{key: 'request.headers[x]', values: [y]}}]}}]}}}}"),
                            "config[0].spec.rules[0].when: is not modeled"),
    "ap-custom-action": (with_config(f"{{{AP}, spec: {{action: CUSTOM}}}}"), "config[0].spec.action: 'CUSTOM' is not modeled"),
    "ap-empty-source": (with_config(f"{{{AP}, spec: {{rules: [{{from: [{{source: {{}}}}]}}]}}}}"), "config[0].spec.rules[0].from[0].source"),
    "ap-principals-not-list": (with_config(f"{{{AP}, spec: {{rules: [{{from: [{{source: {{principals: cluster.local/ns/foo/sa/curl}}}}]}}]}}}}"),
                               "config[0].spec.rules[0].from[0].source.principals: must be a list"),
    "ap-service-accounts-with-principals": (with_config(f"{{{AP}, spec: {{rules: [{{from: [{{source: {{serviceAccounts: [foo/curl], principals: [x]}}}}]}}]}}}}"),
                                            "config[0].spec.rules[0].from[0].source.serviceAccounts: cannot be combined with principals"),
    "ap-port-not-number": (with_config(f"{{{AP}, spec: {{rules: [{{to: [{{operation: {{ports: [http]}}}}]}}]}}}}"),
                           "config[0].spec.rules[0].to[0].operation.ports"),
    "probe-unknown-workload": (WORKLOADS + "probes: [{from: legacy/crl, to: foo/httpbin, port: 8000}]\n",
                               "probes[0].from: 'legacy/crl' is not a declared workload; fix: did you mean 'legacy/curl'?"),
    "probe-not-a-service-port": (WORKLOADS + "probes: [{from: legacy/curl, to: foo/httpbin, port: 8080}]\n",
                                 "probes[0].port: 8080 is not a Service port of foo/httpbin"),
    "probe-pod-port-not-container-port": (WORKLOADS + "probes: [{from: legacy/curl, to: foo/httpbin, port: 8000, address: pod}]\n",
                                          "probes[0].port: 8000 is not a container port"),
    "probe-bad-address": (WORKLOADS + "probes: [{from: legacy/curl, to: foo/httpbin, port: 8000, address: ip}]\n", "probes[0].address"),
    "probe-to-workload-without-ports": (WORKLOADS + "probes: [{from: foo/httpbin, to: legacy/curl, port: 80}]\n", "probes[0].port: legacy/curl has no Service ports"),
    # Found by fuzzing: accepted silently before, so a typo changed the verdict without a word.
    "selector-match-labels-not-mapping": (with_config(f"{{{PA}, spec: {{selector: {{matchLabels: []}}, mtls: {{mode: STRICT}}}}}}"),
                                          "config[0].spec.selector.matchLabels: must map label names"),
    "selector-label-value-invalid": (with_config(f"{{{AP}, spec: {{selector: {{matchLabels: {{app: 'http bin'}}}}}}}}"),
                                     "config[0].spec.selector.matchLabels.app: 'http bin' is not a valid label value"),
    "pa-port-level-unknown-key": (with_config(f"{{{PA}, spec: {{selector: {{matchLabels: {{app: httpbin}}}}, portLevelMtls: {{8080: {{mod: DISABLE}}}}}}}}"),
                                  "config[0].spec.portLevelMtls.8080.mod"),
    "pa-port-level-key-non-ascii-digits": (with_config(f"{{{PA}, spec: {{selector: {{matchLabels: {{app: httpbin}}}}, portLevelMtls: {{'٨٠٨٠': {{mode: DISABLE}}}}}}}}"),
                                           "is not a port number"),
    "pa-port-level-key-twice": (with_config(f"{{{PA}, spec: {{selector: {{matchLabels: {{app: httpbin}}}}, portLevelMtls: {{8080: {{mode: DISABLE}}, '8080': {{mode: STRICT}}}}}}}}"),
                                "port 8080 is listed twice"),
    "dr-host-with-slash": (with_config(f"{{{DR}, spec: {{host: foo/httpbin}}}}"), "config[0].spec.host: 'foo/httpbin' is not a host name"),
    "dr-host-blank": (with_config(f"{{{DR}, spec: {{host: ' '}}}}"), "config[0].spec.host"),
    "dr-subset-bad-traffic-policy": (with_config(f"{{{DR}, spec: {{host: httpbin, subsets: [{{name: v1, trafficPolicy: {{tls: {{mode: ISTIO}}}}}}]}}}}"),
                                     "config[0].spec.subsets[0].trafficPolicy.tls.mode"),
    "dr-subset-labels-number": (with_config(f"{{{DR}, spec: {{host: httpbin, subsets: [{{name: v1, labels: {{version: 1}}}}]}}}}"),
                                "config[0].spec.subsets[0].labels"),
    "dr-subset-bad-name": (with_config(f"{{{DR}, spec: {{host: httpbin, subsets: [{{name: V_1}}]}}}}"), "config[0].spec.subsets[0].name"),
    "dr-port-selector-unknown-key": (with_config(f"{{{DR}, spec: {{host: httpbin, trafficPolicy: {{portLevelSettings: [{{port: {{number: 8000, name: http}}, tls: {{mode: DISABLE}}}}]}}}}}}"),
                                     "config[0].spec.trafficPolicy.portLevelSettings[0].port.name"),
    "resource-unknown-top-key": (with_config(f"{{{PA}, mtls: {{mode: STRICT}}}}"), "config[0].mtls: is not a field of a Kubernetes object"),
    "ap-principal-with-space": (with_config(f"{{{AP}, spec: {{rules: [{{from: [{{source: {{principals: ['cluster.local/ns/foo/sa/curl ']}}}}]}}]}}}}"),
                                "config[0].spec.rules[0].from[0].source.principals"),
    "trust-domain-with-colon": ("mesh: {trustDomain: 'example.org:443'}\n" + WORKLOADS, "mesh.trustDomain"),
    "scenario-name-control-char": ('name: "a\\x07b"\n' + WORKLOADS, "name: must be at most 253 printable characters"),
    "label-name-invalid": ("workloads:\n  - {name: x, namespace: foo, labels: {'-app': x}}\n", "workloads[0].labels.-app: '-app' is not a valid label name"),
    "billion-laughs": ("a: &a [x, x, x, x, x, x, x, x, x]\nb: &b [*a, *a, *a, *a, *a, *a, *a, *a, *a]\nc: &c [*b, *b, *b, *b, *b, *b, *b, *b, *b]\n"
                       "d: &d [*c, *c, *c, *c, *c, *c, *c, *c, *c]\nworkloads: *d\n", "a: unknown field"),
    "metadata-labels-not-strings": (with_config("{apiVersion: security.istio.io/v1, kind: PeerAuthentication, metadata: {name: p, namespace: foo, labels: {v: [1]}}}"),
                                    "config[0].metadata.labels: must map names to string values"),
    "metadata-structure-hidden": (with_config("{apiVersion: security.istio.io/v1, kind: PeerAuthentication, metadata: {name: p, namespace: foo, extra: {a: 1}}}"),
                                  "config[0].metadata.extra: is not modeled"),
    "namespace-read-as-boolean": ("workloads:\n  - {name: x, namespace: no}\n", "workloads[0].namespace: namespace name is a boolean (False), not a string; fix: quote"),
    "recursive-alias": ("workloads: &w [*w]\n", "scenario.yaml"),
    "binary-file": (b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR\xff\xfe", "cannot be read"),
    "nul-bytes": ("workloads: []\x00\n", "not valid YAML at line 1, column 14 (character #x0000"),
    "deeply-nested": ("workloads: " + "[" * 5000 + "]" * 5000 + "\n", "scenario.yaml"),
}


def _write(directory: Path, content: str | bytes) -> Path:
    path = directory / "scenario.yaml"
    if isinstance(content, bytes):
        path.write_bytes(content)
    else:
        path.write_text(content, encoding="utf-8")
    return path


@pytest.fixture(scope="module")
def results(tmp_path_factory: pytest.TempPathFactory, cli: Callable[[Sequence[str]], subprocess.CompletedProcess[str]],
            ) -> dict[str, tuple[Path, subprocess.CompletedProcess[str]]]:
    """Every case run through the console script once, in parallel (each run is a fresh process)."""
    jobs: dict[str, tuple[Path, list[str]]] = {}
    for case, (content, _) in CASES.items():
        path = _write(tmp_path_factory.mktemp(case), content)
        jobs[case] = (path, ["expect", str(path)])
    valid = _write(tmp_path_factory.mktemp("valid"), WORKLOADS)
    for case, (args, _) in BAD_FLAGS.items():
        jobs[case] = (valid, [a.replace("{f}", str(valid)) for a in args])
    with ThreadPoolExecutor(max_workers=max(2, os.cpu_count() or 2)) as pool:
        futures = {case: pool.submit(cli, args) for case, (_, args) in jobs.items()}
        return {case: (jobs[case][0], f.result()) for case, f in futures.items()}


def assert_one_line_error(result: subprocess.CompletedProcess[str], *must_contain: str) -> str:
    assert result.returncode == 2, f"exit {result.returncode}; stderr: {result.stderr}"
    assert "Traceback" not in result.stderr + result.stdout
    lines = result.stderr.splitlines()
    assert len(lines) == 1, f"expected one stderr line, got {len(lines)}:\n{result.stderr}"
    for text in must_contain:
        assert text in lines[0], f"{text!r} not in {lines[0]!r}"
    return lines[0]


def test_there_are_at_least_30_malformed_cases() -> None:
    assert len(CASES) >= 30


@pytest.mark.parametrize("case", sorted(CASES))
def test_malformed_scenario_is_one_line_exit_2(results: dict[str, tuple[Path, subprocess.CompletedProcess[str]]], case: str) -> None:
    path, result = results[case]
    line = assert_one_line_error(result, str(path), CASES[case][1])
    assert "fix:" in line, "every error says how to fix it"


@pytest.mark.parametrize("command", ["expect", "explain"])
def test_directory_and_missing_file(tmp_path: Path, cli: Callable[[Sequence[str]], subprocess.CompletedProcess[str]], command: str) -> None:
    flags = ["--from", "legacy/curl", "--to", "foo/httpbin", "--port", "8000"] if command == "explain" else []
    assert_one_line_error(cli([command, str(tmp_path), *flags]), str(tmp_path), "is a directory")
    missing = tmp_path / "nope.yaml"
    assert_one_line_error(cli([command, str(missing), *flags]), str(missing), "file not found")


BAD_FLAGS: dict[str, tuple[list[str], str]] = {
    "expect-unknown-format": (["expect", "{f}", "--format", "xml"], "--format"),
    "expect-unknown-flag": (["expect", "{f}", "--colour"], "--colour"),
    "expect-version-too-old": (["expect", "{f}", "--istio-version", "1.20"], "--istio-version: Istio 1.20 is not supported"),
    "expect-version-too-new": (["expect", "{f}", "--istio-version", "2.0"], "--istio-version: Istio 2.0 is not supported"),
    "expect-version-garbage": (["expect", "{f}", "--istio-version", "latest"], "--istio-version: 'latest' is not an Istio version"),
    "expect-no-file": (["expect"], "SCENARIO.yaml"),
    "explain-missing-to": (["explain", "{f}", "--from", "legacy/curl", "--port", "8000"], "--to"),
    "explain-unknown-workload": (["explain", "{f}", "--from", "legacy/curl", "--to", "foo/httpbn", "--port", "8000"], "--to: 'foo/httpbn' is not a workload"),
    "explain-not-a-service-port": (["explain", "{f}", "--from", "legacy/curl", "--to", "foo/httpbin", "--port", "8080"], "--port: 8080 is not a Service port"),
    "explain-port-not-int": (["explain", "{f}", "--from", "legacy/curl", "--to", "foo/httpbin", "--port", "http"], "--port"),
    "explain-port-non-ascii-digits": (["explain", "{f}", "--from", "legacy/curl", "--to", "foo/httpbin", "--port", "\u0668\u0660\u0660\u0660"],
                                      "is not a port number"),
    "explain-bad-address": (["explain", "{f}", "--from", "legacy/curl", "--to", "foo/httpbin", "--port", "8000", "--address", "ip"], "--address"),
    "explain-bad-version": (["explain", "{f}", "--from", "legacy/curl", "--to", "foo/httpbin", "--port", "8000", "--istio-version", "1.x"], "--istio-version"),
}


@pytest.mark.parametrize("case", sorted(BAD_FLAGS))
def test_bad_flags_and_versions(results: dict[str, tuple[Path, subprocess.CompletedProcess[str]]], case: str) -> None:
    assert_one_line_error(results[case][1], BAD_FLAGS[case][1])
