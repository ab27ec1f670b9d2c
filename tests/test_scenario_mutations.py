"""Seeded random mutations of valid scenarios: each either loads and gets a consistent expectation for every probe,
or is rejected with one InputError line; nothing else (no TypeError, KeyError, traceback) may escape."""

from __future__ import annotations

import copy
import random
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml

from mtls_conformance.engine import expect_all
from mtls_conformance.errors import InputError
from mtls_conformance.scenario import parse_scenario

SCENARIOS = Path(__file__).resolve().parent / "scenarios"
VALUES: list[Any] = [None, 0, -1, 1, 65536, "", "x", "STRICT", "DISABLE", True, [], {}, [None], {"a": None}, 1.5, "8080",
                     ["*"], {"mode": "STRICT"}, [{}], "~", ".", {"matchLabels": {}}, [8080], "2026-01-01T00:00:00Z"]
EXTRA_CONFIG: list[dict[str, Any]] = [
    {"apiVersion": "networking.istio.io/v1", "kind": "DestinationRule", "metadata": {"name": "d", "namespace": "foo"},
     "spec": {"host": "httpbin", "exportTo": ["*"], "workloadSelector": {"matchLabels": {"app": "curl"}},
              "trafficPolicy": {"tls": {"mode": "ISTIO_MUTUAL"}, "portLevelSettings": [{"port": {"number": 8000}, "tls": {"mode": "DISABLE"}}]}}},
    {"apiVersion": "security.istio.io/v1", "kind": "AuthorizationPolicy", "metadata": {"name": "a", "namespace": "foo"},
     "spec": {"action": "DENY", "rules": [{"from": [{"source": {"notPrincipals": ["*"], "namespaces": ["x"]}}],
                                           "to": [{"operation": {"ports": ["8080"]}}]}]}},
]


def _paths(node: Any, prefix: tuple[Any, ...] = ()) -> Iterator[tuple[Any, ...]]:
    if prefix:
        yield prefix
    if isinstance(node, dict):
        for k, v in node.items():
            yield from _paths(v, (*prefix, k))
    elif isinstance(node, list):
        for i, v in enumerate(node):
            yield from _paths(v, (*prefix, i))


def _mutate(doc: dict[str, Any], rnd: random.Random, paths: list[tuple[Any, ...]]) -> dict[str, Any]:
    out = copy.deepcopy(doc)
    for _ in range(rnd.randint(1, 3)):
        path = rnd.choice(paths)
        parent: Any = out
        try:
            for key in path[:-1]:
                parent = parent[key]
            if isinstance(parent, dict) and rnd.random() < 0.15:
                del parent[path[-1]]
            else:
                parent[path[-1]] = copy.deepcopy(rnd.choice(VALUES))
        except (KeyError, IndexError, TypeError):
            continue  # an earlier mutation changed the shape above this path
    return out


@pytest.mark.parametrize("source", ["docs/authn-policy-port-level.yaml", "named/most-restrictive-claim-refuted.yaml"])
def test_mutated_scenarios_load_or_fail_cleanly(source: str) -> None:
    base = yaml.safe_load((SCENARIOS / source).read_text())
    base["config"] = [*base["config"], *EXTRA_CONFIG]
    paths = list(_paths(base))
    rnd = random.Random(source)
    loaded = rejected = 0
    for _ in range(150):
        text = yaml.safe_dump(_mutate(base, rnd, paths))
        try:
            scenario = parse_scenario(text, "mutated.yaml")
        except InputError as exc:
            line = exc.one_line()
            assert line.startswith("mutated.yaml") and "\n" not in line and "; fix: " in line
            rejected += 1
            continue
        for e in expect_all(scenario):
            assert e.connect is (e.failure is None)
            assert (e.mtls is None) is (not e.connect)
            assert e.rules and all(r.source.startswith("https://") for r in e.rules)
        loaded += 1
    assert loaded >= 3 and rejected >= 50, (loaded, rejected)
