"""Read and validate scenario files. Every problem becomes one ``InputError`` naming the file and field."""

from __future__ import annotations

import difflib
import math
from collections.abc import Mapping
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import yaml

from mtls_conformance.errors import InputError
from mtls_conformance.scenario.istio_config import check_resource
from mtls_conformance.scenario.model import (
    Address,
    IstioResource,
    MeshConfig,
    Probe,
    Protocol,
    Scenario,
    ServicePort,
    Workload,
)
from mtls_conformance.scenario.names import DNS_LABEL, bad_label, is_trust_domain

TOP_KEYS = ("name", "mesh", "workloads", "config", "probes")
MESH_KEYS = ("rootNamespace", "enableAutoMtls", "trustDomain")
WORKLOAD_KEYS = ("name", "namespace", "sidecar", "labels", "serviceAccount", "ports", "workloadOnlyPorts", "headless")
PORT_KEYS = ("name", "port", "targetPort", "protocol")
PROBE_KEYS = ("from", "to", "port", "address")

# Resources without metadata.creationTimestamp are created as the file is applied: after every resource whose
# timestamp the file gives (those already exist), in list order, one second apart (Istio's resolution).
_SYNTHETIC_EPOCH = datetime(2000, 1, 1, tzinfo=UTC).timestamp()


class _Ctx:
    """Where we are in the file, for error messages."""

    def __init__(self, path: str) -> None:
        self.path = path

    def err(self, field: str, problem: str, fix: str) -> InputError:
        where = f"{self.path}: {field}" if field else self.path
        return InputError(where, problem, fix)


def load_scenario(path: str | Path) -> Scenario:
    p = Path(path)
    ctx = _Ctx(str(p))
    if not p.exists():
        raise ctx.err("", "file not found", "pass the path of an existing scenario YAML file")
    if p.is_dir():
        raise ctx.err("", "is a directory, not a scenario file", "pass the path of a scenario YAML file")
    try:
        text = p.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise ctx.err("", f"cannot be read ({exc.__class__.__name__})", "check the file's permissions and encoding (UTF-8)") from None
    return parse_scenario(text, str(p), default_name=p.stem)


# libyaml's parser when PyYAML was built with it (phases of thousands of resources parse several times faster);
# the constructor, and so the checks below, stay in Python either way.
_SafeLoader: type[yaml.SafeLoader] = getattr(yaml, "CSafeLoader", yaml.SafeLoader)


class _StrictLoader(_SafeLoader):  # type: ignore[valid-type,misc]
    """SafeLoader that refuses duplicate mapping keys (PyYAML silently keeps the last one)."""

    def construct_mapping(self, node: yaml.MappingNode, deep: bool = False) -> dict[Any, Any]:
        seen: set[Any] = set()
        for key_node, _ in node.value:
            key = self.construct_object(key_node, deep=True)
            try:
                duplicate = key in seen
            except TypeError:
                continue  # unhashable keys are reported by the base constructor
            if duplicate:
                raise yaml.constructor.ConstructorError(
                    None, None, f"duplicate key {key!r}", key_node.start_mark
                )
            seen.add(key)
        mapping: dict[Any, Any] = super().construct_mapping(node, deep=deep)
        return mapping


def parse_scenario(text: str, path: str = "<scenario>", default_name: str = "scenario") -> Scenario:
    ctx = _Ctx(path)
    try:
        docs = [d for d in yaml.load_all(text, Loader=_StrictLoader) if d is not None]
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        at = f" at line {mark.line + 1}, column {mark.column + 1}" if mark is not None else ""
        problem = getattr(exc, "problem", None) or "invalid YAML"
        if isinstance(exc, yaml.reader.ReaderError) and isinstance(exc.character, int):
            # A character YAML forbids (NUL, other control characters): say which and where.
            line = text.count("\n", 0, exc.position) + 1
            column = exc.position - (text.rfind("\n", 0, exc.position) + 1) + 1
            at, problem = f" at line {line}, column {column}", f"character #x{exc.character:04x}: {exc.reason}"
        raise ctx.err("", f"is not valid YAML{at} ({problem})", "fix the YAML syntax (indentation, quotes, colons, duplicate keys)") from None
    except RecursionError:
        raise ctx.err("", "is nested too deeply to be a scenario", "write a flat scenario file (see docs/scenarios.md)") from None
    if not docs:
        raise ctx.err("", "is empty", "add at least a 'workloads:' list (see docs/scenarios.md)")
    if len(docs) > 1:
        raise ctx.err("", f"holds {len(docs)} YAML documents", "put one scenario per file (remove '---' separators)")
    doc = docs[0]
    if not isinstance(doc, Mapping):
        raise ctx.err("", f"top level is a {_type(doc)}, not a mapping", "start the file with keys such as 'workloads:' and 'config:'")
    _no_unknown_keys(ctx, "", doc, TOP_KEYS)

    name = doc.get("name", default_name)
    if not isinstance(name, str) or not name.strip():
        raise ctx.err("name", "must be a non-empty string", "set 'name: my-scenario' or remove it to use the file name")
    if len(name) > 253 or any(not c.isprintable() for c in name):
        # The name titles reports and result folders: keep it one printable line.
        raise ctx.err("name", "must be at most 253 printable characters", "set 'name: my-scenario' or remove it to use the file name")
    mesh = _mesh(ctx, doc.get("mesh"))
    workloads = _workloads(ctx, doc.get("workloads"))
    config = _config(ctx, doc.get("config"), mesh)
    probes = _probes(ctx, doc.get("probes"), workloads)
    return Scenario(name=name.strip(), mesh=mesh, workloads=workloads, config=config, probes=probes, path=path)


# --- helpers ---------------------------------------------------------------------------------------


def _type(value: Any) -> str:
    return {dict: "mapping", list: "list", str: "string", int: "number", float: "number", bool: "boolean"}.get(
        type(value), type(value).__name__ if value is not None else "null"
    )


def _no_unknown_keys(ctx: _Ctx, field: str, doc: Mapping[str, Any], allowed: tuple[str, ...]) -> None:
    for key in doc:
        if key not in allowed:
            close = difflib.get_close_matches(str(key), allowed, n=1)
            hint = f"did you mean '{close[0]}'?" if close else "allowed keys: " + ", ".join(allowed)
            prefix = f"{field}." if field else ""
            raise ctx.err(f"{prefix}{key}", "unknown field", hint)


def _bool(ctx: _Ctx, field: str, value: Any, default: bool) -> bool:
    if value is None:
        return default
    if not isinstance(value, bool):
        raise ctx.err(field, f"must be true or false, got {value!r}", f"write '{field.rsplit('.', 1)[-1]}: true' or 'false'")
    return value


def _port(ctx: _Ctx, field: str, value: Any) -> int:
    if isinstance(value, bool) or not isinstance(value, int):
        raise ctx.err(field, f"must be a port number, got {value!r}", "use an integer from 1 to 65535")
    if not 1 <= value <= 65535:
        raise ctx.err(field, f"port {value} is out of range", "use an integer from 1 to 65535")
    return value


def _dns_label(ctx: _Ctx, field: str, value: Any, what: str) -> str:
    if isinstance(value, bool | int | float):
        # YAML reads yes/no/on/off as booleans and 0123 as a number: the user meant a name.
        raise ctx.err(field, f"{what} is a {_type(value)} ({value!r}), not a string", "quote the name: unquoted yes/no/on/off/true/false are booleans and digits are numbers in YAML")
    if not isinstance(value, str) or not value:
        raise ctx.err(field, f"{what} is missing or not a string", f"set {field.rsplit('.', 1)[-1]} to a lowercase DNS label, e.g. 'httpbin'")
    if len(value) > 63 or not DNS_LABEL.match(value):
        raise ctx.err(field, f"{value!r} is not a valid {what}", "use lowercase letters, digits and '-', starting and ending alphanumeric, at most 63 characters")
    return value


def _mesh(ctx: _Ctx, raw: Any) -> MeshConfig:
    if raw is None:
        return MeshConfig()
    if not isinstance(raw, Mapping):
        raise ctx.err("mesh", f"must be a mapping, got a {_type(raw)}", "write 'mesh: {rootNamespace: istio-system, enableAutoMtls: true}'")
    _no_unknown_keys(ctx, "mesh", raw, MESH_KEYS)
    root = _dns_label(ctx, "mesh.rootNamespace", raw.get("rootNamespace", "istio-system"), "namespace name")
    auto = _bool(ctx, "mesh.enableAutoMtls", raw.get("enableAutoMtls"), True)
    td = raw.get("trustDomain", "cluster.local")
    if not is_trust_domain(td):
        # A SPIFFE trust domain: letters, digits, '.', '-' and '_' (https://github.com/spiffe/spiffe/blob/main/standards/SPIFFE-ID.md)
        raise ctx.err("mesh.trustDomain", f"{str(td)[:80]!r} is not a trust domain", "use a domain such as 'cluster.local'")
    return MeshConfig(root_namespace=root, enable_auto_mtls=auto, trust_domain=td)


def _workloads(ctx: _Ctx, raw: Any) -> tuple[Workload, ...]:
    if raw is None:
        raise ctx.err("workloads", "is missing", "list the workloads, e.g. 'workloads: [{name: httpbin, namespace: foo, ports: [{port: 8000, targetPort: 8080}]}]'")
    if not isinstance(raw, list) or not raw:
        raise ctx.err("workloads", "must be a non-empty list", "list at least one workload")
    result: list[Workload] = []
    seen: set[str] = set()
    for i, item in enumerate(raw):
        field = f"workloads[{i}]"
        w = _workload(ctx, field, item)
        if w.key in seen:
            raise ctx.err(field, f"workload {w.key} is declared twice", "give each workload a unique namespace/name")
        seen.add(w.key)
        result.append(w)
    return tuple(result)


def _workload(ctx: _Ctx, field: str, item: Any) -> Workload:
    if not isinstance(item, Mapping):
        raise ctx.err(field, f"must be a mapping, got a {_type(item)}", "write '- {name: httpbin, namespace: foo}'")
    _no_unknown_keys(ctx, field, item, WORKLOAD_KEYS)
    name = _dns_label(ctx, f"{field}.name", item.get("name"), "workload name")
    namespace = _dns_label(ctx, f"{field}.namespace", item.get("namespace"), "namespace name")
    sidecar = _bool(ctx, f"{field}.sidecar", item.get("sidecar"), True)
    headless = _bool(ctx, f"{field}.headless", item.get("headless"), False)
    labels_raw = item.get("labels", {"app": name})
    if not isinstance(labels_raw, Mapping) or not labels_raw:
        raise ctx.err(f"{field}.labels", "must be a non-empty mapping of label names to strings", f"write 'labels: {{app: {name}}}'")
    bad = bad_label(labels_raw)
    if bad is not None:
        raise ctx.err(f"{field}.labels.{bad[0]}", bad[1], "quote label values as strings of letters, digits, '-', '_' or '.' (at most 63 characters)")
    labels: dict[str, str] = dict(labels_raw)
    sa = _dns_label(ctx, f"{field}.serviceAccount", item.get("serviceAccount", name), "service account name")
    ports = _service_ports(ctx, f"{field}.ports", item.get("ports", []))
    wl_raw = item.get("workloadOnlyPorts", [])
    if not isinstance(wl_raw, list):
        raise ctx.err(f"{field}.workloadOnlyPorts", "must be a list of port numbers", "write 'workloadOnlyPorts: [18083]'")
    wl_only = tuple(_port(ctx, f"{field}.workloadOnlyPorts[{j}]", p) for j, p in enumerate(wl_raw))
    targets = {p.target_port for p in ports}
    for j, p in enumerate(wl_only):
        if p in targets:
            raise ctx.err(f"{field}.workloadOnlyPorts[{j}]", f"port {p} is already a Service targetPort", "list only container ports that no Service port targets")
    if len(set(wl_only)) != len(wl_only):
        raise ctx.err(f"{field}.workloadOnlyPorts", "lists a port twice", "list each port once")
    if headless and not ports:
        raise ctx.err(f"{field}.headless", "a headless Service needs ports", "add 'ports:' or remove 'headless: true'")
    if headless:
        for j, sp in enumerate(ports):
            if sp.port != sp.target_port:
                # Kubernetes does no port translation for headless Services: clients dial the pod on `port`.
                raise ctx.err(f"{field}.ports[{j}].targetPort", f"headless Service port {sp.port} targets {sp.target_port}",
                              f"set targetPort to {sp.port} (headless Services do no port translation) or remove 'headless: true'")
    return Workload(
        name=name,
        namespace=namespace,
        sidecar=sidecar,
        labels=labels,
        service_account=sa,
        ports=ports,
        workload_only_ports=wl_only,
        headless=headless,
    )


def _service_ports(ctx: _Ctx, field: str, raw: Any) -> tuple[ServicePort, ...]:
    if raw is None:
        return ()
    if not isinstance(raw, list):
        raise ctx.err(field, f"must be a list, got a {_type(raw)}", "write 'ports: [{name: http, port: 8000, targetPort: 8080}]' or 'ports: []'")
    result: list[ServicePort] = []
    for j, p in enumerate(raw):
        pf = f"{field}[{j}]"
        if not isinstance(p, Mapping):
            raise ctx.err(pf, f"must be a mapping, got a {_type(p)}", "write '{name: http, port: 8000, targetPort: 8080}'")
        _no_unknown_keys(ctx, pf, p, PORT_KEYS)
        if "port" not in p:
            raise ctx.err(f"{pf}.port", "is missing", "add the Service port, e.g. 'port: 8000'")
        port = _port(ctx, f"{pf}.port", p["port"])
        target = _port(ctx, f"{pf}.targetPort", p.get("targetPort", port))
        proto_raw = p.get("protocol", "http")
        try:
            proto = Protocol(str(proto_raw).lower())
        except ValueError:
            raise ctx.err(f"{pf}.protocol", f"{proto_raw!r} is not supported", "use 'http' or 'tcp'") from None
        pname = p.get("name", f"{proto.value}-{port}")
        _dns_label(ctx, f"{pf}.name", pname, "port name")
        result.append(ServicePort(name=pname, port=port, target_port=target, protocol=proto))
    for attr, what in (("port", "Service port"), ("name", "port name")):
        values = [getattr(p, attr) for p in result]
        for v in values:
            if values.count(v) > 1:
                raise ctx.err(field, f"{what} {v} appears twice", f"give each entry a unique {what}")
    return tuple(result)


def _timestamp(ctx: _Ctx, field: str, value: Any) -> float:
    parsed: datetime | None = value if isinstance(value, datetime) else None
    if parsed is None and isinstance(value, str):
        try:
            parsed = datetime.fromisoformat(value.strip().replace("Z", "+00:00"))
        except ValueError:
            parsed = None
    if parsed is None:
        raise ctx.err(field, f"{value!r} is not a timestamp", "use RFC 3339, e.g. '2026-01-02T03:04:05Z'")
    if parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=UTC)  # Kubernetes timestamps are UTC
    return parsed.timestamp()


def _config(ctx: _Ctx, raw: Any, mesh: MeshConfig) -> tuple[IstioResource, ...]:
    if raw is None:
        return ()
    if not isinstance(raw, list):
        raise ctx.err("config", f"must be a list of Istio resources, got a {_type(raw)}", "write 'config: [{apiVersion: security.istio.io/v1, kind: PeerAuthentication, ...}]'")
    checked: list[tuple[IstioResource, float | None]] = []
    seen: set[tuple[str, str, str]] = set()
    for i, item in enumerate(raw):
        field = f"config[{i}]"
        res = check_resource(ctx.err, field, item, mesh)
        ident = (res.kind, res.namespace, res.name)
        if ident in seen:
            raise ctx.err(f"{field}.metadata.name", f"{res.ref} is declared twice", "give each resource of a kind a unique namespace/name")
        seen.add(ident)
        ts_raw = res.creation_timestamp
        checked.append((res, _timestamp(ctx, f"{field}.metadata.creationTimestamp", ts_raw) if ts_raw is not None else None))
    given = [ts for _, ts in checked if ts is not None]
    applied_from = max(math.floor(max(given)) + 1, _SYNTHETIC_EPOCH) if given else _SYNTHETIC_EPOCH
    staged: list[tuple[float, str, str, int, IstioResource]] = []
    for i, (res, given_ts) in enumerate(checked):
        ts = given_ts if given_ts is not None else applied_from + i
        # Istio orders by creation time, then name, then namespace (pilot/pkg/model/config.go), comparing the full
        # timestamp (CreationTimestamp.Before): a fraction of a second given in the file counts.
        staged.append((ts, res.name, res.namespace, i, res))
    staged.sort(key=lambda s: (s[0], s[1], s[2]))
    ranked = []
    for rank, (*_, res) in enumerate(staged):
        ranked.append(
            IstioResource(
                api_version=res.api_version,
                kind=res.kind,
                name=res.name,
                namespace=res.namespace,
                spec=res.spec,
                created_rank=rank,
                creation_timestamp=res.creation_timestamp,
                raw=res.raw,
            )
        )
    # Keep the file's order in the tuple (it is the apply order); rank carries creation order.
    by_index = {s[3]: r for s, r in zip(staged, ranked, strict=True)}
    return tuple(by_index[i] for i in range(len(raw)))


def _probes(ctx: _Ctx, raw: Any, workloads: tuple[Workload, ...]) -> tuple[Probe, ...]:
    by_key = {w.key: w for w in workloads}
    if raw is None:
        return tuple(
            Probe(source=c.key, target=s.key, port=p.port)
            for c in workloads
            for s in workloads
            if s.key != c.key
            for p in s.ports
        )
    if not isinstance(raw, list):
        raise ctx.err("probes", f"must be a list, got a {_type(raw)}", "write 'probes: [{from: legacy/curl, to: foo/httpbin, port: 8000}]' or remove it for the default")
    result: list[Probe] = []
    for i, item in enumerate(raw):
        field = f"probes[{i}]"
        if not isinstance(item, Mapping):
            raise ctx.err(field, f"must be a mapping, got a {_type(item)}", "write '{from: legacy/curl, to: foo/httpbin, port: 8000}'")
        _no_unknown_keys(ctx, field, item, PROBE_KEYS)
        ends: list[str] = []
        for key in ("from", "to"):
            ref = item.get(key)
            if not isinstance(ref, str) or ref not in by_key:
                close = difflib.get_close_matches(str(ref), list(by_key), n=1)
                hint = f"did you mean '{close[0]}'?" if close else "use namespace/name of a workload declared under 'workloads'"
                raise ctx.err(f"{field}.{key}", f"{ref!r} is not a declared workload", hint)
            ends.append(ref)
        target = by_key[ends[1]]
        addr_raw = item.get("address", "service")
        try:
            address = Address(str(addr_raw).lower())
        except ValueError:
            raise ctx.err(f"{field}.address", f"{addr_raw!r} is not an address kind", "use 'service' (default) or 'pod'") from None
        if "port" not in item:
            raise ctx.err(f"{field}.port", "is missing", "add the port to call (Service port, or container port with address: pod)")
        port = _port(ctx, f"{field}.port", item["port"])
        if address is Address.SERVICE:
            if not target.ports:
                raise ctx.err(f"{field}.port", f"{target.key} has no Service ports", "add ports to the workload, or probe with 'address: pod' on a container port")
            if target.service_port(port) is None:
                valid = ", ".join(str(p.port) for p in target.ports)
                raise ctx.err(f"{field}.port", f"{port} is not a Service port of {target.key}", f"use one of its Service ports ({valid}), or 'address: pod' with a container port")
        elif port not in target.container_ports:
            valid = ", ".join(str(p) for p in target.container_ports) or "none"
            raise ctx.err(f"{field}.port", f"{port} is not a container port of {target.key}", f"with 'address: pod' use a container port ({valid})")
        result.append(Probe(source=ends[0], target=ends[1], port=port, address=address))
    return tuple(result)
