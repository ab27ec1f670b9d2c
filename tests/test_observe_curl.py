"""The probe script runs for real with /bin/sh against servers in a network namespace; its output is parsed."""

from __future__ import annotations

import subprocess

import pytest
from netns import background, netns_pair, require, servers_argv

from mtls_conformance.observe.curl import (
    END_TAG,
    RECORD_TAG,
    echo_token,
    parse_probe_output,
    pod_ip_placeholder,
    probe_script,
    probe_spec_from,
    resolve_pod_ips,
)
from mtls_conformance.observe.model import ProbeSpec
from mtls_conformance.outcomes import ProbeOutcome
from mtls_conformance.scenario.load import parse_scenario

# the XFCC value of Istio's docs (see tests/test_observe_xfcc.py), served by the test server and echoed back
XFCC = 'By=spiffe://cluster.local/ns/foo/sa/httpbin;Hash=abc;Subject="";URI=spiffe://cluster.local/ns/foo/sa/curl'

SCENARIO = """
workloads:
  - {name: httpbin, namespace: foo, ports: [{name: http, port: 8000, targetPort: 8080}, {name: tcp, port: 9000, protocol: tcp}]}
  - {name: curl, namespace: legacy, sidecar: false, ports: []}
probes:
  - {from: legacy/curl, to: foo/httpbin, port: 8000}
  - {from: legacy/curl, to: foo/httpbin, port: 9000}
  - {from: legacy/curl, to: foo/httpbin, port: 8080, address: pod}
"""


def test_probe_spec_from_scenario_uses_service_name_or_pod_placeholder() -> None:
    sc = parse_scenario(SCENARIO)
    http, tcp, pod = (probe_spec_from(sc, p) for p in sc.probes)
    assert (http.host, http.port, http.protocol, http.path) == ("httpbin.foo.svc.cluster.local", 8000, "http", "/headers")
    assert (tcp.host, tcp.port, tcp.protocol) == ("httpbin.foo.svc.cluster.local", 9000, "tcp")
    assert pod.host == pod_ip_placeholder("foo/httpbin") and pod.port == 8080 and pod.protocol == "http"
    with pytest.raises(ValueError, match="placeholder"):
        probe_script([pod])
    assert resolve_pod_ips(pod, {"foo/httpbin": "10.1.2.3"}).host == "10.1.2.3"
    with pytest.raises(KeyError):
        resolve_pod_ips(pod, {})


def test_script_is_posix_and_one_connection_per_probe() -> None:
    specs = [ProbeSpec("a->b:80", "b", 80), ProbeSpec("a->b:90", "b", 90, "tcp")]
    script = probe_script(specs, max_time_s=3, parallel=False)
    assert script.count("\nhttp_probe ") == 1 and script.count("\ntcp_probe ") == 1
    assert "--max-time 3 " in script and "Connection: close" in script
    assert subprocess.run(["sh", "-n"], input=script, text=True, check=False).returncode == 0
    with pytest.raises(ValueError, match="unique"):
        probe_script([specs[0], specs[0]])


def test_parse_maps_exit_codes_and_statuses() -> None:
    # Hand-written records. The record format is the project's own (observe/curl.py's printf lines), and the real script
    # is run with real curl against real servers in test_script_against_real_servers_in_a_namespace below, which pins
    # it. The exit codes are curl's documented ones (https://curl.se/docs/manpage.html#EXIT): 6 could not resolve host,
    # 7 failed to connect, 28 operation timeout, 35 TLS/SSL connect error, 52 empty reply from server, 56 failure in
    # receiving network data (a reset), 47 too many redirects (a code the parser has no meaning for).
    def rec(pid: str, proto: str, rc: int, code: int, body: bytes = b"", token: str = "-") -> str:
        return f"{RECORD_TAG} {pid.encode().hex()} {proto} {rc} {code:03d} 0.01 {len(body)} {body.hex() or '-'} {token} -"

    tok = echo_token("t")
    text = "\n".join([
        rec("r56", "http", 56, 0), rec("r52", "http", 52, 0), rec("t35", "http", 35, 0), rec("t28", "http", 28, 0),
        rec("c7", "http", 7, 0), rec("c6", "http", 6, 0), rec("h200", "http", 0, 200, b'{"headers":{}}'),
        rec("h403", "http", 0, 403), rec("h503", "http", 0, 503), rec("h404", "http", 0, 404),
        rec("t", "tcp", 28, 0, (tok + "\n").encode(), tok), rec("tclosed", "tcp", 0, 0, b"", tok),
        rec("weird", "http", 47, 0), "garbage line", f"{RECORD_TAG} zz http", f"{END_TAG} 13",
    ])
    got = {o.probe_id: o for o in parse_probe_output(text, expected_ids=["r56", "missing"])}
    assert got["r56"].outcome is ProbeOutcome.RESET and got["r52"].outcome is ProbeOutcome.RESET
    assert got["t35"].outcome is ProbeOutcome.TLS_ERROR and got["t28"].outcome is ProbeOutcome.TIMEOUT
    assert got["c7"].outcome is ProbeOutcome.CONNECT_ERROR and got["c6"].outcome is ProbeOutcome.CONNECT_ERROR
    assert got["h200"].outcome is ProbeOutcome.OK and got["h200"].mtls is False
    assert got["h403"].outcome is ProbeOutcome.HTTP_403 and got["h503"].outcome is ProbeOutcome.HTTP_503
    assert got["h404"].outcome is ProbeOutcome.HTTP_OTHER
    assert got["t"].outcome is ProbeOutcome.OK and got["t"].mtls is None  # TCP: the header oracle cannot tell
    assert got["tclosed"].outcome is ProbeOutcome.RESET
    assert got["weird"].outcome is ProbeOutcome.INCONCLUSIVE
    assert got["missing"].outcome is ProbeOutcome.INCONCLUSIVE
    assert parse_probe_output("", expected_ids=["x"])[0].outcome is ProbeOutcome.INCONCLUSIVE


@pytest.mark.netns
def test_script_against_real_servers_in_a_namespace() -> None:
    require("ip", "curl", "sh")
    with netns_pair("h4cu") as net:
        server = servers_argv(
            "--bind", net.server_ip, "--http-echo", "8080", "--http-xfcc", f"8081:{XFCC}", "--reset", "8082",
            "--status", "8083:503", "--status", "8084:403", "--empty", "8085", "--hang", "8086", "--forge", "8087",
            "--tcp-echo", "9000", "--close", "9001",
        )
        with background(net.argv(net.server_ns, server), "READY"):
            ip = net.server_ip
            specs = [
                ProbeSpec("plain", ip, 8080), ProbeSpec("mtls", ip, 8081), ProbeSpec("reset", ip, 8082),
                ProbeSpec("s503", ip, 8083), ProbeSpec("s403", ip, 8084), ProbeSpec("empty", ip, 8085),
                ProbeSpec("hang", ip, 8086), ProbeSpec("forged", ip, 8087), ProbeSpec("refused", ip, 8099),
                ProbeSpec("tcp", ip, 9000, "tcp"), ProbeSpec("tcpclosed", ip, 9001, "tcp"),
                ProbeSpec("dns", "no-such-host.invalid", 80),
            ]
            script = probe_script(specs, max_time_s=1.5, tcp_max_time_s=1)
            result = net.run(net.client_ns, ["sh", "-c", script], timeout=30)
    assert result.returncode == 0, result.stderr
    assert result.stdout.count(RECORD_TAG + " ") == len(specs)
    got = {o.probe_id: o for o in parse_probe_output(result.stdout, [s.probe_id for s in specs])}
    assert len(got) == len(specs)
    assert got["plain"].outcome is ProbeOutcome.OK and got["plain"].http_status == 200 and got["plain"].mtls is False
    assert got["mtls"].outcome is ProbeOutcome.OK and got["mtls"].mtls is True and got["mtls"].xfcc == XFCC
    assert got["mtls"].client_identity == "spiffe://cluster.local/ns/foo/sa/curl"
    assert got["mtls"].server_identity == "spiffe://cluster.local/ns/foo/sa/httpbin"
    assert (got["reset"].outcome, got["reset"].curl_exit) == (ProbeOutcome.RESET, 56)
    assert (got["empty"].outcome, got["empty"].curl_exit) == (ProbeOutcome.RESET, 52)
    assert got["s503"].outcome is ProbeOutcome.HTTP_503 and got["s403"].outcome is ProbeOutcome.HTTP_403
    assert (got["hang"].outcome, got["hang"].curl_exit) == (ProbeOutcome.TIMEOUT, 28)
    assert (got["refused"].outcome, got["refused"].curl_exit) == (ProbeOutcome.CONNECT_ERROR, 7)
    assert got["dns"].outcome is ProbeOutcome.CONNECT_ERROR and got["dns"].curl_exit == 6
    assert got["forged"].outcome is ProbeOutcome.OK and "MTLSPROBE1" in got["forged"].raw  # forged lines stay inside the body
    assert got["tcp"].outcome is ProbeOutcome.OK and got["tcp"].http_status is None
    assert got["tcpclosed"].outcome is ProbeOutcome.RESET
    assert "Connection reset" in got["reset"].raw
