"""The pure core never touches a cluster, a process or the network: only mtls_conformance/executor/ may."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parents[1] / "mtls_conformance"
FORBIDDEN = ("mtls_conformance.executor", "kubernetes", "subprocess", "socket", "requests", "urllib", "http.client")


def _pure_modules() -> list[Path]:
    return sorted(p for p in PACKAGE.rglob("*.py") if "executor" not in p.relative_to(PACKAGE).parts)


def _resolve(module: str | None, level: int, path: Path) -> str:
    """Absolute module name of an import (relative imports resolved against the file's package)."""
    if level == 0:
        return module or ""
    package = list(path.relative_to(PACKAGE.parent).with_suffix("").parts)
    base = package[: len(package) - level]
    return ".".join([*base, module] if module else base)


def forbidden_imports(path: Path, source: str | None = None) -> list[str]:
    """Forbidden imports in a module of the package (``source`` overrides the file's text, for the self-check)."""
    text = path.read_text(encoding="utf-8") if source is None else source
    tree = ast.parse(text, filename=str(path))
    found: list[str] = []
    for node in ast.walk(tree):
        names: list[str] = []
        if isinstance(node, ast.Import):
            names = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = _resolve(node.module, node.level, path)
            names = [base] + [f"{base}.{alias.name}" for alias in node.names]
        elif isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute | ast.Name):
            # importlib.import_module("subprocess") / __import__("socket") with a literal name
            func = node.func.attr if isinstance(node.func, ast.Attribute) else node.func.id
            if func in ("import_module", "__import__") and node.args and isinstance(node.args[0], ast.Constant):
                names = [str(node.args[0].value)]
        for name in names:
            for bad in FORBIDDEN:
                if name == bad or name.startswith(bad + "."):
                    found.append(f"line {node.lineno}: {name}")
    return found


def test_the_scan_sees_the_whole_pure_core() -> None:
    modules = {p.relative_to(PACKAGE).as_posix() for p in _pure_modules()}
    assert {"engine/expect.py", "scenario/load.py", "versions.py", "verdict.py"} <= modules
    assert not any(m.startswith("executor/") for m in modules)


@pytest.mark.parametrize("path", _pure_modules(), ids=lambda p: p.relative_to(PACKAGE).as_posix())
def test_pure_module_imports_no_cluster_process_or_network(path: Path) -> None:
    bad = forbidden_imports(path)
    assert not bad, f"{path.relative_to(PACKAGE.parent)} imports {', '.join(bad)}; move that code to mtls_conformance/executor/"


def test_the_scan_catches_each_forbidden_form() -> None:
    as_path = PACKAGE / "engine" / "example.py"  # relative imports resolve as if the code lived in engine/
    samples = {
        "import subprocess": "subprocess",
        "import socket as s": "socket",
        "from urllib.request import urlopen": "urllib",
        "import http.client": "http.client",
        "from kubernetes import client": "kubernetes",
        "import requests": "requests",
        "from mtls_conformance.executor import kube": "mtls_conformance.executor",
        "from ..executor import kube": "mtls_conformance.executor",
        "from .. import executor": "mtls_conformance.executor",
        "importlib.import_module('subprocess')": "subprocess",
    }
    for code, expected in samples.items():
        found = forbidden_imports(as_path, code + "\n")
        assert any(expected in f for f in found), f"{code!r} was not caught"
    harmless = "import requests_toolbelt_lookalike\nfrom mtls_conformance.scenario import load\nimport http\n"
    assert forbidden_imports(as_path, harmless) == []
