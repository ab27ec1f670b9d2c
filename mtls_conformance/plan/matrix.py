"""The conformance matrix: its dimensions, the coordinates of one case, and which combinations are meaningful.

Collapsed combinations (documented in docs/profiles.md):
- a server without a sidecar has no PeerAuthentication to obey, so its namespace, workload and port-level
  modes are always ``none`` (any other value would repeat the same case);
- a plaintext client has no sidecar to read a DestinationRule, so its DestinationRule is always ``none``;
- ``portLevelMtls`` needs a workload selector (CRD rule "portLevelMtls requires selector"), so a port-level
  value needs a workload policy: with workload ``none`` only port ``none`` exists (workload ``UNSET`` plus a
  port-level value is exactly "a selector policy that only sets ports").
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from dataclasses import asdict, dataclass, fields
from itertools import product

PA_MODES = ("none", "UNSET", "PERMISSIVE", "STRICT", "DISABLE")  # "none": no policy at that scope
SERVICE_PORT_CONTROL = "svcport-DISABLE"  # negative control: DISABLE keyed on the Service port, which must not apply
PORT_MODES = ("none", "PERMISSIVE", "STRICT", "DISABLE", SERVICE_PORT_CONTROL)
DR_MODES = ("none", "notls", "DISABLE", "ISTIO_MUTUAL", "SIMPLE")  # "notls": a trafficPolicy without tls
AUTO_MTLS = ("on", "off")
CLIENTS = ("sidecar", "plaintext")
SERVERS = ("sidecar", "none")

DIMENSIONS: Mapping[str, tuple[str, ...]] = {
    "mesh": PA_MODES,
    "ns": PA_MODES,
    "wl": PA_MODES,
    "port": PORT_MODES,
    "dr": DR_MODES,
    "auto": AUTO_MTLS,
    "client": CLIENTS,
    "server": SERVERS,
}
# Only these change mesh-global state (the root-namespace policy, meshConfig.enableAutoMtls).
GLOBAL_DIMENSIONS = ("mesh", "auto")


@dataclass(frozen=True)
class Coordinates:
    mesh: str
    ns: str
    wl: str
    port: str
    dr: str
    auto: str
    client: str
    server: str

    @property
    def id(self) -> str:
        return (f"mesh-{self.mesh}/ns-{self.ns}/wl-{self.wl}/port-{self.port}/dr-{self.dr}/auto-{self.auto}/"
                f"{self.client}->{self.server}")

    def as_dict(self) -> dict[str, str]:
        return asdict(self)

    def sort_key(self) -> tuple[int, ...]:
        return tuple(DIMENSIONS[f.name].index(getattr(self, f.name)) for f in fields(self))


def is_meaningful(c: Coordinates) -> bool:
    """False for the collapsed combinations listed in the module docstring."""
    if c.server == "none" and (c.ns, c.wl, c.port) != ("none", "none", "none"):
        return False
    if c.client == "plaintext" and c.dr != "none":
        return False
    return not (c.wl == "none" and c.port != "none")


def all_coordinates() -> Iterator[Coordinates]:
    """The full product of meaningful combinations, in dimension order."""
    for values in product(*DIMENSIONS.values()):
        c = Coordinates(*values)
        if is_meaningful(c):
            yield c
