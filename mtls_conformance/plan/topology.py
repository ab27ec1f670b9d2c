"""The suite's standard workloads and the Istio documents that put one case's coordinates into effect.

Names are derived from the coordinates that are *not* mesh-global, so every phase reuses the same namespaces,
Deployments and Services: between phases only the Istio config and meshConfig change, never a pod.
"""

from __future__ import annotations

from typing import Any

from mtls_conformance.scenario.model import Address, MeshConfig, Probe, Protocol, ServicePort, Workload

SECURITY_API = "security.istio.io/v1"  # served since Istio 1.22 (https://istio.io/latest/blog/2024/v1-apis/)
NETWORKING_API = "networking.istio.io/v1"
API_FEATURES = {SECURITY_API: "api.security-v1-served", NETWORKING_API: "api.networking-v1-served"}  # data/istio-versions.yaml

# Service port != target port, as in Istio's httpbin sample (8000 -> 8080): PeerAuthentication portLevelMtls keys on
# the container port, DestinationRule portLevelSettings on the Service port.
HTTP = ServicePort("http", 8000, 8080, Protocol.HTTP)
HTTP_EXTRA = ServicePort("http-extra", 9000, 9080, Protocol.HTTP)  # never keyed: shows port-level scoping
TCP = ServicePort("tcp", 9001, 9090, Protocol.TCP)
BACKEND_PORTS = (HTTP, HTTP_EXTRA, TCP)
WORKLOAD_ONLY_PORT = 18080  # a container port no Service exposes (pass-through filter chain)
PORT_LEVEL_KEYS = (HTTP.target_port, WORKLOAD_ONLY_PORT)

CLIENT_NAMESPACE = "mc-client"  # sidecar client; no policy, no DestinationRule in it
LEGACY_NAMESPACE = "mc-legacy"  # plaintext client; no injection
NO_SIDECAR_NAMESPACE = "mc-nosidecar"  # backend without a sidecar; no injection
SIDECAR_CLIENT = Workload(name="curl", namespace=CLIENT_NAMESPACE, sidecar=True, labels={"app": "curl"}, service_account="curl")
PLAINTEXT_CLIENT = Workload(name="curl", namespace=LEGACY_NAMESPACE, sidecar=False, labels={"app": "curl"}, service_account="curl")


def slug(value: str) -> str:
    return value.lower().replace("_", "-")


def backend(name: str, namespace: str, sidecar: bool, app: str | None = None) -> Workload:
    """A backend Service ``name`` selecting the pods labelled ``app`` (Services of one app share its pods)."""
    app = app or name
    return Workload(name=name, namespace=namespace, sidecar=sidecar, labels={"app": app}, service_account=app,
                    ports=BACKEND_PORTS, workload_only_ports=(WORKLOAD_ONLY_PORT,))


def backend_probes(client: Workload, server: Workload, pod_ip: bool) -> tuple[Probe, ...]:
    probes = [Probe(client.key, server.key, p.port) for p in BACKEND_PORTS]
    if pod_ip:
        probes.append(Probe(client.key, server.key, WORKLOAD_ONLY_PORT, Address.POD))
    return tuple(probes)


def mesh_config(auto: str, root_namespace: str = "istio-system") -> MeshConfig:
    return MeshConfig(root_namespace=root_namespace, enable_auto_mtls=auto == "on")


def peer_authentication(name: str, namespace: str, mode: str | None, app: str | None = None,
                        port_modes: dict[int, str] | None = None) -> dict[str, Any]:
    """A PeerAuthentication; ``mode`` None leaves ``mtls`` out, ``app`` adds a selector."""
    spec: dict[str, Any] = {}
    if app is not None:
        spec["selector"] = {"matchLabels": {"app": app}}
    if mode is not None:
        spec["mtls"] = {"mode": mode}
    if port_modes:
        spec["portLevelMtls"] = {str(port): {"mode": m} for port, m in sorted(port_modes.items())}
    return {"apiVersion": SECURITY_API, "kind": "PeerAuthentication", "metadata": {"name": name, "namespace": namespace}, "spec": spec}


def port_level_modes(port: str) -> dict[int, str]:
    """portLevelMtls of a matrix port value: the mode on the HTTP and workload-only container ports, or the control."""
    if port == "none":
        return {}
    if port.startswith("svcport-"):
        return {HTTP.port: port.removeprefix("svcport-")}  # the Service port (8000): Istio must ignore it
    return dict.fromkeys(PORT_LEVEL_KEYS, port)


def destination_rule(server: Workload, dr: str) -> dict[str, Any] | None:
    """The DestinationRule of a matrix dr value for ``server``'s Service, in the Service's namespace."""
    if dr == "none":
        return None
    if dr == "notls":
        traffic_policy: dict[str, Any] = {"loadBalancer": {"simple": "ROUND_ROBIN"}}
    else:
        traffic_policy = {"tls": {"mode": dr}}
    return {"apiVersion": NETWORKING_API, "kind": "DestinationRule", "metadata": {"name": server.name, "namespace": server.namespace},
            "spec": {"host": server.host, "trafficPolicy": traffic_policy}}
