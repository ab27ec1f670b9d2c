"""Scenarios: the data every other layer consumes (workloads, Istio config, probes)."""

from mtls_conformance.scenario.load import load_scenario, parse_scenario
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

__all__ = [
    "Address",
    "IstioResource",
    "MeshConfig",
    "Probe",
    "Protocol",
    "Scenario",
    "ServicePort",
    "Workload",
    "load_scenario",
    "parse_scenario",
]
