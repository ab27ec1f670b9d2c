"""Istio's own valid/invalid CRD examples (../shared/istio/crd-validation-testdata) through the scenario loader:
every invalid example is rejected with one line; every valid one loads, unless it uses a field the engine cannot
model, which is rejected as 'not modeled' (never silently ignored)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import yaml

from mtls_conformance.errors import InputError
from mtls_conformance.scenario import parse_scenario


def _examples(shared: Path, valid: bool) -> list[tuple[str, dict[str, Any]]]:
    out = []
    for path in sorted((shared / "istio" / "crd-validation-testdata").glob(f"*-{'valid' if valid else 'invalid'}.yaml")):
        for i, doc in enumerate(d for d in yaml.safe_load_all(path.read_text()) if d):
            out.append((f"{path.name}#{i}", doc))
    return out


def _as_scenario(resource: dict[str, Any]) -> str:
    resource = {k: v for k, v in resource.items() if k != "_err"}  # test metadata, not part of the resource
    resource["metadata"] = {"namespace": "foo", **resource.get("metadata", {})}
    doc = {"workloads": [{"name": "httpbin", "namespace": "foo", "ports": [{"port": 8000, "targetPort": 8080}]}], "config": [resource]}
    return yaml.safe_dump(doc)


def test_invalid_examples_are_rejected(shared_dir: Path) -> None:
    examples = _examples(shared_dir, valid=False)
    assert len(examples) >= 10
    for name, doc in examples:
        with pytest.raises(InputError) as caught:
            parse_scenario(_as_scenario(doc), name)
        line = caught.value.one_line()
        assert line.startswith(f"{name}: config[0]") and "\n" not in line, line


def test_valid_examples_load_or_are_refused_as_not_modeled(shared_dir: Path) -> None:
    examples = _examples(shared_dir, valid=True)
    loaded = 0
    for name, doc in examples:
        try:
            parse_scenario(_as_scenario(doc), name)
            loaded += 1
        except InputError as exc:
            assert "not modeled" in exc.one_line(), f"{name} is valid for Istio but was rejected: {exc.one_line()}"
    assert loaded >= 5
