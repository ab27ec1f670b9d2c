"""A pytest plugin, loaded into pytester runs with ``-p flip_engine``, that makes the engine give the opposite
answer while the fake mesh still behaves like real Istio: the suites must then fail, which proves their
expectations come from the engine. Tests copy this file into the pytester project (``FLIP_ENGINE``)."""

from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import Any

import mtls_conformance.engine as engine
from mtls_conformance.outcomes import ProbeOutcome

FLIP_ENGINE = Path(__file__).read_text()

_real = engine.expect


def _flipped(scenario: Any, probe: Any, version: Any = None) -> engine.Expectation:
    e = _real(scenario, probe, version)
    if e.connect:
        return dataclasses.replace(e, connect=False, mtls=None, failure=ProbeOutcome.RESET)
    return dataclasses.replace(e, connect=True, mtls=False, failure=None)


def pytest_configure(config: Any) -> None:
    engine.expect = _flipped  # type: ignore[assignment]
