"""Validate built-in Kubernetes objects against kubernetes-validate's schemas, on the Kubernetes minor of kind-config.yaml.

``kubernetes_validate.validate`` re-reads its multi-megabyte definitions file on every call (tens of ms); a phase
has hundreds of objects, so we build one validator per kind from the same schema files, in the same way
(strict schemas: unknown fields are errors), and keep it.
"""

from __future__ import annotations

import functools
import json
import re
from collections.abc import Mapping
from typing import Any

import jsonschema
from kubernetes_validate import utils as kv
from referencing import Registry, Resource

# The kind node image in kind-config.yaml runs Kubernetes 1.34; keep the two on the same minor.
KUBERNETES_VERSION = "1.34.0"


def _schema_version(desired: str) -> str:
    """The newest schema set kubernetes-validate ships that is not newer than ``desired`` (as it picks it)."""
    wanted = kv.major_minor(desired.removeprefix("v"))
    candidates = [v for v in kv.all_versions() if kv.major_minor(v) <= wanted]
    if not candidates:
        raise ValueError(f"kubernetes-validate has no schemas for Kubernetes {desired}")
    return str(candidates[-1])


@functools.cache
def _validator(version: str, api_version: str, kind: str) -> jsonschema.Draft202012Validator | None:
    schema_dir = f"v{_schema_version(version)}-local-strict"
    group_version = re.sub(r"^([^./]*)(?:\.[^/]*)?/", r"\1-", api_version)
    try:
        schema = kv.schema_contents(f"kubernetes-json-schema/{schema_dir}/{kind.lower()}-{group_version}.json", version)
    except FileNotFoundError:
        return None
    definitions = kv.schema_contents(f"kubernetes-json-schema/{schema_dir}/_definitions.json", version)
    registry: Registry[Any] = Resource.from_contents(definitions) @ (Resource.from_contents(schema) @ Registry())
    return jsonschema.Draft202012Validator(schema, registry=registry)


@functools.cache
def _errors(canonical: str, version: str) -> tuple[str, ...]:
    obj = json.loads(canonical)
    validator = _validator(version, str(obj.get("apiVersion")), str(obj.get("kind")))
    if validator is None:
        return (f"no Kubernetes {version} schema for {obj.get('kind')} {obj.get('apiVersion')}",)
    errors = sorted(validator.iter_errors(obj), key=lambda e: [str(p) for p in e.absolute_path])
    return tuple(f"{'.'.join(str(p) for p in e.absolute_path) or '<root>'}: {e.message}" for e in errors)


def kubernetes_errors(obj: Mapping[str, Any], version: str = KUBERNETES_VERSION) -> list[str]:
    """Every problem with ``obj`` under Kubernetes ``version``'s schemas (memoised: phases repeat objects)."""
    return list(_errors(json.dumps(obj, sort_keys=True), version))
