"""Offline validation of rendered objects: Istio resources against real CRD files (schema and CEL rules),
built-in Kubernetes objects against Kubernetes' schemas (kubernetes-validate). Pure: reads only the files given."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from mtls_conformance.validate.crd import CrdValidator
from mtls_conformance.validate.kubernetes import KUBERNETES_VERSION, kubernetes_errors
from mtls_conformance.validate.metadata import metadata_violations


def object_name(obj: Mapping[str, Any]) -> str:
    meta = obj.get("metadata") or {}
    where = f"{meta.get('namespace')}/" if meta.get("namespace") else ""
    return f"{obj.get('kind')} {where}{meta.get('name')}"


def validate_objects(objects: Iterable[Mapping[str, Any]], crds: CrdValidator,
                     kubernetes_version: str = KUBERNETES_VERSION) -> list[str]:
    """One line per problem, each prefixed with the object; objects of an istio.io group go to ``crds``."""
    problems = []
    for obj in objects:
        group = str(obj.get("apiVersion", "")).rpartition("/")[0]
        if group.endswith("istio.io"):
            errors = crds.errors(obj)
        else:
            errors = kubernetes_errors(obj, kubernetes_version) + list(metadata_violations(obj, obj.get("kind") != "Namespace"))
        problems += [f"{object_name(obj)}: {e}" for e in errors]
    return problems


__all__ = ["KUBERNETES_VERSION", "CrdValidator", "kubernetes_errors", "object_name", "validate_objects"]
