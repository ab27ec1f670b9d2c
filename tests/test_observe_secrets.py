"""SDS secrets (istioctl proxy-config secret) on the real artefacts, and Envoy /certs on minted certificates.

Both shapes Envoy answers in: the whole SecretsConfigDump (istio.secrets-config_dump.json, a real capture) and the
entries ``/config_dump?resource=dynamic_active_secrets`` lists, each an Any of SecretsConfigDump.DynamicSecret
(istio.dynamic_active_secrets.resource-filtered.DERIVED.json, a derivation: ../shared/istio/SOURCES.md "Derived";
Envoy's addResourceToDump packs each element of the repeated field, see tests/support/sds_answers.py).
"""

from __future__ import annotations

import base64
import datetime as dt
import json
from pathlib import Path

import pytest
from paths import SHARED
from support.pki_fixtures import envoy_certs_document
from support.sds_answers import FILTERED, FULL, envelope, with_certificates

from fixtures.rotation import SECRETS_DUMP
from mtls_conformance.observe.envoy_certs import parse_certs, workload_certs
from mtls_conformance.observe.pki import mint_ca, mint_workload
from mtls_conformance.observe.secrets import ACTIVE_SECRETS_DUMP, parse_secrets, root_secrets, summary_table, workload_secret

ARTEFACTS = SHARED / "istio" / "proxy-artifacts" / "istioctl-secret"
NOW = dt.datetime(2026, 11, 26, tzinfo=dt.UTC)


def _artefact(name: str) -> Path:
    path = ARTEFACTS / name
    if not path.exists():
        pytest.fail(f"shared artefact missing: {path}")
    return path


@pytest.mark.parametrize("name", ["istio", "spire"])
def test_summary_table_matches_istioctl_golden_output(name: str) -> None:
    items = parse_secrets(json.loads(_artefact(f"{name}.secrets-config_dump.json").read_text()))
    assert summary_table(items, NOW) == _artefact(f"{name}.pc-secret-output.txt").read_text()


def test_istio_secret_facts() -> None:
    items = parse_secrets(json.loads(_artefact("istio.secrets-config_dump.json").read_text()))
    assert [(i.name, i.state) for i in items] == [("configmap://some/thing", "WARMING"), ("default", "ACTIVE"), ("ROOTCA", "ACTIVE")]
    wl = workload_secret(items)
    assert wl is not None and wl.first is not None
    assert wl.first.serial_hex == "6fbee254c22900615cb1f74e3d2f1713"
    assert wl.first.spiffe_id == "spiffe://cluster.local/ns/ambient/sa/namespace-istio-waypoint"
    # 24h TTL plus the CA's 2-minute NotBefore back-dating
    assert wl.first.not_after - wl.first.not_before == dt.timedelta(hours=24, minutes=2)
    assert wl.valid_at(dt.datetime(2023, 5, 15, 12, tzinfo=dt.UTC)) and not wl.valid_at(NOW)
    (root,) = root_secrets(items)
    assert root.first is not None and root.first.is_ca and root.first.serial_hex == "0193a543fe2b0d9cd4847675394dfc54"
    assert wl.chain[-1].serial == root.first.serial  # the chain ends with the root in ROOTCA


def test_camel_case_json_from_istioctl() -> None:
    doc = json.loads(_artefact("istio.secrets-config_dump.json").read_text())
    entry = doc["configs"][0]["dynamic_active_secrets"][0]
    pem = entry["secret"]["tls_certificate"]["certificate_chain"]["inline_bytes"]
    camel = {"dynamicActiveSecrets": [{"name": "default", "secret": {"tlsCertificate": {"certificateChain": {"inlineBytes": pem}}}}]}
    wl = workload_secret(parse_secrets(camel))
    assert wl is not None and wl.first is not None and wl.first.serial_hex == "6fbee254c22900615cb1f74e3d2f1713"
    assert base64.b64decode(pem).startswith(b"-----BEGIN CERTIFICATE-----")


def test_resource_filtered_answer_gives_the_active_secrets_of_the_full_dump() -> None:
    """What the rotation driver gets back from Envoy: the same secrets as the full dump's active ones."""
    full = parse_secrets(envelope(FULL))
    filtered = parse_secrets(envelope(FILTERED))
    assert [(i.name, i.state) for i in filtered] == [("default", "ACTIVE"), ("ROOTCA", "ACTIVE")]
    assert filtered == tuple(i for i in full if i.state == "ACTIVE")
    wl = workload_secret(filtered)
    assert wl is not None and wl.first is not None and wl.first.serial_hex == "6fbee254c22900615cb1f74e3d2f1713"


def test_the_derived_artefact_is_the_full_dump_entries_each_typed_as_dynamic_secret() -> None:
    """SOURCES.md's derivation, checked: each active entry unchanged, with the DynamicSecret @type added."""
    active = envelope(FULL)["configs"][0]["dynamic_active_secrets"]
    configs = envelope(FILTERED)["configs"]
    assert {c.pop("@type") for c in configs} == {"type.googleapis.com/envoy.admin.v3.SecretsConfigDump.DynamicSecret"}
    assert configs == active


def test_the_driver_asks_for_what_the_parser_reads() -> None:
    assert SECRETS_DUMP == ACTIVE_SECRETS_DUMP == "config_dump?resource=dynamic_active_secrets"


def test_minted_certificates_in_either_envelope_parse_alike() -> None:
    root = mint_ca("root", not_before=NOW - dt.timedelta(days=1), lifetime=dt.timedelta(days=3650))
    leaf = mint_workload("spiffe://cluster.local/ns/foo/sa/httpbin", root, not_before=NOW, lifetime=dt.timedelta(hours=1), serial=0x0ABC)
    for name in (FULL, FILTERED):
        items = parse_secrets(with_certificates(envelope(name), leaf.cert_pem + root.cert_pem, root.cert_pem))
        wl, (ca,) = workload_secret(items), root_secrets(items)
        assert wl is not None and wl.first is not None and wl.first.serial == 0xABC and len(wl.chain) == 2, name
        assert ca.first is not None and ca.first.serial == root.cert.serial_number, name


def test_an_empty_answer_has_no_secrets() -> None:
    """A proxy before its first SDS push: Envoy omits the empty repeated field, so the answer is {} (or empty configs)."""
    assert parse_secrets({}) == () and parse_secrets({"configs": []}) == ()


@pytest.mark.parametrize(("doc", "named"), [
    ({"certificates": []}, "keys 'certificates'"),
    ([{"name": "default"}], "a JSON array of 1 item"),
    ("LIVE", "a JSON string"),
    ({"configs": [{"@type": "type.googleapis.com/envoy.admin.v3.ListenersConfigDump.DynamicListener", "name": "x"}]},
     "envoy.admin.v3.ListenersConfigDump.DynamicListener"),
    ({"configs": [{"name": "default", "secret": {}}]}, "an entry without @type"),
    ({"configs": {"dynamic_active_secrets": []}}, "configs is a JSON object"),
])
def test_neither_shape_is_a_one_line_error_naming_what_came(doc: object, named: str) -> None:
    with pytest.raises(ValueError, match="not an Envoy secrets dump") as err:
        parse_secrets(doc)  # type: ignore[arg-type]
    assert named in str(err.value) and "\n" not in str(err.value)


def test_envoy_certs_from_minted_certificates() -> None:
    root = mint_ca("root", not_before=NOW - dt.timedelta(days=1), lifetime=dt.timedelta(days=3650))
    leaf = mint_workload("spiffe://cluster.local/ns/foo/sa/httpbin", root, not_before=NOW - dt.timedelta(minutes=2),
                         lifetime=dt.timedelta(hours=24, minutes=2), serial=0x0ABC)
    doc = json.loads(json.dumps(envoy_certs_document([leaf], [root], NOW)))
    certs = parse_certs(doc)
    assert [c.section for c in certs] == ["cert_chain", "ca_cert"]
    (wl,) = workload_certs(doc)
    assert wl.serial == 0xABC and wl.spiffe_id == "spiffe://cluster.local/ns/foo/sa/httpbin"
    assert wl.expiration == leaf.cert.not_valid_after_utc and wl.days_until_expiration == 1
    assert parse_certs({"certificates": []}) == ()
