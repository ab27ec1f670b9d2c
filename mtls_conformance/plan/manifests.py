"""The YAML templates and the image list in manifests/ (the one place images and container settings live)."""

from __future__ import annotations

import copy
import functools
from pathlib import Path
from typing import Any

import yaml

MANIFESTS_DIR = Path(__file__).resolve().parents[2] / "manifests"


@functools.cache
def _load(name: str) -> dict[str, Any]:
    doc = yaml.safe_load((MANIFESTS_DIR / name).read_text(encoding="utf-8"))
    if not isinstance(doc, dict):
        raise ValueError(f"{MANIFESTS_DIR / name} is not a mapping")
    return doc


def template(name: str) -> dict[str, Any]:
    """A deep copy of manifests/<name>, safe to fill in."""
    return copy.deepcopy(_load(name))


def images() -> dict[str, str]:
    """Role -> pinned image reference (manifests/images.yaml); the executor `kind load`s these values."""
    return {str(k): str(v) for k, v in _load("images.yaml")["images"].items()}


def container(role: str) -> dict[str, Any]:
    """A container template from manifests/containers.yaml with its image resolved."""
    spec: dict[str, Any] = copy.deepcopy(_load("containers.yaml")[role])
    spec["image"] = images()[spec["image"]]
    return spec
