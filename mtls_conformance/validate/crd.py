"""Validate Istio objects against a CRD file: the OpenAPI v3 schema of their apiVersion, then its CEL rules.

Unknown fields are errors, as with ``kubectl apply`` (strict field validation, the default since Kubernetes 1.27).
Messages follow the API server's format (``spec.mtls.mode: Unsupported value: "BLAH"``), so the upstream
examples' expected error substrings can be checked.
"""

from __future__ import annotations

import copy
import functools
import json
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

import jsonschema
import yaml

from mtls_conformance.errors import InputError
from mtls_conformance.validate.cel import rule_violations
from mtls_conformance.validate.metadata import metadata_violations

_TOP_LEVEL = {"apiVersion": {"type": "string"}, "kind": {"type": "string"}, "metadata": {"type": "object"}}


def _strict(schema: Any) -> Any:
    """A copy where objects with declared properties reject undeclared ones, and ``nullable`` admits null."""
    if isinstance(schema, list):
        return [_strict(s) for s in schema]
    if not isinstance(schema, Mapping):
        return schema
    out = {k: _strict(v) for k, v in schema.items()}
    if "properties" in out and "additionalProperties" not in out and not out.get("x-kubernetes-preserve-unknown-fields"):
        out["additionalProperties"] = False
    if out.get("nullable") and isinstance(out.get("type"), str):
        out["type"] = [out["type"], "null"]
    return out


def _path(parts: Any) -> str:
    text = ""
    for p in parts:
        text += f"[{p}]" if isinstance(p, int) else (f".{p}" if text else str(p))
    return text


def _message(error: jsonschema.ValidationError) -> str:
    path = _path(error.absolute_path) or "<root>"
    value: Any = error.validator_value
    instance: Any = error.instance
    schema: Any = error.schema
    shown = json.dumps(instance) if not isinstance(instance, Mapping | list) else f'"{type(instance).__name__}"'
    match error.validator:
        case "enum":
            return f"{path}: Unsupported value: {shown}: supported values: " + ", ".join(json.dumps(v) for v in value)
        case "required":
            missing = [r for r in value if isinstance(instance, Mapping) and r not in instance]
            return "; ".join(f"{path}.{m}: Required value" if path != "<root>" else f"{m}: Required value" for m in missing)
        case "additionalProperties":
            extra = sorted(set(instance) - set(schema.get("properties") or {})) if isinstance(instance, Mapping) else []
            return "; ".join(f'{path}: unknown field "{e}"' for e in extra) or f"{path}: {error.message}"
        case "minimum":
            return f"{path}: Invalid value: {shown}: {path} in body should be greater than or equal to {value}"
        case "maximum":
            return f"{path}: Invalid value: {shown}: {path} in body should be less than or equal to {value}"
        case "minProperties":
            return f"{path} in body should have at least {value} properties"
        case "maxProperties":
            return f"{path} in body should have at most {value} properties"
        case "minItems" | "maxItems" | "minLength" | "maxLength" | "pattern" | "format":
            return f"{path}: Invalid value: {shown}: {path} in body should match '{error.validator}: {value}'"
        case "type":
            return f"{path}: Invalid value: {shown}: {path} in body must be of type {value}"
        case _:
            return f"{path}: Invalid value: {error.message}"


class CrdValidator:
    """Validator for the custom resources one CRD file defines (e.g. Istio's crd-all.gen.yaml)."""

    def __init__(self, crd_path: str | Path) -> None:
        path = Path(crd_path)
        try:
            docs = list(yaml.load_all(path.read_text(encoding="utf-8"), Loader=getattr(yaml, "CSafeLoader", yaml.SafeLoader)))
        except (OSError, yaml.YAMLError) as exc:
            raise InputError(str(path), f"cannot read the CRD file ({exc.__class__.__name__})", "pass a CRD YAML file such as crd-all.gen.yaml") from None
        self.path = path
        self._schemas: dict[tuple[str, str], Mapping[str, Any]] = {}
        self._namespaced: dict[tuple[str, str], bool] = {}
        for doc in docs:
            if not isinstance(doc, Mapping) or doc.get("kind") != "CustomResourceDefinition":
                continue
            spec = doc["spec"]
            for version in spec.get("versions") or []:
                key = (f"{spec['group']}/{version['name']}", spec["names"]["kind"])
                self._schemas[key] = version["schema"]["openAPIV3Schema"]
                self._namespaced[key] = spec.get("scope") == "Namespaced"
        if not self._schemas:
            raise InputError(str(path), "holds no CustomResourceDefinition", "pass Istio's crd-all.gen.yaml")

    def handles(self, obj: Mapping[str, Any]) -> bool:
        return (str(obj.get("apiVersion")), str(obj.get("kind"))) in self._schemas

    @functools.cache  # noqa: B019 - one validator per schema for the validator's lifetime is the point
    def _validator(self, key: tuple[str, str]) -> jsonschema.Draft4Validator:
        schema = copy.deepcopy(dict(self._schemas[key]))
        schema["properties"] = {**_TOP_LEVEL, **(schema.get("properties") or {})}
        return jsonschema.Draft4Validator(_strict(schema))

    def errors(self, obj: Mapping[str, Any]) -> list[str]:
        """Every problem with ``obj``; empty when the API server would accept it."""
        key = (str(obj.get("apiVersion")), str(obj.get("kind")))
        if key not in self._schemas:
            return [f"{key[1]} {key[0]}: no such resource in {self.path.name}"]
        return list(self._errors(key, obj))

    def _errors(self, key: tuple[str, str], obj: Mapping[str, Any]) -> Iterator[str]:
        yield from metadata_violations(obj, self._namespaced[key])
        # The schema gives metadata no structure, so everything else depends only on the rest of the object:
        # phases repeat the same specs under different labels, and CEL evaluation is slow.
        rest = {k: v for k, v in obj.items() if k != "metadata"}
        yield from self._content_errors(key, json.dumps(rest, sort_keys=True))

    @functools.cache  # noqa: B019 - memoised for the validator's lifetime on purpose
    def _content_errors(self, key: tuple[str, str], canonical: str) -> tuple[str, ...]:
        obj = {**json.loads(canonical), "metadata": {}}
        schema_errors = sorted(self._validator(key).iter_errors(obj), key=lambda e: (list(map(str, e.absolute_path)), str(e.validator)))
        if schema_errors:
            return tuple(_message(e) for e in schema_errors)
        return tuple(rule_violations(self._schemas[key], obj))  # like the API server: CEL runs on schema-valid objects
